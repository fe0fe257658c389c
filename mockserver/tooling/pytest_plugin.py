"""A pytest plugin: a real mockserver for your tests, in the style of pytest-httpserver.

Installing mockserver registers it (entry point ``pytest11``). The server
starts once per test session, in its own process on a free port; the
``mockserver`` fixture resets it to the fixtures before each test and lets
the test ask what its client sent::

    def test_creates_an_app(mockserver):
        my_client = MyClient(mockserver.base_url, api_key=mockserver.key)
        my_client.create_app("billing")
        (sent,) = mockserver.requests(operation="createApiAuthApp")
        assert sent["body"]["app_slug"] == "billing"

Settings come from pytest's ini options (``mockserver_spec``,
``mockserver_fixtures``, ``mockserver_seed``, ``mockserver_freeze_time``,
``mockserver_args``).
"""

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from mockserver.tooling.testing import run_server

_DEV_KEY = re.compile(r"Authorization: Bearer (\S+)")
_INI_OPTIONS = {
    "mockserver_spec": ("--spec", "OpenAPI file to serve (default: the bundled openapi.yaml)"),
    "mockserver_fixtures": ("--fixtures", "fixture directory (default: the bundled fixtures)"),
    "mockserver_seed": ("--seed", "seed for repeatable ids"),
    "mockserver_freeze_time": ("--freeze-time", "RFC 3339 instant the clock stands at"),
}


class MockServer:
    """A running mockserver, seen from a test."""

    def __init__(self, base_url: str, key: str, admin_token: str | None = None) -> None:
        self.base_url = base_url
        self.key = key
        self._admin_token = admin_token

    @property
    def headers(self) -> dict[str, str]:
        """The headers a client of the Wacht API sends: the dev key as a bearer."""
        return {"Authorization": f"Bearer {self.key}"}

    def url(self, path: str) -> str:
        return self.base_url + path

    def _admin(self, http_method: str, endpoint: str, body: Any = None, **query: Any) -> Any:
        params = {name: value for name, value in query.items() if value is not None}
        url = self.url(f"/__admin/{endpoint}")
        if params:
            url += f"?{urllib.parse.urlencode(params)}"
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=http_method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self._admin_token:
            request.add_header("Authorization", f"Bearer {self._admin_token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def requests(
        self,
        operation: str | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """What the server received, newest first, as journal entries
        (method, path, query, headers, body, status, operation_id, errors...)."""
        return self._admin(
            "GET",
            "requests",
            operation_id=operation,
            method=method,
            path=path,
            status=status,
            limit=limit,
        )["requests"]

    def count(
        self,
        operation: str | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
    ) -> int:
        return self._admin(
            "GET",
            "requests/count",
            operation_id=operation,
            method=method,
            path=path,
            status=status,
        )["count"]

    def now(self) -> str:
        """The server's time (RFC 3339), as every worker reads it."""
        return self._admin("GET", "clock")["now"]

    def advance(self, seconds: float) -> str:
        """Move the server's clock by ``seconds`` (fractional; negative moves
        it back), for every worker, frozen or not; returns the new time.
        Rate-limit windows follow it. reset() puts it back."""
        return self._admin("POST", "clock", {"advance_seconds": seconds})["now"]

    def set_time(self, instant: str) -> str:
        """Move the server's clock to ``instant`` (RFC 3339 with an offset)."""
        return self._admin("POST", "clock", {"now": instant})["now"]

    def reset(self) -> None:
        """State back to the fixtures and an empty journal."""
        self._admin("POST", "reset")

    def clear_requests(self) -> None:
        self._admin("DELETE", "requests")


def pytest_addoption(parser: pytest.Parser) -> None:
    for name, (_flag, help_text) in _INI_OPTIONS.items():
        parser.addini(name, help_text, default=None)
    parser.addini(
        "mockserver_args", "more `mockserver serve` options, e.g. --delay 50", type="args"
    )


def _serve_args(config: pytest.Config) -> list[str]:
    # One worker: the journal and ids are then exactly what one test did.
    args = ["--workers", "1"]
    for name, (flag, _help) in _INI_OPTIONS.items():
        value = config.getini(name)
        if value:
            args += [flag, str(value)]
    return [*args, *config.getini("mockserver_args")]


@pytest.fixture(scope="session")
def mockserver_session(pytestconfig: pytest.Config) -> Iterator[MockServer]:
    """One server for the whole session, stopped when it ends."""
    args = _serve_args(pytestconfig)
    with run_server(args) as server:
        key = next((m.group(1) for m in map(_DEV_KEY.search, server.output) if m), "")
        token = args[args.index("--admin-token") + 1] if "--admin-token" in args else None
        yield MockServer(server.base_url, key, token)


@pytest.fixture
def mockserver(mockserver_session: MockServer) -> MockServer:
    """The session's server, reset to its fixtures for this test."""
    mockserver_session.reset()
    return mockserver_session
