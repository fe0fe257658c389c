"""Replicas: two mockserver processes on one PostgreSQL database beside one
SQLite server, under the same wrk load (issue 14).

Each round measures, for creates and for admitted gateway checks, one SQLite
server of two workers (``serve`` as it starts by default on two cores), then
two replicas of one worker each (the same number of processes) sharing a new
database of a PostgreSQL server this part starts itself
(mockserver/tooling/postgres_cluster.py; Debian's package, installed with
apt-get when missing). The load is split over the replicas: two wrk
processes at once, each with half the connections. PostgreSQL runs with
fsync on and ``synchronous_commit = off`` (a commit does not wait for its
fsync: a crash may lose the last moments, never the database), the nearest
to SQLite's ``synchronous=NORMAL`` of a kept state. The database's own CPU
time (all its processes, from /proc) is divided by the requests answered.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.base import BENCH, MOCKSERVER, BenchError
from bench.features import gateway_key
from bench.launch import start_server
from bench.loads import IdCheck, LoadOptions, LoadResult, read_ids, run_wrk
from bench.report import render_table
from bench.tools import ensure_postgres

# PostgreSQL's settings for the measurement (see the module docstring).
POSTGRES_SETTINGS = "synchronous_commit = off\n"
TARGET = 0.5  # the replicas together: at least half of the SQLite server's throughput
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Load:
    key: str
    label: str
    script: Path
    gateway: bool = False


LOADS = (
    Load("create", "create", BENCH / "create.lua"),
    Load("gateway", "gateway check, admitted key", BENCH / "gateway.lua", gateway=True),
)


@dataclass
class Pair:
    """One load, one round: the SQLite server and the replicas."""

    load: Load
    sqlite: LoadResult
    replicas: list[LoadResult]
    database_cpu_us: float
    problems: list[str] = field(default_factory=list)

    @property
    def replicas_rps(self) -> float:
        return sum(result.rps for result in self.replicas)

    @property
    def replicas_p99_ms(self) -> float:
        return max(result.p99_ms for result in self.replicas)


def _cpu_seconds(pids: list[int]) -> float:
    """User and system time of these processes and their reaped children."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        total += sum(int(value) for value in fields[11:15])
    return total / _TICKS


def _problems(load: Load, results: list[LoadResult], ids: IdCheck | None) -> list[str]:
    problems = []
    failed = sum(result.failed for result in results)
    unexpected = sum(result.unexpected() for result in results)
    if failed or unexpected:
        statuses = [result.statuses for result in results]
        problems.append(f"{failed} failed, {unexpected} not 200 (statuses {statuses})")
    if load.gateway:
        answered = sum(result.statuses.get(200, 0) for result in results)
        allowed = sum(result.decisions.get("allowed", 0) for result in results)
        if allowed != answered:
            problems.append(f"{allowed} of {answered} checks admitted")
    if ids is not None and ids.duplicates:
        problems.append(f"{ids.duplicates} duplicate app ids")
    return problems


def _measure(
    load: Load,
    round_no: int,
    args: argparse.Namespace,
    options: LoadOptions,
    workdir: Path,
    postgres: object,
) -> Pair:
    tag = f"r{round_no}-{load.key}"
    extra: list[str] = []
    # The SQLite server, alone.
    with start_server(MOCKSERVER, workdir, f"{tag}-sqlite", extra_args=("--workers", "2")) as one:
        if load.gateway:
            extra = [gateway_key(one.port, "admitted")]
        if args.warmup > 0:
            run_wrk(options, load.script, one.url, args.warmup, None, *extra)
        ids_dir = workdir / f"{tag}-sqlite-ids"
        ids_dir.mkdir()
        sqlite = run_wrk(options, load.script, one.url, args.duration, ids_dir, *extra)
    sqlite_problems = _problems(load, [sqlite], IdCheck.of(read_ids(ids_dir)))
    # The replicas, on a new database, the load split between them.
    url = postgres.new_database()  # type: ignore[attr-defined]
    half = LoadOptions(options.wrk, max(1, options.threads // 2), max(1, options.connections // 2))
    state = ("--state", url, "--workers", "1")
    with (
        start_server(MOCKSERVER, workdir, f"{tag}-replica-a", extra_args=state) as first,
        start_server(MOCKSERVER, workdir, f"{tag}-replica-b", extra_args=state) as second,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        if load.gateway:
            extra = [gateway_key(first.port, "admitted")]
        urls = [first.url, second.url]
        if args.warmup > 0:
            list(pool.map(lambda u: run_wrk(half, load.script, u, args.warmup, None, *extra), urls))
        dirs = [workdir / f"{tag}-replica-{n}-ids" for n in (0, 1)]
        for folder in dirs:
            folder.mkdir()
        database = postgres.processes()  # type: ignore[attr-defined]
        before = _cpu_seconds(database)
        replicas = list(
            pool.map(
                lambda pair: run_wrk(half, load.script, pair[0], args.duration, pair[1], *extra),
                zip(urls, dirs, strict=True),
            )
        )
        cpu = _cpu_seconds(postgres.processes()) - before  # type: ignore[attr-defined]
    ids = IdCheck.of([value for folder in dirs for value in read_ids(folder)])
    answered = sum(result.requests for result in replicas)
    pair = Pair(load, sqlite, replicas, cpu / max(1, answered) * 1e6)
    pair.problems = [f"SQLite: {p}" for p in sqlite_problems] + [
        f"replicas: {p}" for p in _problems(load, replicas, ids)
    ]
    return pair


def run_replicas(args: argparse.Namespace, options: LoadOptions) -> int:
    """The replica rounds; exit status 1 if mockserver got a request wrong."""
    from mockserver.tooling.postgres_cluster import ClusterError, running_cluster

    ensure_postgres()
    pairs: list[Pair] = []
    with tempfile.TemporaryDirectory(prefix="mockserver-replicas-") as scratch:
        try:
            cluster = running_cluster(POSTGRES_SETTINGS)
            postgres = cluster.__enter__()
        except ClusterError as error:
            raise BenchError(f"PostgreSQL would not start: {error}") from None
        try:
            for round_no in range(args.rounds):
                for load in LOADS:
                    pair = _measure(load, round_no, args, options, Path(scratch), postgres)
                    pairs.append(pair)
                    print(
                        f"round {round_no + 1}/{args.rounds} {load.key:<8} SQLite "
                        f"{pair.sqlite.rps:7,.0f} req/s, replicas {pair.replicas_rps:7,.0f} "
                        f"req/s ({pair.replicas_rps / pair.sqlite.rps:.2f}x), "
                        f"PostgreSQL {pair.database_cpu_us:.0f} us CPU a request; "
                        + ("; ".join(pair.problems) if pair.problems else "checked"),
                        flush=True,
                    )
        finally:
            cluster.__exit__(None, None, None)
    print()
    print(render_replicas(pairs, args, options))
    for pair in pairs:
        for problem in pair.problems:
            print(f"replicas {pair.load.key}: {problem}", file=sys.stderr)
    return 1 if any(pair.problems for pair in pairs) else 0


def render_replicas(pairs: list[Pair], args: argparse.Namespace, options: LoadOptions) -> str:
    rows = []
    for load in LOADS:
        mine = [pair for pair in pairs if pair.load is load]
        if not mine:
            continue
        sqlite = statistics.median(pair.sqlite.rps for pair in mine)
        replicas = statistics.median(pair.replicas_rps for pair in mine)
        ratio = replicas / sqlite if sqlite else 0.0
        cpu = statistics.median(pair.database_cpu_us for pair in mine)
        problems = sum(len(pair.problems) for pair in mine)
        rows.append(
            [
                load.label,
                f"{sqlite:,.0f}",
                f"{statistics.median(pair.sqlite.p99_ms for pair in mine):.1f}",
                f"{replicas:,.0f}",
                f"{statistics.median(pair.replicas_p99_ms for pair in mine):.1f}",
                f"{ratio:.2f}x",
                f">= {TARGET}x: {'yes' if ratio >= TARGET else 'NO'}",
                f"{cpu:.0f}",
                "all right" if not problems else f"{problems} problems",
            ]
        )
    headers = [
        "load",
        "SQLite req/s",
        "SQLite p99 ms",
        "2 replicas req/s",
        "replicas p99 ms",
        "ratio",
        "target",
        "PostgreSQL CPU us/req",
        "checked",
    ]
    return "\n".join(
        [
            f"Two replicas on PostgreSQL (1 worker each) against one SQLite server (2 workers), "
            f"medians of {args.rounds} rounds; {args.duration} s per load after {args.warmup} s "
            f"of warm-up; wrk -t{options.threads} -c{options.connections} in all, split "
            f"over the replicas.",
            render_table(headers, rows),
        ]
    )
