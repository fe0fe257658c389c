"""A real Redis for the tests: Debian's redis-server (installed when missing)
on a free port in a temporary folder, with nothing written to disk, stopped
at the end (mockserver/tooling/redis_server.py, which the benchmark uses
too). Nothing is mocked: the counters' tests run against it.

``counter_backend`` runs a test once with the counters in the state's SQLite
database and once in Redis (the Settings fields to start a server with).
"""

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from debian_support import ensure_program

from mockserver.tooling.redis_server import PROGRAM, RedisError, RedisServer
from mockserver.tooling.redis_server import running_redis as tooling_redis
from mockserver.tooling.testing import free_port

__all__ = ["RedisServer", "free_port", "running_redis"]


@contextlib.contextmanager
def running_redis() -> Iterator[RedisServer]:
    """A new Redis (mockserver/tooling/redis_server.py), the package
    installed first when missing."""
    ensure_program(PROGRAM, "redis-server")
    try:
        with tooling_redis() as server:
            yield server
    except RedisError as error:
        pytest.fail(str(error), pytrace=False)


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
