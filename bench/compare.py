"""The side-by-side comparison: rounds alternating mockserver and Prism."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench.base import MIB, MOCKSERVER, SERVERS, WORKLOADS
from bench.launch import start_server
from bench.loads import IdCheck, LoadOptions, Measurement, read_ids, run_wrk
from bench.report import render_rounds, render_summary


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
