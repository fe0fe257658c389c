"""A real PostgreSQL server for the tests: Debian's package (installed when
missing), a cluster made with ``initdb`` in a temporary folder, started with
``pg_ctl`` on a free port and stopped at the end of the run
(mockserver/tooling/postgres_cluster.py, which the benchmark uses too).
Nothing is mocked.

The fixture ``postgres`` is one server for the whole run; each test takes a
database of its own from it (:meth:`PostgresServer.new_database`).
"""

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from debian_support import ensure_packages

from mockserver.tooling.postgres_cluster import (
    ClusterError,
    PostgresServer,
    bin_dir,
    free_port,
    running_cluster,
)

__all__ = ["PostgresServer", "free_port", "running_postgres"]


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A new PostgreSQL server (mockserver/tooling/postgres_cluster.py), the
    package installed first when missing; fsync off: a test's data is thrown away."""
    ensure_packages(["postgresql"], lambda: bin_dir() is not None)
    try:
        with running_cluster("fsync = off\n") as server:
            yield server
    except ClusterError as error:
        pytest.fail(str(error), pytrace=False)


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
