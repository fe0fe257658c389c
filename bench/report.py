"""Markdown tables of the rounds and of the summary with its targets."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

from bench.base import MIB, MOCKSERVER, PRISM
from bench.loads import Measurement


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
