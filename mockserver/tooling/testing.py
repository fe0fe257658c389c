"""Running a real mockserver process from tests: on a free port, always stopped.

The server is started with ``--port 0`` and the test reads the address it
printed, so two test runs never race for a port.
"""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

_LISTENING = re.compile(r"listening on (http://\S+)")


def free_port() -> int:
    """A loopback port free now, for a server that cannot pick its own (a
    PostgreSQL or Redis of the tests, Prism in the benchmark)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningServer:
    base_url: str
    process: subprocess.Popen[str]
    # Everything the server printed so far (start-up banner, then request logs).
    output: list[str]
    _reader: "_OutputReader | None" = None

    def wait_for_output(self, text: str, timeout: float = 30.0) -> bool:
        """Wait until a line containing ``text`` is printed; False on timeout."""
        assert self._reader is not None
        return self._reader.wait_for(lambda: any(text in line for line in self.output), timeout)


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants, found by walking /proc (Linux only).

    A whole walk, because /proc/PID/task/*/children is not on every kernel.
    A process may end while it is walked: it is then left out, and a caller
    reading the files of one it was given must expect them to be gone too.
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


class ServerDidNotStart(RuntimeError):
    pass


@contextlib.contextmanager
def run_server(
    args: Sequence[str] = (),
    command: Sequence[str] | None = None,
    cwd: Path | None = None,
    timeout: float = 30.0,
) -> Iterator[RunningServer]:
    """Start ``mockserver serve --port 0 ARGS`` and stop it when the block ends.

    ``command`` replaces ``python -m mockserver`` (e.g. an installed
    ``mockserver`` script of another environment).
    """
    argv = [*(command or [sys.executable, "-m", "mockserver"]), "serve", "--port", "0", *args]
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        # Its own process group, so that workers can be stopped with it.
        start_new_session=True,
    )
    try:
        # One thread reads every line from the start, so the banner cannot be
        # missed (select() on a buffered text pipe can miss lines already
        # buffered) and a chatty server never blocks on a full pipe.
        reader = _OutputReader(process)
        output = reader.wait_for_banner(timeout)
        match = _LISTENING.search("\n".join(output))
        assert match is not None
        yield RunningServer(match.group(1), process, output, reader)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # any worker left behind


class _OutputReader:
    """Collects the server's output lines in a thread; waits on a condition
    until the banner (and the line after it, naming the dev key) is in."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._process = process
        self._changed = threading.Condition()
        self._ended = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        try:
            for line in self._process.stdout:
                with self._changed:
                    self.lines.append(line.rstrip("\n"))
                    self._changed.notify_all()
        except ValueError:  # the pipe was closed while stopping
            pass
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def _banner_seen(self) -> bool:
        for index, line in enumerate(self.lines):
            if _LISTENING.search(line):
                return index + 1 < len(self.lines) or self._ended
        return False

    def wait_for(self, condition: Callable[[], bool], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(condition, timeout)

    def wait_for_banner(self, timeout: float) -> list[str]:
        with self._changed:
            self._changed.wait_for(lambda: self._banner_seen() or self._ended, timeout)
            if self._banner_seen():
                return self.lines
            text = "\n".join(self.lines)
        raise ServerDidNotStart("mockserver did not start:\n" + text)
