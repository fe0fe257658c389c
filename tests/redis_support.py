"""A real Redis for the tests: Debian's redis-server (installed when missing)
on a free port in a temporary folder, with nothing written to disk, stopped
at the end. Nothing is mocked: the counters' tests run against it.

``counter_backend`` runs a test once with the counters in the state's SQLite
database and once in Redis (the Settings fields to start a server with).
"""

import contextlib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from debian_support import ensure_program

from mockserver.tooling.testing import free_port


class RedisServer:
    """One redis-server process; :meth:`stop` and :meth:`start` again keep its port."""

    def __init__(self, folder: Path) -> None:
        self.program = ensure_program("redis-server", "redis-server")
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # No file written: nothing of one run is ever read by the next.
        options = {"port": self.port, "bind": "127.0.0.1", "dir": self.folder, "save": ""}
        argv = [self.program]
        for name, value in {**options, "appendonly": "no"}.items():
            argv += [f"--{name}", str(value)]
        self._process = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not self.answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.02)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


@contextlib.contextmanager
def running_redis() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory(prefix="mockserver-redis-") as folder:
        server = RedisServer(Path(folder))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One Redis for the run: each state counts under a namespace of its own."""
    with running_redis() as server:
        yield server


@pytest.fixture(params=["sqlite", "redis"])
def counter_backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The Settings fields that put the counters in SQLite (none) or Redis."""
    if request.param == "sqlite":
        return {}
    server: RedisServer = request.getfixturevalue("redis_server")
    return {"redis_url": server.url}
