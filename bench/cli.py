"""The command line: options, the build measured, the machine's load, the dev venv."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.base import REPO, BenchError
from bench.compare import compare
from bench.extras import run_extras
from bench.history import measure_history_cost
from bench.loads import LoadOptions
from bench.replicas import run_replicas
from bench.soak import soak
from bench.startup import measure_startup
from bench.tools import ensure_prism, ensure_wrk


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# Lengths of a full run, and of --quick: enough to see that every part still
# runs and answers correctly, too short for numbers worth comparing.
FULL = {"rounds": 5, "duration": 10, "warmup": 3, "startup_runs": 5}
QUICK = {"rounds": 1, "duration": 2, "warmup": 1, "startup_runs": 1}
# What a run does, in this order; --only picks some.
PARTS = ("compare", "startup", "gateway", "sessions", "audit", "replicas")
# mockserver's own loads (bench/extras.py), run together in alternating rounds.
EXTRA_PARTS = ("gateway", "sessions", "audit")


def _parts(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [part for part in chosen if part not in PARTS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"parts are {', '.join(PARTS)}; not {text!r}")
    return chosen


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Benchmark mockserver against Prism (see bench/README.md).",
    )
    parser.add_argument("--rounds", type=_positive, default=None, help="rounds per server (5)")
    parser.add_argument(
        "--duration", type=_positive, default=None, metavar="SECONDS", help="seconds per load (10)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        metavar="SECONDS",
        help="untimed seconds before each (3)",
    )
    parser.add_argument(
        "--startup-runs",
        type=_positive,
        default=None,
        metavar="N",
        help="alternating starts of each server for the start-up breakdown (5)",
    )
    parser.add_argument(
        "--only",
        type=_parts,
        default=PARTS,
        metavar="PART[,PART]",
        help=f"run only these parts: {', '.join(PARTS)} (default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one short round (1 round, 2 s, 1 s warm-up) to check that it runs; "
        "options given explicitly still win",
    )
    parser.add_argument(
        "--connections", type=_positive, default=16, help="open connections, wrk -c (16)"
    )
    parser.add_argument("--threads", type=_positive, default=2, help="wrk threads, wrk -t (2)")
    parser.add_argument(
        "--soak",
        type=float,
        default=None,
        metavar="MINUTES",
        help="instead of comparing: soak mockserver alone for MINUTES and watch its memory",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options, with the lengths not given taken from a full or a --quick run."""
    args = build_parser().parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def describe_build() -> str:
    """Which mockserver is measured: its version and commit, and whether the
    code under test had uncommitted changes (numbers of a dirty tree are not
    the commit's)."""
    from mockserver import __version__

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
            )
        except OSError:  # no git: not a checkout we can name
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    dirty = git("status", "--porcelain", "--", "mockserver", "openapi.yaml", "fixtures")
    return f"mockserver {__version__} at {commit}" + (" + uncommitted changes" if dirty else "")


def cpu_busy(seconds: float = 1.0) -> float:
    """Fraction of all CPUs busy over the next ``seconds`` (from /proc/stat).

    Taken before starting: unlike the load average, it does not remember
    the previous minute, and it shows work elsewhere that would compete
    with the servers for the same cores.
    """

    def times() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    busy_before, total_before = times()
    time.sleep(seconds)
    busy_after, total_after = times()
    return (busy_after - busy_before) / max(1, total_after - total_before)


def run_parts(args: argparse.Namespace, options: LoadOptions, prism: Path) -> int:
    """Each part chosen with --only, in order; the worst exit status of them."""
    status = 0
    for part in PARTS:
        if part not in args.only:
            continue
        if part == "compare":
            status = max(status, compare(args, options, prism))
        elif part == "startup":
            print()
            # The machine may be shared: say how busy it is next to the numbers.
            print(f"start-up breakdown; {cpu_busy():.0%} of the CPUs busy just before", flush=True)
            with tempfile.TemporaryDirectory(prefix="mockserver-startup-") as scratch:
                status = max(status, measure_startup(args.startup_runs, prism, Path(scratch)))
                status = max(status, measure_history_cost(args.startup_runs, prism, Path(scratch)))
    extras = [part for part in EXTRA_PARTS if part in args.only]
    if extras:
        print()
        print(f"mockserver's own loads; {cpu_busy():.0%} of the CPUs busy just before", flush=True)
        status = max(status, run_extras(args, options, extras))
    if "replicas" in args.only:
        print()
        busy = cpu_busy()
        print(f"replicas on PostgreSQL and Redis; {busy:.0%} of the CPUs busy before", flush=True)
        status = max(status, run_replicas(args, options))
    return status


def interrupt(signum: int, _frame: object) -> None:
    """SIGTERM and SIGINT end the run through every ``finally``, which stops the servers."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Explicitly also for SIGINT: a shell starting us in the background sets it
    # to "ignore", and then Ctrl-C or `kill -INT` would leave servers running.
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    busy = cpu_busy()
    print(f"{describe_build()}; {os.cpu_count()} CPUs, {busy:.0%} busy before start", flush=True)
    if busy > 0.2:
        print("note: other work on this machine will show in the numbers", file=sys.stderr)
    try:
        options = LoadOptions(
            wrk=ensure_wrk(),
            threads=min(args.threads, args.connections),
            connections=args.connections,
        )
        if args.soak is not None:
            return soak(args, options)
        return run_parts(args, options, ensure_prism())
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; every server it started was stopped", file=sys.stderr)
        return 130


def run_in_dev_venv() -> None:
    """From a fresh clone, ``python3 bench/run.py`` works too: without
    mockserver importable here, this makes the dev venv the README's test
    command makes (``.venv``, mockserver installed editable) and runs again
    in it."""
    try:
        import mockserver  # noqa: F401
    except ImportError:
        pass
    else:
        return
    venv_python = REPO / ".venv" / "bin" / "python"
    if Path(sys.executable).absolute() == venv_python.absolute():
        sys.exit("bench: mockserver is not installed in .venv; run: .venv/bin/pip install -e .")
    if not venv_python.exists():
        print("bench: making the dev venv in .venv", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(REPO / ".venv")], check=True)
    found = subprocess.run([str(venv_python), "-c", "import mockserver"], capture_output=True)
    if found.returncode != 0:
        print("bench: installing mockserver into .venv", file=sys.stderr, flush=True)
        install = [str(venv_python), "-m", "pip", "install", "-q", "-e", str(REPO)]
        subprocess.run(install, check=True)
    os.execv(venv_python, [str(venv_python), *sys.argv])
