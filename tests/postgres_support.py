"""A real PostgreSQL server for the tests: Debian's package (installed when
missing), a cluster made with ``initdb`` in a temporary folder, started with
``pg_ctl`` on a free port and stopped at the end of the run. PostgreSQL
refuses to run as root, so as root its commands run as the ``postgres`` user
the package creates, owner of the folder. Nothing is mocked.

The fixture ``postgres`` is one server for the whole run; each test takes a
database of its own from it (:meth:`PostgresServer.new_database`).
"""

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from debian_support import ensure_packages

USER = "mockserver"
PASSWORD = "mockserver-test"


def _bin_dir() -> Path | None:
    """Debian keeps the server's programs out of PATH, one folder per major version."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    return Path(found[-1]).parent if found else None


def _version(path: str) -> int:
    part = path.split("/")[4]
    return int(part) if part.isdigit() else 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.data = folder / "data"
        bin_dir = _bin_dir()
        assert bin_dir is not None
        self.bin_dir = bin_dir
        self._as_postgres = os.geteuid() == 0

    def _run(self, command: Sequence[str], timeout: float = 120) -> None:
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            pytest.fail(
                f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}",
                pytrace=False,
            )

    def init(self) -> None:
        password_file = self.folder / "password"
        password_file.write_text(PASSWORD)
        if self._as_postgres:
            postgres = pwd.getpwnam("postgres")
            for path in (self.folder, password_file):
                os.chown(path, postgres.pw_uid, postgres.pw_gid)
        self._run(
            [
                str(self.bin_dir / "initdb"),
                *("-D", str(self.data), "-U", USER, "--pwfile", str(password_file)),
                *("--auth", "scram-sha-256", "-E", "UTF8", "--no-instructions"),
            ]
        )
        # Small: many test databases, one test machine.
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("fsync = off\nshared_buffers = 32MB\nmax_connections = 200\n")

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.folder}"
        self._run(
            [
                str(self.bin_dir / "pg_ctl"),
                *("-D", str(self.data), "-l", str(self.folder / "log"), "-o", options),
                *("-w", "-t", "60", "start"),
            ]
        )

    def stop(self, mode: str = "fast") -> None:
        self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as connection:
            cursor = connection.execute(statement)
            return cursor.fetchall() if cursor.description else []

    def new_database(self) -> str:
        """The URL of a new, empty database of this server."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A new PostgreSQL server, in a temporary folder, stopped and removed after."""
    ensure_packages(["postgresql"], lambda: _bin_dir() is not None)
    folder = Path(tempfile.mkdtemp(prefix="mockserver-postgres-"))
    server = PostgresServer(folder, free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(BaseException):  # already stopped, or never started
            server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def state_location(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a test's state lives, once on each engine: a new SQLite file, or
    a new database of the run's PostgreSQL server (the same battery runs on both)."""
    if request.param == "sqlite":
        return tmp_path / "state.sqlite3"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()
