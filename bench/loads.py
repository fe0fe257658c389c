"""The wrk loads: running a script, reading its RESULT line, checking the ids it saw."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.base import BenchError

# wrk counts a request not answered within this time as a socket error (timeout).
WRK_TIMEOUT = "5s"


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
    # What the answers decided, for scripts that read it (gateway.lua: allowed, denied).
    decisions: dict[str, int] = field(default_factory=dict)

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
                    decisions=dict(raw.get("decisions", {})),
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
