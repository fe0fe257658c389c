"""Running a real mockserver process from tests: on a free port, always stopped.

The server is started with ``--port 0`` and the test reads the address it
printed, so two test runs never race for a port.
"""

import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

_LISTENING = re.compile(r"listening on (http://\S+)")


@dataclass
class RunningServer:
    base_url: str
    process: subprocess.Popen[str]
    # Everything the server printed so far (start-up banner, then request logs).
    output: list[str]


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
        output = _wait_for_banner(process, timeout)
        match = _LISTENING.search("\n".join(output))
        assert match is not None
        # Keep reading, or a chatty server would block once the pipe is full.
        threading.Thread(target=_drain, args=(process, output), daemon=True).start()
        yield RunningServer(match.group(1), process, output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # any worker left behind


def _drain(process: subprocess.Popen[str], output: list[str]) -> None:
    assert process.stdout is not None
    try:
        for line in process.stdout:
            output.append(line.rstrip("\n"))
    except ValueError:  # the pipe was closed while stopping
        pass


def _wait_for_banner(process: subprocess.Popen[str], timeout: float) -> list[str]:
    """Read output until the server says where it listens (or dies)."""
    assert process.stdout is not None
    lines: list[str] = []
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
            break
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if _LISTENING.search(line):
            # Also keep the line after the address: it names the dev key.
            lines.append(process.stdout.readline().rstrip("\n"))
            return lines
    process.kill()
    raise ServerDidNotStart("mockserver did not start:\n" + "\n".join(lines))
