"""A throwaway Redis server for the tests and the benchmark: Debian's
``redis-server`` on a free loopback port, its folder a temporary one,
nothing written to disk (no snapshot, no append-only file), stopped at the
end. Installing the package is the caller's (tests/redis_support.py,
bench/tools.py), as for mockserver/tooling/postgres_cluster.py: this module
only runs what is there.
"""

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from mockserver.tooling.testing import free_port

PROGRAM = "redis-server"


class RedisError(RuntimeError):
    """redis-server is missing or did not start."""


def program() -> str | None:
    """Path of redis-server, or None when the package is not installed."""
    return shutil.which(PROGRAM)


class RedisServer:
    """One redis-server process; :meth:`stop` and :meth:`start` again keep its
    port, so a test can take Redis away and give it back under the same URL."""

    def __init__(self, folder: Path) -> None:
        found = program()
        if found is None:
            raise RedisError("redis-server is not installed: apt-get install -y redis-server")
        self.program = found
        self.folder = folder
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.url_of(0)

    def url_of(self, database: int) -> str:
        """The URL of one of its numbered databases (16 by default): a
        benchmark's round takes a new one rather than flushing the last."""
        return f"redis://127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int:
        """Its process id (one process: Redis's CPU time is read from it)."""
        if self._process is None:
            raise RedisError("redis-server is not running")
        return self._process.pid

    def start(self) -> None:
        # No file written: nothing of one run is ever read by the next.
        options = {"port": self.port, "bind": "127.0.0.1", "dir": self.folder, "save": ""}
        argv = [self.program]
        for name, value in {**options, "appendonly": "no"}.items():
            argv += [f"--{name}", str(value)]
        self._process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not self.answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RedisError(f"redis-server did not start on port {self.port}")
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
    """A new Redis server, in a temporary folder, stopped and removed after."""
    with tempfile.TemporaryDirectory(prefix="mockserver-redis-") as folder:
        server = RedisServer(Path(folder))
        server.start()
        try:
            yield server
        finally:
            server.stop()
