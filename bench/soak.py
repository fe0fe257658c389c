"""The soak: minutes of valid and invalid requests, and whether memory stays flat."""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.base import BENCH, MIB, MOCKSERVER
from bench.launch import start_server
from bench.loads import IdCheck, LoadOptions, LoadResult, read_ids, run_wrk
from bench.memory import MemorySample, MemorySampler
from bench.report import render_table

# Statuses a soak may answer; anything else (a 500 above all) is a failure.
SOAK_EXPECTED_STATUSES = frozenset({200, 400, 401, 404, 405, 409, 415, 422})


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
