"""Memory of a whole process tree (RSS and PSS), sampled in a background thread."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from mockserver.tooling.testing import process_tree


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
