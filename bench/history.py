"""What the default fixtures' demo audit history costs the start-up (issue 12: at most 50 ms).

The same fixtures twice, copied to a scratch folder: as they are, and with
``audit_history: false``. Both copies are given with ``--fixtures``, so the
two starts differ in the history alone. Starts alternate, and the medians of
the first 200 are compared. Fixtures without an ``audit_history`` setting
have no history to switch off: the comparison is skipped with a note.
"""

from __future__ import annotations

import re
import shutil
import statistics
from pathlib import Path

from bench.base import MOCKSERVER, REPO
from bench.report import render_table
from bench.startup import start_once

FIXTURES = REPO / "fixtures"
HISTORY_FILE = "apps.yaml"
# The setting and the indented lines under it, up to the next top-level key.
HISTORY_SETTING = re.compile(r"^audit_history:.*\n(?:[ \t]+.*\n|[ \t]*\n)*", re.MULTILINE)
TARGET_MS = 50.0


def fixture_copies(workdir: Path) -> tuple[Path, Path] | None:
    """(history on, history off) copies of the default fixtures, or None without the setting."""
    source = FIXTURES / HISTORY_FILE
    if not source.exists() or not HISTORY_SETTING.search(source.read_text()):
        return None
    on, off = workdir / "fixtures-history-on", workdir / "fixtures-history-off"
    for copy in (on, off):
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(FIXTURES, copy)
    text = (off / HISTORY_FILE).read_text()
    (off / HISTORY_FILE).write_text(HISTORY_SETTING.sub("audit_history: false\n", text, count=1))
    return on, off


def measure_history_cost(runs: int, prism: Path, workdir: Path) -> int:
    """Print the comparison; exit status 0 (a missed target is shown, not failed)."""
    copies = fixture_copies(workdir)
    if copies is None:
        print(f"(no demo audit history to weigh: {FIXTURES / HISTORY_FILE} has no audit_history)")
        return 0
    first_200: dict[str, list[float]] = {"on": [], "off": []}
    for run_no in range(runs):
        order = (("on", copies[0]), ("off", copies[1]))
        for name, folder in order if run_no % 2 == 0 else order[::-1]:
            one = start_once(
                MOCKSERVER,
                prism,
                workdir / f"history-{run_no}-{name}.log",
                extra_args=("--fixtures", str(folder)),
            )
            first_200[name].append(one.first_200_s * 1000)
    on, off = (statistics.median(first_200[name]) for name in ("on", "off"))
    cost = on - off
    print()
    print(
        f"The demo audit history's cost to start-up, medians of {runs} alternating starts "
        "(the default fixtures copied, with and without it):"
    )
    rows = [
        ["first 200, history on", f"{on:,.0f} ms", "-", "-"],
        ["first 200, audit_history: false", f"{off:,.0f} ms", "-", "-"],
        ["what the history adds", f"{cost:+,.0f} ms", f"<= {TARGET_MS:.0f} ms",
         "yes" if cost <= TARGET_MS else "NO"],
    ]  # fmt: skip
    print(render_table(["start", "mockserver", "target", "met?"], rows))
    each = "; ".join(
        f"{name} " + " ".join(f"{ms:.0f}" for ms in values) for name, values in first_200.items()
    )
    print(f"first 200 of each start (ms): {each}")
    return 0
