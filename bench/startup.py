"""Start-up, phase by phase, for mockserver and Prism, measured from outside.

Every phase is seen from outside the server's processes (a command timed to
its exit, a port polled, a request answered), so the breakdown means the
same whatever the boot does inside: it survives a rewrite of it. Each phase
is timed from just before the process is created:

- **interpreter alone**: ``python -c pass``, ``node -e 0``: the floor;
- **the command's imports**: ``python -c 'import mockserver.serving.cli'``;
  for Prism, ``prism --version`` (Node loads the whole command to answer it);
- **port accepts**: the first TCP connection accepted (polled every 5 ms);
- **first 200**: the first 200 answer to the README's create (a new slug on
  each attempt), the total the issue's target is about;
- **every worker answered**: mockserver only, by the snowflake machine ids of
  the apps created on new connections, one per worker, until each default
  worker (one per CPU) has answered: the first 200 comes from whichever
  worker is up first.

Starts alternate (mockserver first, then Prism first, ...) and the table
shows medians. With ``MOCKSERVER_BOOT_TRACE=1`` a server may print its own
boot phases; one extra start with it set shows every line of its output that
names ``boot``, and nothing when there is none.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from bench.base import API_KEY, HOST, MIB, MOCKSERVER, PRISM, REPO, SPEC, BenchError
from bench.launch import START_TIMEOUT_S, free_port, start_logged, stop_process
from bench.memory import MemorySampler
from bench.report import render_table

POLL_S = 0.005
# Waiting for the second worker ends here: a worker that never answers shows as "-".
ALL_WORKERS_TIMEOUT_S = 15.0
BOOT_TRACE_VARIABLE = "MOCKSERVER_BOOT_TRACE"
# Start-up to the first 200 at most this fraction of Prism's (issue 10).
STARTUP_TARGET_RATIO = 0.3


@dataclass
class StartupRun:
    """One start of one server; times in seconds from just before the process existed."""

    server: str
    accept_s: float
    first_200_s: float
    all_workers_s: float | None
    workers_seen: int
    rss_at_200: int
    peak_rss: int
    pss_at_200: int
    log: str = field(repr=False, default="")


def readme_create(slug: str) -> str:
    """The README's create, with a slug of its own (a repeated slug is a 409)."""
    return json.dumps(
        {
            "app_slug": slug,
            "name": "My App",
            "key_prefix": "sk_live",
            "rate_limit_scheme_slug": "default-rate-limits",
        }
    )


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _create(port: int, slug: str) -> tuple[int, str] | None:
    """One create on a new connection: (status, id or ""), None when nothing answers."""
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        connection.request(
            "POST",
            "/api-auth/apps",
            body=readme_create(slug),
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        body = response.read()
    except OSError:
        return None
    finally:
        connection.close()
    app_id = ""
    if response.status == 200:
        with suppress(ValueError):
            app_id = str(json.loads(body).get("id", ""))
    return response.status, app_id


def _machine_id(app_id: str) -> int | None:
    """The snowflake's machine id (one per worker), when mockserver's decoder is importable."""
    try:
        from mockserver.backend.ids import decode

        return int(decode(app_id).machine_id)
    except Exception:  # a moved decoder or a foreign id: count no workers
        return None


def server_argv(server: str, port: int, prism: Path, extra_args: Sequence[str] = ()) -> list[str]:
    if server == MOCKSERVER:
        return [sys.executable, "-m", "mockserver", "serve", "--port", str(port), *extra_args]
    return [str(prism), "mock", "-p", str(port), str(SPEC)]


def start_once(
    server: str,
    prism: Path,
    log: Path,
    env: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
) -> StartupRun:
    """Start ``server`` on a free port, time its phases, stop it.

    ``extra_args`` are added to mockserver's command line.
    """
    port = free_port()
    argv = server_argv(server, port, prism, extra_args)
    started, process = start_logged(argv, log, env)
    try:
        with MemorySampler(process.pid, 0.05) as sampler:
            deadline = started + START_TIMEOUT_S

            def alive() -> None:
                if process.poll() is not None:
                    tail = log.read_text(errors="replace")[-2000:]
                    raise BenchError(f"{server}: exited with {process.returncode}:\n{tail}")
                if time.monotonic() > deadline:
                    raise BenchError(f"{server}: not ready after {START_TIMEOUT_S:.0f} s")

            while not _accepts(port):
                alive()
                time.sleep(POLL_S)
            accept_s = time.monotonic() - started
            attempt = 0
            machines: set[int] = set()
            while True:
                attempt += 1
                answer = _create(port, f"my-integration-{process.pid}-{attempt}")
                if answer is not None and answer[0] == 200:
                    break
                alive()
                time.sleep(POLL_S)
            first_200_s = time.monotonic() - started
            at_200 = sampler.sample()
            all_workers_s = None
            machine = _machine_id(answer[1]) if server == MOCKSERVER else None
            if machine is not None:
                machines.add(machine)
                expected = os.cpu_count() or 1
                stop_at = time.monotonic() + ALL_WORKERS_TIMEOUT_S
                # New connections until each worker has created an app.
                while len(machines) < expected and time.monotonic() < stop_at:
                    attempt += 1
                    again = _create(port, f"my-integration-{process.pid}-{attempt}")
                    if again is not None and again[0] == 200:
                        machine = _machine_id(again[1])
                        machines.update(() if machine is None else (machine,))
                    else:
                        alive()
                if len(machines) >= expected:
                    all_workers_s = time.monotonic() - started
            sampler.sample()
    finally:
        stop_process(process)
    return StartupRun(
        server=server,
        accept_s=accept_s,
        first_200_s=first_200_s,
        all_workers_s=all_workers_s,
        workers_seen=len(machines),
        rss_at_200=at_200.rss,
        peak_rss=sampler.peak_rss,
        pss_at_200=at_200.pss,
        log=log.read_text(errors="replace"),
    )


def time_command(argv: Sequence[str]) -> float:
    """Seconds from creating the process to its exit; a failure stops the benchmark."""
    started = time.monotonic()
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
    return elapsed


def command_probes(prism: Path) -> dict[str, dict[str, list[str]]]:
    """Per server: the interpreter alone, and the interpreter loading the command."""
    node = shutil.which("node") or "node"
    return {
        MOCKSERVER: {
            "interpreter": [sys.executable, "-c", "pass"],
            "imports": [sys.executable, "-c", "import mockserver.serving.cli"],
        },
        PRISM: {"interpreter": [node, "-e", "0"], "imports": [str(prism), "--version"]},
    }


def boot_trace_lines(log: str) -> list[str]:
    return [line.rstrip() for line in log.splitlines() if "boot" in line.lower()]


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.0f} ms"


def measure_startup(runs: int, prism: Path, workdir: Path) -> int:
    """Print the breakdown; exit status 0 (a missed target is shown, not failed)."""
    servers = (MOCKSERVER, PRISM)
    probes = command_probes(prism)
    commands: dict[tuple[str, str], list[float]] = {}
    starts: dict[str, list[StartupRun]] = {s: [] for s in servers}
    for run_no in range(runs):
        order = servers if run_no % 2 == 0 else servers[::-1]
        for server in order:
            for probe, argv in probes[server].items():
                commands.setdefault((server, probe), []).append(time_command(argv))
        for server in order:
            log = workdir / f"startup-{run_no}-{server}.log"
            one = start_once(server, prism, log)
            starts[server].append(one)
            print(
                f"start-up {run_no + 1}/{runs} {server:<10} accepts {_ms(one.accept_s):>9}  "
                f"first 200 {_ms(one.first_200_s):>9}  every worker {_ms(one.all_workers_s):>9}"
                f"  RSS {one.rss_at_200 / MIB:6.1f} MiB",
                flush=True,
            )
    traced = start_once(
        MOCKSERVER, prism, workdir / "startup-traced.log", {BOOT_TRACE_VARIABLE: "1"}
    )
    print()
    print(render_startup(runs, commands, starts))
    lines = boot_trace_lines(traced.log)
    if lines:
        print()
        print(
            f"mockserver's own boot trace ({BOOT_TRACE_VARIABLE}=1, one more start, "
            f"first 200 at {_ms(traced.first_200_s)}):"
        )
        print("\n".join(f"  {line}" for line in lines[:40]))
    else:
        print(f"(no boot trace: mockserver prints none with {BOOT_TRACE_VARIABLE}=1)")
    return 0


def render_startup(
    runs: int,
    commands: dict[tuple[str, str], list[float]],
    starts: dict[str, list[StartupRun]],
) -> str:
    def median(values: Sequence[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return statistics.median(known) if len(known) == len(values) and known else None

    def row(label: str, ms: float | None, prism: float | None, unit: str, target: str = "-",
            met: str = "-") -> list[str]:  # fmt: skip
        ratio = f"{ms / prism:.2f}x" if ms is not None and prism else "-"
        if unit == "ms":
            cells = [_ms(ms), _ms(prism)]
        else:
            cells = ["-" if v is None else f"{v / MIB:.1f} MiB" for v in (ms, prism)]
        return [label, *cells, ratio, target, met]

    def of(server: str, attribute: str) -> float | None:
        return median([getattr(r, attribute) for r in starts[server]])

    ms_total, prism_total = of(MOCKSERVER, "first_200_s"), of(PRISM, "first_200_s")
    total_met = "-"
    if ms_total is not None and prism_total:
        total_met = "yes" if ms_total <= STARTUP_TARGET_RATIO * prism_total else "NO"
    ms_rss, prism_rss = of(MOCKSERVER, "peak_rss"), of(PRISM, "peak_rss")
    rss_met = "yes" if ms_rss is not None and prism_rss and ms_rss <= prism_rss else "NO"
    workers = max(r.workers_seen for r in starts[MOCKSERVER])
    rows = [
        row("interpreter alone (exits)", median(commands[MOCKSERVER, "interpreter"]),
            median(commands[PRISM, "interpreter"]), "ms"),
        row("the command's imports (exits)", median(commands[MOCKSERVER, "imports"]),
            median(commands[PRISM, "imports"]), "ms"),
        row("port accepts a connection", of(MOCKSERVER, "accept_s"), of(PRISM, "accept_s"), "ms"),
        row("first 200 to a create", ms_total, prism_total, "ms",
            f"<= {STARTUP_TARGET_RATIO}x Prism", total_met),
        row(f"every worker answered ({workers} seen)", of(MOCKSERVER, "all_workers_s"), None,
            "ms"),
        row("RSS of all processes at first 200", of(MOCKSERVER, "rss_at_200"),
            of(PRISM, "rss_at_200"), "MiB"),
        row("peak RSS during start-up", ms_rss, prism_rss, "MiB", "<= Prism", rss_met),
        row("PSS of all processes at first 200", of(MOCKSERVER, "pss_at_200"),
            of(PRISM, "pss_at_200"), "MiB"),
    ]  # fmt: skip
    each = "; ".join(
        f"{server} " + " ".join(f"{r.first_200_s * 1000:.0f}" for r in starts[server])
        for server in starts
    )
    return "\n".join(
        [
            f"Start-up, medians of {runs} alternating starts, each phase from process start "
            "(imports: mockserver `python -c 'import mockserver.serving.cli'`, Prism "
            "`prism --version`).",
            render_table(["phase", "mockserver", "prism", "ratio", "target", "met?"], rows),
            f"first 200 of each start (ms): {each}",
        ]
    )
