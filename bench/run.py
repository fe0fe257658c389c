"""Benchmark mockserver against Prism, the mock server it replaces.

    python bench/run.py                 # 5 alternating rounds of 10 s per load
    python bench/run.py --soak 2        # 2 minutes of valid and invalid requests

Why it is built this way:

- Both servers are started fresh for every measured load, from the same
  openapi.yaml, and driven by the same wrk script with the same options, so
  that each measurement starts from the same state (the fixtures) and each
  start-up is timed.
- Rounds alternate (mockserver, Prism, mockserver, Prism...) and the table
  shows medians: a burst of background load on a small machine then skews
  one round of each server rather than every round of one.
- Each load is preceded by a short warm-up that is not timed, but whose
  answers are checked like the others. Node's JIT needs it (a cold Prism is
  about half as fast), and so does mockserver: it answers as soon as its
  first worker does, and wrk keeps the connections it opens at once for the
  whole run, so a load started at the first 200 can find one worker serving.
- Correctness is checked during the load itself, not only speed: every
  answer must be a 200, and every app id handed out by any worker process
  must be unique (the wrk scripts write them to one file per thread).
- Memory is the RSS of the whole process tree (granian runs several
  processes; Prism is one node process), sampled about every 100 ms from
  process start until it is stopped.
- Every process started here is stopped, on success, error or Ctrl-C.

Only the standard library and mockserver itself are used, so the dev venv
runs it as is; Prism is installed with npm into bench/.cache on first use.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
CACHE = BENCH / ".cache"
SPEC = REPO / "openapi.yaml"
# Pinned, so that a rerun next month measures the same Prism.
PRISM_PACKAGE = "@stoplight/prism-cli"
PRISM_VERSION = "5.14.2"
PRISM_BIN = CACHE / "node_modules" / ".bin" / "prism"

API_KEY = "sk_test_mock"
HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
# wrk counts a request not answered within this time as a socket error (timeout).
WRK_TIMEOUT = "5s"
# Statuses a soak may answer; anything else (a 500 above all) is a failure.
SOAK_EXPECTED_STATUSES = frozenset({200, 400, 401, 404, 405, 409, 415, 422})
MIB = 1024 * 1024

MOCKSERVER = "mockserver"
PRISM = "prism"
SERVERS = (MOCKSERVER, PRISM)
# Workload name -> wrk script.
WORKLOADS = {"create": BENCH / "create.lua", "mix": BENCH / "mix.lua"}


class BenchError(RuntimeError):
    """The benchmark itself cannot go on (a tool is missing, a server did not start)."""


# --- tools ---------------------------------------------------------------------------


def ensure_wrk() -> str:
    """Path of wrk; installed with apt-get when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise BenchError("wrk is missing: install it with `sudo apt-get install -y wrk`")
    print("wrk is missing: installing it with apt-get...", flush=True)
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError as error:
            raise BenchError(f"wrk is missing and apt-get cannot run: {error}") from None
        if done.returncode != 0:
            raise BenchError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    found = shutil.which("wrk")
    if not found:
        raise BenchError("apt-get installed wrk but it is not on PATH")
    return found


def _installed_prism_version() -> str | None:
    manifest = CACHE / "node_modules" / PRISM_PACKAGE / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def ensure_prism() -> Path:
    """Prism's command, installed quietly into bench/.cache (git-ignored) if needed.

    A cache of its own, rather than a global install, so that the benchmark
    always measures the pinned version and leaves nothing else behind.
    """
    if PRISM_BIN.exists() and _installed_prism_version() == PRISM_VERSION:
        return PRISM_BIN
    npm = shutil.which("npm")
    if npm is None:
        raise BenchError("npm is missing (Prism is installed with it): apt-get install -y npm")
    print(f"installing {PRISM_PACKAGE}@{PRISM_VERSION} into {CACHE}...", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    command = [
        npm,
        "install",
        "--prefix",
        str(CACHE),
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        f"{PRISM_PACKAGE}@{PRISM_VERSION}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not PRISM_BIN.exists():
        raise BenchError(f"npm install of Prism failed:\n{done.stdout}{done.stderr}")
    return PRISM_BIN


# --- memory of a process tree ------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants, found by walking /proc.

    A whole walk, because /proc/PID/task/*/children is not on every kernel.
    """
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path("/proc", entry.name, "stat").read_text()
        except OSError:  # it ended while we looked
            continue
        # The command name, in parentheses, may hold spaces: split after it.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def memory_of(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in bytes; (0, 0) once it is gone.

    RSS is what the targets compare. PSS divides each shared page among the
    processes sharing it, so the PSS of a tree is what it really costs the
    machine: worker processes share the interpreter and libraries.
    """
    values = {"Rss:": 0, "Pss:": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                name, _, rest = line.partition(" ")
                if name in values:
                    values[name] = int(rest.split()[0]) * 1024
    except OSError:
        return 0, 0
    return values["Rss:"], values["Pss:"]


@dataclass
class MemorySample:
    elapsed_s: float
    rss: int
    pss: int
    processes: int
    label: str = ""


class MemorySampler:
    """Samples the memory of a process tree in a background thread.

    ``peak_rss`` and ``peak_pss`` are the highest totals seen; ``samples``
    keeps every sample when ``keep`` is set (the soak prints them).
    """

    def __init__(self, root: int, interval_s: float, *, keep: bool = False) -> None:
        self.root = root
        self.interval_s = interval_s
        self.keep = keep
        self.label = ""
        self.peak_rss = 0
        self.peak_pss = 0
        self.samples: list[MemorySample] = []
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def sample(self) -> MemorySample:
        rss = pss = 0
        pids = process_tree(self.root)
        for pid in pids:
            one_rss, one_pss = memory_of(pid)
            rss, pss = rss + one_rss, pss + one_pss
        sample = MemorySample(time.monotonic() - self._started, rss, pss, len(pids), self.label)
        self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
        if self.keep:
            self.samples.append(sample)
        return sample

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- servers ---------------------------------------------------------------------------


def free_port() -> int:
    """A port that is free now (Prism, unlike mockserver, cannot pick one itself)."""
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def create_body(slug: str) -> str:
    return json.dumps(
        {
            "app_slug": slug,
            "name": "Start-up probe",
            "key_prefix": "sk_live",
            "rate_limit_scheme_slug": "default-rate-limits",
        }
    )


def post_create(port: int, slug: str, timeout_s: float = 5.0) -> int | None:
    """POST one valid create; its status, or None when nothing answers yet."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        connection.request(
            "POST",
            "/api-auth/apps",
            body=create_body(slug),
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


@dataclass
class RunningServer:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    # From process start to the first 200 answer to a valid create.
    startup_s: float
    sampler: MemorySampler
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def _log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def _wait_for(what: str, process: subprocess.Popen[bytes], log: Path, check: Callable[[], T]) -> T:
    """Call ``check`` every 10 ms until it returns something truthy, and return that."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        if process.poll() is not None:
            raise BenchError(f"{what}: exited with {process.returncode}:\n{_log_tail(log)}")
        time.sleep(0.01)
    raise BenchError(f"{what}: not ready after {START_TIMEOUT_S:.0f} s:\n{_log_tail(log)}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a server we started, and whatever it started.

    SIGTERM to the server first, so that it stops its own workers as it
    would in real use; then SIGKILL to anything left in its process group
    (it was started as the leader of a new session, so the group holds only
    what it started).
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    with suppress(ProcessLookupError, PermissionError):  # nothing left in the group
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


_BANNER = re.compile(rb"listening on http://[^\s:]+:(\d+)")


@contextmanager
def launch(
    name: str,
    argv: Sequence[str],
    log: Path,
    port: int | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[RunningServer]:
    """Run ``argv`` and yield the server once it answers a valid create with 200.

    ``port`` None means the server picks one and prints it in mockserver's
    banner (``listening on http://HOST:PORT``). The start-up clock starts just
    before the process is created and stops at the first 200.
    """
    with open(log, "wb") as output:
        started = time.monotonic()
        # A new session: Ctrl-C in the terminal reaches us (and wrk), not the
        # server, which we stop ourselves in order; and killpg reaches its workers.
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    try:
        with MemorySampler(process.pid, 0.1) as sampler:
            if port is None:

                def banner_port() -> int | None:
                    found = _BANNER.search(log.read_bytes())
                    return int(found.group(1)) if found else None

                port = _wait_for(name, process, log, banner_port)
            attempt = iter(range(1_000_000))
            _wait_for(
                name,
                process,
                log,
                lambda: post_create(port, f"bench-probe-{log.stem}-{next(attempt)}", 1.0) == 200,
            )
            startup_s = time.monotonic() - started
            yield RunningServer(name, process, port, startup_s, sampler, log)
    finally:
        stop_process(process)


def start_server(
    name: str, workdir: Path, tag: str, prism: Path | None = None
) -> AbstractContextManager[RunningServer]:
    """Start mockserver or Prism as a user would, from the same openapi.yaml.

    Start-up then covers, for mockserver, Python start-up, loading the spec
    and the fixtures and spawning its workers; for Prism, Node start-up and
    loading the spec.
    """
    log = workdir / f"{tag}-{name}.log"
    if name == MOCKSERVER:
        return launch(name, [sys.executable, "-m", "mockserver", "serve", "--port", "0"], log)
    assert prism is not None
    port = free_port()
    return launch(name, [str(prism), "mock", "-p", str(port), str(SPEC)], log, port)


# --- load ------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """One wrk run, from the RESULT line printed by bench/common.lua."""

    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: dict[str, int]
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def failed(self) -> int:
        """Requests that got no answer: connect, read, write errors and timeouts."""
        return sum(self.socket_errors.values())

    def unexpected(self, expected: frozenset[int] = frozenset({200})) -> int:
        return sum(n for status, n in self.statuses.items() if status not in expected)

    @classmethod
    def parse(cls, output: str) -> LoadResult:
        for line in output.splitlines():
            if line.startswith("RESULT "):
                raw = json.loads(line.removeprefix("RESULT "))
                return cls(
                    requests=raw["requests"],
                    duration_s=raw["duration_us"] / 1e6,
                    p50_ms=raw["p50_us"] / 1000,
                    p99_ms=raw["p99_us"] / 1000,
                    max_ms=raw["max_us"] / 1000,
                    socket_errors=raw["socket_errors"],
                    statuses={int(status): n for status, n in raw["statuses"].items()},
                )
        raise BenchError(f"wrk printed no RESULT line:\n{output}")


@dataclass(frozen=True)
class LoadOptions:
    wrk: str
    threads: int
    connections: int


_run_counter = iter(range(1_000_000))


def new_run_id() -> str:
    """Unique across runs of the benchmark too: slugs never repeat in a state file."""
    return f"{os.getpid():x}{time.time_ns() // 1_000_000 % 10**8:x}n{next(_run_counter)}"


def run_wrk(
    options: LoadOptions,
    script: Path,
    url: str,
    duration_s: int,
    ids_dir: Path | None,
    *extra: str,
) -> LoadResult:
    argv = [
        options.wrk,
        f"-t{options.threads}",
        f"-c{options.connections}",
        f"-d{duration_s}s",
        "--timeout",
        WRK_TIMEOUT,
        "-s",
        str(script),
        url,
        "--",
        new_run_id(),
        str(ids_dir) if ids_dir else "-",
        *extra,
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration_s + 60, check=False
    )
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return LoadResult.parse(done.stdout)


def read_ids(ids_dir: Path) -> list[str]:
    ids: list[str] = []
    for path in sorted(ids_dir.glob("ids-*.txt")):
        ids.extend(line for line in path.read_text().split() if line)
    return ids


@dataclass
class IdCheck:
    """Ids of the apps created during one server's life."""

    count: int
    duplicates: int
    # Distinct snowflake machine ids: one per worker process that created apps.
    machines: int

    @classmethod
    def of(cls, ids: Sequence[str]) -> IdCheck:
        from mockserver.backend.ids import decode

        counts = Counter(ids)
        return cls(
            count=len(ids),
            duplicates=sum(n - 1 for n in counts.values()),
            machines=len({decode(value).machine_id for value in counts}),
        )


# --- the comparison ------------------------------------------------------------------------


@dataclass
class Measurement:
    """One server, one workload, one round."""

    server: str
    workload: str
    round: int
    startup_s: float
    warmup: LoadResult | None
    load: LoadResult
    peak_rss: int
    peak_pss: int
    ids: IdCheck | None = None

    @property
    def failed(self) -> int:
        return self.load.failed + (self.warmup.failed if self.warmup else 0)

    @property
    def unexpected(self) -> int:
        return self.load.unexpected() + (self.warmup.unexpected() if self.warmup else 0)


def measure(
    server: str,
    workload: str,
    round_no: int,
    args: argparse.Namespace,
    options: LoadOptions,
    prism: Path,
    workdir: Path,
) -> Measurement:
    tag = f"r{round_no}-{workload}"
    ids_dir = None
    if server == MOCKSERVER:
        ids_dir = workdir / f"{tag}-ids"
        ids_dir.mkdir()
    script = WORKLOADS[workload]
    with start_server(server, workdir, tag, prism) as running:
        warmup = None
        if args.warmup > 0:
            warmup = run_wrk(options, script, running.url, args.warmup, ids_dir)
        load = run_wrk(options, script, running.url, args.duration, ids_dir)
        running.sampler.sample()  # one last look before it stops
        measurement = Measurement(
            server=server,
            workload=workload,
            round=round_no,
            startup_s=running.startup_s,
            warmup=warmup,
            load=load,
            peak_rss=running.sampler.peak_rss,
            peak_pss=running.sampler.peak_pss,
        )
    if ids_dir is not None:
        ids = read_ids(ids_dir)
        measurement.ids = IdCheck.of(ids)
        created = load.statuses.get(200, 0) + (warmup.statuses.get(200, 0) if warmup else 0)
        if workload == "create" and len(ids) != created:
            print(
                f"  warning: {len(ids)} ids recorded for {created} created apps",
                file=sys.stderr,
            )
    return measurement


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table with aligned columns: readable in a terminal, pasteable in a README."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


# A target: how it reads, and whether (mockserver, prism) meets it.
Target = tuple[str, Callable[[float, float], bool]]
AT_LEAST_3X: Target = (">= 3x Prism", lambda ms, prism: ms >= 3 * prism)
AT_MOST: Target = ("<= Prism", lambda ms, prism: ms <= prism)
ZERO: Target = ("0", lambda ms, _prism: ms == 0)
# A metric's value for one server (mockserver or prism).
Metric = Callable[[str], float]


def render_summary(results: list[Measurement]) -> str:
    """metric | mockserver | prism | ratio | target | met?, from medians over rounds."""

    def of(server: str, workload: str | None = None) -> list[Measurement]:
        """The measurements of ``server``: of one workload, or of all."""
        return [
            m
            for m in results
            if m.server == server and (workload is None or m.workload == workload)
        ]

    def median(workload: str | None, value: Callable[[Measurement], float]) -> Metric:
        return lambda server: statistics.median(value(m) for m in of(server, workload))

    def total(value: Callable[[Measurement], int]) -> Metric:
        return lambda server: sum(value(m) for m in of(server))

    def peak(value: Callable[[Measurement], int]) -> Metric:
        """Median over rounds of each round's highest value (of its two starts), in MiB."""

        def per_server(server: str) -> float:
            rounds = sorted({m.round for m in of(server)})
            return statistics.median(
                max(value(m) for m in of(server) if m.round == r) / MIB for r in rounds
            )

        return per_server

    # metric, value per server, format, target, whether a ratio means anything
    metrics: list[tuple[str, Metric, str, Target | None, bool]] = [
        ("create: throughput", median("create", lambda m: m.load.rps), "{:,.0f} req/s",
         AT_LEAST_3X, True),
        ("create: latency p50", median("create", lambda m: m.load.p50_ms), "{:.1f} ms", None,
         True),
        ("create: latency p99", median("create", lambda m: m.load.p99_ms), "{:.1f} ms", AT_MOST,
         True),
        ("mix: throughput", median("mix", lambda m: m.load.rps), "{:,.0f} req/s", None, True),
        ("mix: latency p50", median("mix", lambda m: m.load.p50_ms), "{:.1f} ms", None, True),
        ("mix: latency p99", median("mix", lambda m: m.load.p99_ms), "{:.1f} ms", AT_MOST, True),
        ("start-up to first 200", median(None, lambda m: m.startup_s * 1000), "{:,.0f} ms",
         AT_MOST, True),
        ("peak memory, RSS of all processes", peak(lambda m: m.peak_rss), "{:.1f} MiB", AT_MOST,
         True),
        ("peak memory, PSS of all processes", peak(lambda m: m.peak_pss), "{:.1f} MiB", None,
         True),
        ("failed requests (socket errors)", total(lambda m: m.failed), "{:,.0f}", ZERO, False),
        ("unexpected status (not 200)", total(lambda m: m.unexpected), "{:,.0f}", ZERO, False),
    ]  # fmt: skip
    rows = []
    for name, metric, fmt, target, has_ratio in metrics:
        ms, prism = metric(MOCKSERVER), metric(PRISM)
        ratio = f"{ms / prism:.2f}x" if has_ratio and prism else "-"
        met = "-" if target is None else ("yes" if target[1](ms, prism) else "NO")
        rows.append(
            [name, fmt.format(ms), fmt.format(prism), ratio, target[0] if target else "-", met]
        )
    checks = [m.ids for m in of(MOCKSERVER) if m.ids is not None]
    duplicates = sum(c.duplicates for c in checks)
    rows.append(
        [
            "duplicate app ids (per server start)",
            f"{duplicates} of {sum(c.count for c in checks):,}",
            "n/a",
            "-",
            "0",
            "yes" if duplicates == 0 else "NO",
        ]
    )
    return render_table(["metric", "mockserver", "prism", "ratio", "target", "met?"], rows)


def render_rounds(results: list[Measurement]) -> str:
    cells = []
    for m in results:
        ids = "-"
        if m.ids is not None:
            ids = f"{m.ids.count} ({m.ids.duplicates} dup, {m.ids.machines} workers)"
        cells.append(
            [
                str(m.round + 1),
                m.workload,
                m.server,
                f"{m.load.rps:,.0f}",
                f"{m.load.p50_ms:.1f}",
                f"{m.load.p99_ms:.1f}",
                f"{m.startup_s * 1000:.0f}",
                f"{m.peak_rss / MIB:.1f}",
                f"{m.failed}/{m.unexpected}",
                ids,
            ]
        )
    headers = [
        "round",
        "load",
        "server",
        "req/s",
        "p50 ms",
        "p99 ms",
        "start ms",
        "peak RSS MiB",
        "failed/unexp.",
        "ids",
    ]
    return render_table(headers, cells)


def compare(args: argparse.Namespace, options: LoadOptions, prism: Path) -> int:
    """The side-by-side benchmark; exit status 1 if mockserver answered anything wrong."""
    results: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="mockserver-bench-") as scratch:
        workdir = Path(scratch)
        for round_no in range(args.rounds):
            for workload in WORKLOADS:
                for server in SERVERS:
                    m = measure(server, workload, round_no, args, options, prism, workdir)
                    results.append(m)
                    print(
                        f"round {round_no + 1}/{args.rounds} {workload:<6} {server:<10} "
                        f"{m.load.rps:8,.0f} req/s  p50 {m.load.p50_ms:6.1f} ms  "
                        f"p99 {m.load.p99_ms:6.1f} ms  start {m.startup_s * 1000:5.0f} ms  "
                        f"peak RSS {m.peak_rss / MIB:6.1f} MiB  "
                        f"failed {m.failed}  unexpected {m.unexpected}",
                        flush=True,
                    )
    print()
    print(render_rounds(results))
    print()
    print(
        f"Medians of {args.rounds} rounds; {args.duration} s per load after {args.warmup} s of "
        f"warm-up; wrk -t{options.threads} -c{options.connections}."
    )
    print(render_summary(results))
    bad = [
        m
        for m in results
        if m.server == MOCKSERVER and (m.failed or m.unexpected or (m.ids and m.ids.duplicates))
    ]
    for m in bad:
        print(
            f"mockserver round {m.round + 1} {m.workload}: {m.failed} failed, "
            f"statuses {m.load.statuses}, ids {m.ids}",
            file=sys.stderr,
        )
    return 1 if bad else 0


# --- the soak -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SoakVerdict:
    early: int  # highest RSS in the first third of the steady phase
    late: int  # highest RSS in its last third
    tolerance: int

    @property
    def growth(self) -> int:
        return self.late - self.early

    @property
    def flat(self) -> bool:
        return self.growth <= self.tolerance


def soak_verdict(steady: Sequence[MemorySample]) -> SoakVerdict:
    """Did RSS stop growing once state stopped growing?

    Compares the highest RSS of the last third of the steady phase with that
    of its first third, within max(2 MiB, 2 %). Thirds rather than single
    samples, because RSS steps up once when a new mix of requests starts
    (allocator arenas, SQLite's page cache) and then holds; a leak, at
    hundreds of requests a second, keeps climbing from third to third.
    """
    third = max(1, len(steady) // 3)
    early = max(s.rss for s in steady[:third])
    return SoakVerdict(
        early=early,
        late=max(s.rss for s in steady[-third:]),
        tolerance=max(2 * MIB, early // 50),
    )


def soak(args: argparse.Namespace, options: LoadOptions) -> int:
    """Minutes of valid and invalid requests against mockserver alone.

    First half ("grow"): creates, reads and invalid requests, so state grows.
    Second half ("steady"): reads and invalid requests only; RSS must then
    stay flat. Before both, a short warm-up of the steady mix, so that every
    worker is up before wrk opens the connections it keeps. Exit status 1 on
    a failed or unexpected answer, a duplicate id, or memory that kept growing.
    """
    total_s = max(20, round(args.soak * 60))
    half_s = total_s // 2
    # Every few seconds, and at least 9 samples in the steady phase.
    interval_s = min(max(5.0, total_s / 24), half_s / 9)
    script = BENCH / "soak.lua"
    results: dict[str, LoadResult] = {}
    with tempfile.TemporaryDirectory(prefix="mockserver-soak-") as scratch:
        workdir = Path(scratch)
        ids_dir = workdir / "ids"
        ids_dir.mkdir()
        with start_server(MOCKSERVER, workdir, "soak") as running:
            print(
                f"soak: {total_s} s against mockserver (started in "
                f"{running.startup_s * 1000:.0f} ms), RSS every {interval_s:.0f} s",
                flush=True,
            )
            if args.warmup > 0:
                results["warm-up"] = run_wrk(
                    options, script, running.url, args.warmup, ids_dir, "steady"
                )
            with MemorySampler(running.process.pid, interval_s, keep=True) as sampler:
                for phase in ("grow", "steady"):
                    sampler.label = phase
                    results[phase] = run_wrk(options, script, running.url, half_s, ids_dir, phase)
                    print(f"  {phase}: {results[phase].rps:,.0f} req/s", flush=True)
                sampler.sample()
            peak_rss = running.sampler.peak_rss
        ids = IdCheck.of(read_ids(ids_dir))

    samples = sampler.samples
    first = samples[0].rss
    rows = [
        [
            f"{s.elapsed_s:.0f}",
            s.label,
            f"{s.rss / MIB:.1f}",
            f"{(s.rss - first) / MIB:+.1f}",
            f"{s.pss / MIB:.1f}",
            str(s.processes),
        ]
        for s in samples
    ]
    print()
    print(render_table(["s", "phase", "RSS MiB", "vs first", "PSS MiB", "processes"], rows))
    verdict = soak_verdict([s for s in samples if s.label == "steady"])
    statuses: Counter[int] = Counter()
    for result in results.values():
        statuses.update(result.statuses)
    failed = sum(r.failed for r in results.values())
    unexpected = sum(r.unexpected(SOAK_EXPECTED_STATUSES) for r in results.values())
    print()
    print(
        f"requests: {sum(statuses.values()):,}; statuses: "
        + ", ".join(f"{status}: {n:,}" for status, n in sorted(statuses.items()))
    )
    print(
        "p50/p99: "
        + "; ".join(f"{name} {r.p50_ms:.1f}/{r.p99_ms:.1f} ms" for name, r in results.items())
    )
    print(f"failed (socket errors): {failed}; unexpected statuses: {unexpected}")
    print(f"app ids: {ids.count:,}, {ids.duplicates} duplicates, from {ids.machines} workers")
    print(f"peak RSS (100 ms samples): {peak_rss / MIB:.1f} MiB")
    print(
        f"steady phase: highest RSS {verdict.early / MIB:.1f} MiB in its first third, "
        f"{verdict.late / MIB:.1f} MiB in its last: {verdict.growth / MIB:+.1f} MiB "
        f"(tolerance {verdict.tolerance / MIB:.1f} MiB): "
        + ("flat" if verdict.flat else "STILL GROWING")
    )
    return 0 if (verdict.flat and not failed and not unexpected and not ids.duplicates) else 1


# --- command line -------------------------------------------------------------------------


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Benchmark mockserver against Prism (see bench/README.md).",
    )
    parser.add_argument("--rounds", type=_positive, default=5, help="rounds per server (5)")
    parser.add_argument(
        "--duration", type=_positive, default=10, metavar="SECONDS", help="seconds per load (10)"
    )
    parser.add_argument(
        "--warmup", type=int, default=3, metavar="SECONDS", help="untimed seconds before each (3)"
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


def interrupt(signum: int, _frame: object) -> None:
    """SIGTERM and SIGINT end the run through every ``finally``, which stops the servers."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
        return compare(args, options, ensure_prism())
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


if __name__ == "__main__":
    run_in_dev_venv()
    sys.exit(main())
