"""Which WSGI server should run mockserver: granian or gunicorn?

    python bench/servers.py             # 3 alternating rounds, 10 s of creates each

Both serve the same app, ``mockserver.serving.wsgi:app_from_environment``, with two
worker processes and the same settings (given as JSON in MOCKSERVER_SETTINGS,
with a state file in a temporary directory, as ``mockserver serve`` does), and
both get the create load of bench/create.lua. gunicorn is not a dependency of
mockserver: install it into the venv first (``pip install gunicorn``).

This reuses the bench package for starting, measuring and stopping servers; the
numbers are recorded in bench/README.md ("Choosing the server").
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import statistics
import sys
import tempfile
from pathlib import Path

if not __package__:
    # Run as a file: the package `bench` is found from the top of the repository.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.base import BENCH, HOST, MIB, BenchError
from bench.cli import cpu_busy, describe_build, interrupt
from bench.launch import free_port, launch
from bench.loads import LoadOptions, Measurement, run_wrk
from bench.report import render_table
from bench.tools import ensure_wrk

WORKERS = 2


def command(server: str, port: int) -> list[str]:
    if server == "granian":
        return [
            *(sys.executable, "-m", "granian"),
            *("--interface", "wsgi", "--workers", str(WORKERS), "--blocking-threads", "1"),
            *("--host", HOST, "--port", str(port)),
            *("--factory", "mockserver.serving.wsgi:app_from_environment"),
        ]
    return [
        *(sys.executable, "-m", "gunicorn", "-w", str(WORKERS)),
        *("-b", f"{HOST}:{port}", "mockserver.serving.wsgi:app_from_environment()"),
    ]


def settings_json(state_dir: Path) -> str:
    from mockserver.config import SETTINGS_VARIABLE, Settings

    assert SETTINGS_VARIABLE == "MOCKSERVER_SETTINGS"
    return Settings(state_path=state_dir / "state.sqlite3").to_json()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, metavar="SECONDS")
    parser.add_argument("--warmup", type=int, default=3, metavar="SECONDS")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if importlib.util.find_spec("gunicorn") is None:
        print("gunicorn is missing: pip install gunicorn (into this venv)", file=sys.stderr)
        return 2
    servers = ("granian", "gunicorn")
    signal.signal(signal.SIGTERM, interrupt)  # stop the servers on the way out
    signal.signal(signal.SIGINT, interrupt)
    print(f"{describe_build()}; {cpu_busy():.0%} CPU busy before start", flush=True)
    try:
        options = LoadOptions(ensure_wrk(), args.threads, args.connections)
        results: dict[str, list[Measurement]] = {server: [] for server in servers}
        for round_no in range(args.rounds):
            for server in servers:
                with tempfile.TemporaryDirectory(prefix=f"bench-{server}-") as scratch:
                    workdir = Path(scratch)
                    port = free_port()
                    env = {"MOCKSERVER_SETTINGS": settings_json(workdir)}
                    log = workdir / f"r{round_no}-{server}.log"
                    script = BENCH / "create.lua"
                    with launch(server, command(server, port), log, port, env) as running:
                        warmup = run_wrk(options, script, running.url, args.warmup, None)
                        load = run_wrk(options, script, running.url, args.duration, None)
                        m = Measurement(
                            server,
                            "create",
                            round_no,
                            running.startup_s,
                            warmup,
                            load,
                            running.sampler.peak_rss,
                            running.sampler.peak_pss,
                        )
                results[server].append(m)
                print(
                    f"round {round_no + 1} {server:<8} {load.rps:7,.0f} req/s  "
                    f"p50 {load.p50_ms:5.1f} ms  p99 {load.p99_ms:6.1f} ms  "
                    f"failed {m.failed}  unexpected {m.unexpected}",
                    flush=True,
                )
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; every server it started was stopped", file=sys.stderr)
        return 130

    def median(server: str, value: str) -> float:
        return statistics.median(getattr(m.load, value) for m in results[server])

    rows = []
    for label, value, digits in (
        ("create: throughput (req/s)", "rps", 0),
        ("create: latency p50 (ms)", "p50_ms", 1),
        ("create: latency p99 (ms)", "p99_ms", 1),
    ):
        granian, gunicorn = median("granian", value), median("gunicorn", value)
        rows.append([label, f"{granian:,.{digits}f}", f"{gunicorn:,.{digits}f}"])
    for label, attribute in (("start-up to first 200 (ms)", "startup_s"),):
        cells = [
            statistics.median(getattr(m, attribute) for m in results[s]) * 1000 for s in servers
        ]
        rows.append([label, *(f"{c:,.0f}" for c in cells)])
    peaks = [statistics.median(m.peak_rss for m in results[s]) / MIB for s in servers]
    rows.append(["peak RSS, all processes (MiB)", *(f"{p:.1f}" for p in peaks)])
    errors = [sum(m.failed + m.unexpected for m in results[s]) for s in servers]
    rows.append(["failed or not 200, all runs", *(str(e) for e in errors)])
    print()
    print(
        f"Medians of {args.rounds} rounds, {args.duration} s each after {args.warmup} s warm-up; "
        f"wrk -t{options.threads} -c{options.connections}; {WORKERS} workers each."
    )
    print(render_table(["metric", *servers], rows))
    return 1 if any(errors) else 0


if __name__ == "__main__":
    sys.exit(main())
