"""Memory of a whole process tree (RSS and PSS), sampled in a background thread."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path


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
