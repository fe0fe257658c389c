"""Replicas: two mockserver processes on one PostgreSQL database, their
gateway counters in one Redis (``--redis``), beside one SQLite server, under
the same wrk load (issue 14).

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

Two variants of the replicas are measured each round, one after the other
beside the same SQLite measurement: on PostgreSQL alone (counters in the
state's database), and on PostgreSQL with the counters in a Redis this part
starts too (mockserver/tooling/redis_server.py, as the tests do; Debian's
``redis-server``, nothing written to disk), the issue's configuration. Each
replica measurement takes a new, flushed database number of that Redis, and
Redis's CPU time (its one process, from /proc) is divided the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench.base import BENCH, MOCKSERVER, BenchError
from bench.features import gateway_key
from bench.launch import start_server
from bench.loads import IdCheck, LoadOptions, LoadResult, read_ids, run_wrk
from bench.report import render_table
from bench.tools import ensure_postgres, ensure_redis

if TYPE_CHECKING:
    from mockserver.tooling.postgres_cluster import PostgresServer
    from mockserver.tooling.redis_server import RedisServer

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


@dataclass(frozen=True)
class Variant:
    """Where the replicas keep their gateway counters."""

    key: str
    label: str
    redis: bool


VARIANTS = (
    Variant("pg", "PostgreSQL", redis=False),
    Variant("pg+redis", "PostgreSQL + Redis", redis=True),
)


@dataclass
class Pair:
    """One load, one round, one variant: the SQLite server and the replicas."""

    load: Load
    variant: Variant
    sqlite: LoadResult
    replicas: list[LoadResult]
    database_cpu_us: float
    redis_cpu_us: float | None
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


class _RedisRounds:
    """The run's one Redis; each replica measurement takes the next of its
    numbered databases, flushed first, so no round counts on another's keys."""

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self._next = 0

    def new_database(self) -> str:
        number = self._next % 16  # redis-server's default number of databases
        self._next += 1
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as link:
            link.sendall(f"SELECT {number}\r\nFLUSHDB\r\n".encode())
            answer = b""
            while answer.count(b"\r\n") < 2:
                chunk = link.recv(64)
                if not chunk:
                    break
                answer += chunk
        if answer != b"+OK\r\n+OK\r\n":
            raise BenchError(f"Redis would not flush database {number}: {answer!r}")
        return self.server.url_of(number)


def _measure_sqlite(
    load: Load, tag: str, args: argparse.Namespace, options: LoadOptions, workdir: Path
) -> tuple[LoadResult, list[str]]:
    """The SQLite server, alone: its result and what it got wrong."""
    extra: list[str] = []
    with start_server(MOCKSERVER, workdir, f"{tag}-sqlite", extra_args=("--workers", "2")) as one:
        if load.gateway:
            extra = [gateway_key(one.port, "admitted")]
        if args.warmup > 0:
            run_wrk(options, load.script, one.url, args.warmup, None, *extra)
        ids_dir = workdir / f"{tag}-sqlite-ids"
        ids_dir.mkdir()
        sqlite = run_wrk(options, load.script, one.url, args.duration, ids_dir, *extra)
    return sqlite, _problems(load, [sqlite], IdCheck.of(read_ids(ids_dir)))


def _measure_replicas(
    load: Load,
    variant: Variant,
    tag: str,
    args: argparse.Namespace,
    options: LoadOptions,
    workdir: Path,
    postgres: PostgresServer,
    redis: _RedisRounds,
) -> tuple[list[LoadResult], float, float | None, list[str]]:
    """Two replicas on a new database (and, for the Redis variant, a new
    Redis database), the load split between them: their results, the CPU
    microseconds PostgreSQL and Redis spent a request, what they got wrong."""
    tag = f"{tag}-{variant.key}"
    extra: list[str] = []
    half = LoadOptions(options.wrk, max(1, options.threads // 2), max(1, options.connections // 2))
    state = ["--state", postgres.new_database(), "--workers", "1"]
    if variant.redis:
        state += ["--redis", redis.new_database()]
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
        # Redis is one process; PostgreSQL's backends are re-listed after the
        # load, as new ones may have been forked meanwhile.
        redis_before = _cpu_seconds([redis.server.pid])
        database_before = _cpu_seconds(postgres.processes())
        replicas = list(
            pool.map(
                lambda pair: run_wrk(half, load.script, pair[0], args.duration, pair[1], *extra),
                zip(urls, dirs, strict=True),
            )
        )
        database_cpu = _cpu_seconds(postgres.processes()) - database_before
        redis_cpu = _cpu_seconds([redis.server.pid]) - redis_before
    ids = IdCheck.of([value for folder in dirs for value in read_ids(folder)])
    answered = max(1, sum(result.requests for result in replicas))
    return (
        replicas,
        database_cpu / answered * 1e6,
        redis_cpu / answered * 1e6 if variant.redis else None,
        _problems(load, replicas, ids),
    )


def _measure(
    load: Load,
    round_no: int,
    args: argparse.Namespace,
    options: LoadOptions,
    workdir: Path,
    postgres: PostgresServer,
    redis: _RedisRounds,
) -> list[Pair]:
    """One load, one round: the SQLite server, then each variant of replicas."""
    tag = f"r{round_no}-{load.key}"
    sqlite, sqlite_problems = _measure_sqlite(load, tag, args, options, workdir)
    pairs = []
    for variant in VARIANTS:
        replicas, database_cpu, redis_cpu, problems = _measure_replicas(
            load, variant, tag, args, options, workdir, postgres, redis
        )
        pair = Pair(load, variant, sqlite, replicas, database_cpu, redis_cpu)
        pair.problems = [f"SQLite: {p}" for p in sqlite_problems] + [
            f"replicas ({variant.label}): {p}" for p in problems
        ]
        pairs.append(pair)
    return pairs


def run_replicas(args: argparse.Namespace, options: LoadOptions) -> int:
    """The replica rounds; exit status 1 if mockserver got a request wrong."""
    from mockserver.tooling.postgres_cluster import ClusterError, running_cluster
    from mockserver.tooling.redis_server import RedisError, running_redis

    ensure_postgres()
    ensure_redis()
    pairs: list[Pair] = []
    with contextlib.ExitStack() as stack:
        scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="mockserver-replicas-"))
        try:
            postgres = stack.enter_context(running_cluster(POSTGRES_SETTINGS))
        except ClusterError as error:
            raise BenchError(f"PostgreSQL would not start: {error}") from None
        try:
            redis = _RedisRounds(stack.enter_context(running_redis()))
        except RedisError as error:
            raise BenchError(f"Redis would not start: {error}") from None
        for round_no in range(args.rounds):
            for load in LOADS:
                for pair in _measure(load, round_no, args, options, Path(scratch), postgres, redis):
                    pairs.append(pair)
                    redis_cpu = (
                        f", Redis {pair.redis_cpu_us:.0f}" if pair.redis_cpu_us is not None else ""
                    )
                    print(
                        f"round {round_no + 1}/{args.rounds} {load.key:<8} SQLite "
                        f"{pair.sqlite.rps:7,.0f} req/s, replicas on {pair.variant.label:<18} "
                        f"{pair.replicas_rps:7,.0f} req/s "
                        f"({pair.replicas_rps / pair.sqlite.rps:.2f}x), "
                        f"PostgreSQL {pair.database_cpu_us:.0f}{redis_cpu} us CPU a request; "
                        + ("; ".join(pair.problems) if pair.problems else "checked"),
                        flush=True,
                    )
    print()
    print(render_replicas(pairs, args, options))
    for pair in pairs:
        for problem in pair.problems:
            print(f"replicas {pair.load.key}: {problem}", file=sys.stderr)
    return 1 if any(pair.problems for pair in pairs) else 0


def render_replicas(pairs: list[Pair], args: argparse.Namespace, options: LoadOptions) -> str:
    rows = []
    for load, variant in ((load, variant) for load in LOADS for variant in VARIANTS):
        mine = [pair for pair in pairs if pair.load is load and pair.variant is variant]
        if not mine:
            continue
        sqlite = statistics.median(pair.sqlite.rps for pair in mine)
        replicas = statistics.median(pair.replicas_rps for pair in mine)
        # The median of each round's own ratio: a round's two measurements
        # are minutes apart, so a burst of other work on a shared machine
        # skews one round's ratio rather than one side of every median.
        ratios = [pair.replicas_rps / pair.sqlite.rps for pair in mine if pair.sqlite.rps]
        ratio = statistics.median(ratios) if ratios else 0.0
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-"
        cpu = statistics.median(pair.database_cpu_us for pair in mine)
        redis_cpus = [pair.redis_cpu_us for pair in mine if pair.redis_cpu_us is not None]
        redis_cpu = f"{statistics.median(redis_cpus):.0f}" if redis_cpus else "-"
        problems = sum(len(pair.problems) for pair in mine)
        rows.append(
            [
                load.label,
                variant.label,
                f"{sqlite:,.0f}",
                f"{statistics.median(pair.sqlite.p99_ms for pair in mine):.1f}",
                f"{replicas:,.0f}",
                f"{statistics.median(pair.replicas_p99_ms for pair in mine):.1f}",
                f"{ratio:.2f}x",
                spread,
                f">= {TARGET}x: {'yes' if ratio >= TARGET else 'NO'}",
                f"{cpu:.0f}",
                redis_cpu,
                "all right" if not problems else f"{problems} problems",
            ]
        )
    headers = [
        "load",
        "replicas on",
        "SQLite req/s",
        "SQLite p99 ms",
        "2 replicas req/s",
        "replicas p99 ms",
        "ratio",
        "rounds' ratios",
        "target",
        "PostgreSQL CPU us/req",
        "Redis CPU us/req",
        "checked",
    ]
    return "\n".join(
        [
            f"Two replicas on PostgreSQL (1 worker each; counters in the state, or in Redis "
            f"with --redis) against one SQLite server (2 workers), "
            f"medians of {args.rounds} rounds; {args.duration} s per load after {args.warmup} s "
            f"of warm-up; wrk -t{options.threads} -c{options.connections} in all, split "
            f"over the replicas; ratio: the median of the rounds' own ratios.",
            render_table(headers, rows),
        ]
    )
