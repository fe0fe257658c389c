"""mockserver's own loads, beyond the comparison with Prism: the gateway, sessions, the audit.

Prism cannot serve these (the gateway is a second document, sessions and the
audit are mockserver's own), so each is compared with another mockserver load
measured in the same alternating rounds: a gateway check with a create, the
audit on with the audit off, N sessions with one. A load whose endpoints or
options the server lacks is skipped with a note, found by one probing start
before the rounds; the rest run as they are.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.base import BENCH, MOCKSERVER, BenchError
from bench.features import (
    LIMITED_MAX_REQUESTS,
    SessionCost,
    Unavailable,
    gateway_key,
    require_sessions,
    session_cost,
)
from bench.launch import RunningServer, start_server
from bench.loads import IdCheck, LoadOptions, LoadResult, read_ids, run_wrk
from bench.report import render_table

# Concurrent sessions of the sessions load (issue 13: their total throughput
# should be that of one session, within 10 %).
SESSION_COUNT = 4
AUDIT_OFF = ("--audit-size", "0")
# A server's audit starts with its demo history (1,750 rows) and is never full
# within a load at the default size (100,000): this one is full by the end
# of the warm-up (at 1,100 checks a second or more), as a long-running
# server's is, so that it shows what dropping the oldest rows costs a check.
AUDIT_FULL = ("--audit-size", "5000")


@dataclass(frozen=True)
class Load:
    key: str  # in file names and slugs
    label: str
    part: str  # the --only part it belongs to; "create" is the baseline of every part
    script: Path
    serve_args: tuple[str, ...] = ()
    # Given the running server: what to pass to the wrk script after RUN_ID IDS_DIR.
    prepare: Callable[[RunningServer], list[str]] = lambda _running: []
    ids: bool = False  # the script records the ids of the apps it created
    measure_session_cost: bool = False


def _admitted_key(running: RunningServer) -> list[str]:
    """The wrk script's argument for the loads of the admitted key: its secret."""
    return [gateway_key(running.port, "admitted")]


LOADS = (
    Load("create", "create (as in the comparison)", "create", BENCH / "create.lua", ids=True),
    Load(
        "gateway-admitted",
        "gateway check, admitted key",
        "gateway",
        BENCH / "gateway.lua",
        prepare=_admitted_key,
    ),
    Load(
        "gateway-limited",
        "gateway check, key past its limit",
        "gateway",
        BENCH / "gateway.lua",
        prepare=lambda running: [gateway_key(running.port, "limited")],
    ),
    Load(
        "gateway-audit-off",
        "gateway check, admitted key, audit off",
        "audit",
        BENCH / "gateway.lua",
        serve_args=AUDIT_OFF,
        prepare=_admitted_key,
    ),
    Load(
        "gateway-audit-full",
        "gateway check, admitted key, audit full (--audit-size 5000)",
        "audit",
        BENCH / "gateway.lua",
        serve_args=AUDIT_FULL,
        prepare=_admitted_key,
    ),
    Load(
        "sessions-1",
        "create, 1 session",
        "sessions",
        BENCH / "sessions.lua",
        prepare=lambda running: [f"bench-{running.port}", "1"],
        ids=True,
    ),
    Load(
        f"sessions-{SESSION_COUNT}",
        f"create, {SESSION_COUNT} sessions in turn",
        "sessions",
        BENCH / "sessions.lua",
        prepare=lambda running: [f"bench-{running.port}", str(SESSION_COUNT)],
        ids=True,
        measure_session_cost=True,
    ),
)


@dataclass
class ExtraRun:
    load: Load
    round: int
    startup_s: float
    warmup: LoadResult | None
    result: LoadResult
    ids: IdCheck | None = None
    cost: SessionCost | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def runs(self) -> list[LoadResult]:
        return [r for r in (self.warmup, self.result) if r is not None]

    def decided(self, decision: str) -> int:
        return sum(r.decisions.get(decision, 0) for r in self.runs)


def check(run: ExtraRun) -> list[str]:
    """What went wrong in this run, in words; empty when nothing did."""
    problems = []
    failed = sum(r.failed for r in run.runs)
    unexpected = sum(r.unexpected() for r in run.runs)
    if failed or unexpected:
        statuses = [r.statuses for r in run.runs]
        problems.append(f"{failed} failed, {unexpected} not 200 (statuses {statuses})")
    if run.ids is not None and run.ids.duplicates:
        problems.append(f"{run.ids.duplicates} duplicate app ids")
    if run.load.script.name == "gateway.lua":
        wrong = run.decided("unreadable")
        if run.load.key == "gateway-limited":
            if run.decided("allowed") != LIMITED_MAX_REQUESTS:
                problems.append(
                    f"{run.decided('allowed')} checks admitted for a limit of "
                    f"{LIMITED_MAX_REQUESTS} (counters not exact)"
                )
        else:
            wrong += run.decided("denied")
            answered = sum(r.statuses.get(200, 0) for r in run.runs)
            if run.decided("allowed") != answered:
                problems.append(f"{run.decided('allowed')} of {answered} answers admitted")
        if wrong:
            problems.append(f"{wrong} checks decided wrongly or unreadable")
    return problems


def probe(parts: Sequence[str], workdir: Path) -> dict[str, str]:
    """Which parts this server cannot run: part -> why (one start, plus one for the audit)."""
    missing: dict[str, str] = {}
    with start_server(MOCKSERVER, workdir, "probe") as running:
        if "gateway" in parts or "audit" in parts:
            try:
                gateway_key(running.port, "admitted")
            except Unavailable as why:
                missing["gateway"] = missing["audit"] = str(why)
        if "sessions" in parts:
            try:
                require_sessions(running.port)
            except Unavailable as why:
                missing["sessions"] = str(why)
    if "audit" in parts and "audit" not in missing:
        try:
            with start_server(MOCKSERVER, workdir, "probe-audit-off", extra_args=AUDIT_OFF):
                pass
        except BenchError as error:
            said = [line for line in str(error).splitlines() if "audit" in line.lower()]
            missing["audit"] = f"`mockserver serve {' '.join(AUDIT_OFF)}` does not start" + (
                f" ({said[-1].strip()})" if said else ""
            )
    return missing


def measure_extra(
    load: Load, round_no: int, args: argparse.Namespace, options: LoadOptions, workdir: Path
) -> ExtraRun:
    tag = f"r{round_no}-{load.key}"
    ids_dir = None
    if load.ids:
        ids_dir = workdir / f"{tag}-ids"
        ids_dir.mkdir()
    with start_server(MOCKSERVER, workdir, tag, extra_args=load.serve_args) as running:
        try:
            extra = load.prepare(running)
        except Unavailable as why:
            raise BenchError(f"{load.label}: {why} (it worked when probed)") from None
        url = running.url
        warmup = None
        if args.warmup > 0:
            warmup = run_wrk(options, load.script, url, args.warmup, ids_dir, *extra)
        result = run_wrk(options, load.script, url, args.duration, ids_dir, *extra)
        run = ExtraRun(load, round_no, running.startup_s, warmup, result)
        if load.measure_session_cost:
            run.cost = session_cost(running.port, f"{extra[0]}-0", tag)
    if ids_dir is not None:
        run.ids = IdCheck.of(read_ids(ids_dir))
    run.problems = check(run)
    return run


def run_extras(args: argparse.Namespace, options: LoadOptions, parts: Sequence[str]) -> int:
    """The rounds of the chosen parts' loads; exit status 1 if mockserver got one wrong."""
    with tempfile.TemporaryDirectory(prefix="mockserver-extras-") as scratch:
        workdir = Path(scratch)
        missing = probe(parts, workdir)
        for part, why in missing.items():
            if part in parts:
                print(f"skipped {part}: {why}", flush=True)
        loads = [
            load
            for load in LOADS
            if load.part == "create" or (load.part in parts and load.part not in missing)
        ]
        runs: list[ExtraRun] = []
        for round_no in range(args.rounds):
            for load in loads:
                run = measure_extra(load, round_no, args, options, workdir)
                runs.append(run)
                print(
                    f"round {round_no + 1}/{args.rounds} {load.key:<18} "
                    f"{run.result.rps:8,.0f} req/s  p50 {run.result.p50_ms:6.1f} ms  "
                    f"p99 {run.result.p99_ms:6.1f} ms  "
                    + ("; ".join(run.problems) if run.problems else "checked"),
                    flush=True,
                )
    print()
    print(render_extras(runs, args, options, missing, parts))
    for run in runs:
        for problem in run.problems:
            print(f"mockserver round {run.round + 1} {run.load.key}: {problem}", file=sys.stderr)
    return 1 if any(run.problems for run in runs) else 0


def render_extras(
    runs: list[ExtraRun],
    args: argparse.Namespace,
    options: LoadOptions,
    missing: dict[str, str],
    parts: Sequence[str],
) -> str:
    def of(key: str) -> list[ExtraRun]:
        return [r for r in runs if r.load.key == key]

    def rps(key: str) -> float | None:
        found = of(key)
        return statistics.median(r.result.rps for r in found) if found else None

    create = rps("create")
    rows = []
    for load in dict.fromkeys(r.load for r in runs):
        mine = of(load.key)
        ratio = f"{rps(load.key) / create:.2f}x" if create else "-"
        problems = sum(len(r.problems) for r in mine)
        checked = "all right" if not problems else f"{problems} problems"
        if load.key == "gateway-limited":
            admitted = sorted({r.decided("allowed") for r in mine})
            checked += f"; admitted {'/'.join(map(str, admitted))} of {LIMITED_MAX_REQUESTS}"
        rows.append(
            [
                load.label,
                f"{rps(load.key):,.0f}",
                f"{statistics.median(r.result.p50_ms for r in mine):.1f}",
                f"{statistics.median(r.result.p99_ms for r in mine):.1f}",
                ratio,
                checked,
            ]
        )
    lines = [
        f"mockserver's own loads, medians of {args.rounds} rounds; {args.duration} s per load "
        f"after {args.warmup} s of warm-up; wrk -t{options.threads} -c{options.connections}.",
        render_table(["load", "req/s", "p50 ms", "p99 ms", "vs create", "checked"], rows),
    ]
    targets = comparisons(runs, rps, create)
    if targets:
        lines += ["", render_table(["comparison", "value", "target", "met?"], targets)]
    lines += [f"skipped {part}: {why}" for part, why in missing.items() if part in parts]
    return "\n".join(lines)


def comparisons(
    runs: list[ExtraRun], rps: Callable[[str], float | None], create: float | None
) -> list[list[str]]:
    """The targets of issues 11, 12 and 13, for the loads that ran."""
    rows = []

    def ratio(label: str, top: float | None, bottom: float | None, target: str,
              met: Callable[[float], bool]) -> None:  # fmt: skip
        if top is not None and bottom:
            value = top / bottom
            rows.append([label, f"{value:.2f}x", target, "yes" if met(value) else "NO"])

    ratio(
        "gateway check (admitted) / create",
        rps("gateway-admitted"),
        create,
        ">= 1x",
        lambda v: v >= 1,
    )
    ratio(
        "gateway check (past its limit) / create",
        rps("gateway-limited"),
        create,
        ">= 1x",
        lambda v: v >= 1,
    )
    ratio(
        "gateway check, audit on / audit off",
        rps("gateway-admitted"),
        rps("gateway-audit-off"),
        ">= 0.8x",
        lambda v: v >= 0.8,
    )
    ratio(f"{SESSION_COUNT} sessions / 1 session", rps(f"sessions-{SESSION_COUNT}"),
          rps("sessions-1"), "0.9x to 1.1x", lambda v: 0.9 <= v <= 1.1)  # fmt: skip
    costs = [r.cost for r in runs if r.cost is not None]
    if costs:
        new = statistics.median(c.new_ms for c in costs)
        existing = statistics.median(c.existing_ms for c in costs)
        cost = statistics.median(c.cost_ms for c in costs)
        rows.append(
            [
                f"creating a session (first request {new:.1f} ms, later {existing:.1f} ms)",
                f"{cost:.1f} ms",
                "< 5 ms",
                "yes" if cost < 5 else "NO",
            ]
        )
    return rows
