"""A throwaway PostgreSQL server for the tests and the benchmark: Debian's
programs (``/usr/lib/postgresql/N/bin``), a cluster made with ``initdb`` in a
temporary folder, started with ``pg_ctl`` on a free loopback port, stopped
and removed after. PostgreSQL refuses to run as root, so as root its
commands run as the ``postgres`` user the Debian package creates, owner of
the folder. Installing the package is the caller's (tests/debian_support.py,
bench/tools.py): this module only runs what is there.
"""

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from mockserver.tooling.testing import free_port

USER = "mockserver"
PASSWORD = "mockserver-test"


class ClusterError(RuntimeError):
    """initdb or pg_ctl failed; the message has their output."""


def bin_dir() -> Path | None:
    """Debian keeps the server's programs out of PATH, one folder per major version."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    return Path(found[-1]).parent if found else None


def _version(path: str) -> int:
    part = path.split("/")[4]
    return int(part) if part.isdigit() else 0


class PostgresServer:
    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.data = folder / "data"
        found = bin_dir()
        if found is None:
            raise ClusterError("PostgreSQL is not installed: apt-get install -y postgresql")
        self.bin_dir = found
        self._as_postgres = os.geteuid() == 0

    def _run(self, command: Sequence[str], timeout: float = 120) -> None:
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise ClusterError(
                f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )

    def init(self, settings: str = "") -> None:
        """Make the cluster; ``settings`` are added to its postgresql.conf."""
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
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"shared_buffers = 32MB\nmax_connections = 200\n{settings}")

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
        name = f"db_{uuid.uuid4().hex[:12]}"
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)

    def processes(self) -> list[int]:
        """The server's processes: the postmaster and its children."""
        from mockserver.tooling.testing import process_tree

        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        return process_tree(postmaster)


@contextlib.contextmanager
def running_cluster(settings: str = "") -> Iterator[PostgresServer]:
    """A new PostgreSQL server, in a temporary folder, stopped and removed after."""
    folder = Path(tempfile.mkdtemp(prefix="mockserver-postgres-"))
    server = PostgresServer(folder, free_port())
    try:
        server.init(settings)
        server.start()
        yield server
    finally:
        with contextlib.suppress(ClusterError, OSError):  # already stopped, or never started
            server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)
