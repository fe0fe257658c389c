"""A pytest plugin: a real mockserver for your tests, in the style of pytest-httpserver.

Installing mockserver registers it (entry point ``pytest11``). The server
starts once per test session, in its own process on a free port; the
``mockserver`` fixture gives each test a session of its own on it (the
``X-Mockserver-Session`` header, in ``mockserver.headers``), made from the
fixtures, and lets the test ask what its client sent::

    def test_creates_an_app(mockserver):
        my_client = MyClient(mockserver.base_url, headers=mockserver.headers)
        my_client.create_app("billing")
        (sent,) = mockserver.requests(operation="createApiAuthApp")
        assert sent["body"]["app_slug"] == "billing"

Tests in parallel (``pytest -n 4`` with pytest-xdist) then share one server
without trampling each other: the controller starts it and hands its
address to the workers. A client that cannot send the header can have the
old way instead, ``mockserver_isolation = reset``: one world, reset before
each test (so not for parallel runs). ``mockserver_url`` (or
``MOCKSERVER_URL``) uses a server that is already running.

Settings come from pytest's ini options (``mockserver_spec``,
``mockserver_fixtures``, ``mockserver_seed``, ``mockserver_freeze_time``,
``mockserver_args``, ``mockserver_isolation``, ``mockserver_url``,
``mockserver_key``).
"""

import contextlib
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from mockserver.tooling.testing import RunningServer, run_server

SESSION_HEADER = "X-Mockserver-Session"
ISOLATIONS = ("session", "reset")
# The bundled fixtures' dev key: what a server started elsewhere most likely takes.
_BUNDLED_KEY = "sk_test_mock"
_NOT_A_NAME_CHARACTER = re.compile(r"[^A-Za-z0-9._-]+")

_DEV_KEY = re.compile(r"Authorization: Bearer (\S+)")
_INI_OPTIONS = {
    "mockserver_spec": ("--spec", "OpenAPI file to serve (default: the bundled openapi.yaml)"),
    "mockserver_fixtures": ("--fixtures", "fixture directory (default: the bundled fixtures)"),
    "mockserver_seed": ("--seed", "seed for repeatable ids"),
    "mockserver_freeze_time": ("--freeze-time", "RFC 3339 instant the clock stands at"),
}


class MockServer:
    """A running mockserver, seen from a test: in session ``session`` (None:
    the default one), which every call below acts on."""

    def __init__(
        self,
        base_url: str,
        key: str,
        admin_token: str | None = None,
        session: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.key = key
        self.session = session
        self._admin_token = admin_token

    def in_session(self, session: str | None) -> "MockServer":
        """The same server, seen from session ``session``."""
        return MockServer(self.base_url, self.key, self._admin_token, session)

    @property
    def headers(self) -> dict[str, str]:
        """The headers a client of the Wacht API sends: the dev key as a
        bearer, and the test's session."""
        headers = {"Authorization": f"Bearer {self.key}"}
        if self.session is not None:
            headers[SESSION_HEADER] = self.session
        return headers

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
        if self.session is not None:
            request.add_header(SESSION_HEADER, self.session)
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
        """The session's time (RFC 3339), as every worker reads it."""
        return self._admin("GET", "clock")["now"]

    def advance(self, seconds: float) -> str:
        """Move the session's clock by ``seconds`` (fractional; negative moves
        it back), for every worker, frozen or not; returns the new time. Each
        session has its own clock: other tests' sessions do not move.
        Rate-limit windows follow it. reset() puts it back."""
        return self._admin("POST", "clock", {"advance_seconds": seconds})["now"]

    def set_time(self, instant: str) -> str:
        """Move the session's clock to ``instant`` (RFC 3339 with an offset)."""
        return self._admin("POST", "clock", {"now": instant})["now"]

    def reset(self) -> None:
        """State back to the fixtures and an empty journal."""
        self._admin("POST", "reset")

    def clear_requests(self) -> None:
        self._admin("DELETE", "requests")

    def snapshot(self, name: str) -> None:
        """Save the session's whole state as ``name`` (replacing one of that name)."""
        self._admin("POST", "snapshots", {"name": name})

    def restore(self, name: str) -> None:
        """Put the state saved as ``name`` back."""
        self._admin("POST", f"snapshots/{urllib.parse.quote(name, safe='')}/restore")

    def drop_session(self) -> None:
        """Drop this session (its state, journal and snapshots), if it exists."""
        if self.session is None:
            return
        try:
            self._admin("DELETE", f"sessions/{self.session}")
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise


def session_name_for(test_name: str, worker: str | None = None) -> str:
    """A new session's name for a test: readable in the journal and the
    inspector (the worker and the test's name), and never one used before."""
    unique = uuid.uuid4().hex[:10]
    prefix = f"{worker}-" if worker else ""
    readable = _NOT_A_NAME_CHARACTER.sub("-", f"{prefix}{test_name}").strip("-")
    return f"{readable[: 64 - len(unique) - 1]}-{unique}"


def pytest_addoption(parser: pytest.Parser) -> None:
    for name, (_flag, help_text) in _INI_OPTIONS.items():
        parser.addini(name, help_text, default=None)
    parser.addini(
        "mockserver_args", "more `mockserver serve` options, e.g. --delay 50", type="args"
    )
    parser.addini(
        "mockserver_isolation",
        "session (default): each test in a session of its own; reset: one world, "
        "reset before each test",
        default="session",
    )
    parser.addini(
        "mockserver_url",
        "use this running server instead of starting one (or MOCKSERVER_URL)",
        default=None,
    )
    parser.addini(
        "mockserver_key",
        f"the dev key of a server given by mockserver_url (default {_BUNDLED_KEY})",
        default=None,
    )


def _running_elsewhere(config: pytest.Config) -> MockServer | None:
    """The server to use instead of starting one: given by the user, or by
    pytest-xdist's controller, which started one for all of its workers."""
    given = getattr(config, "workerinput", {}).get("mockserver")
    if given is not None:
        return MockServer(*given)
    url = config.getini("mockserver_url") or os.environ.get("MOCKSERVER_URL")
    if not url:
        return None
    key = config.getini("mockserver_key") or os.environ.get("MOCKSERVER_KEY") or _BUNDLED_KEY
    return MockServer(url.rstrip("/"), key, os.environ.get("MOCKSERVER_ADMIN_TOKEN"))


def _isolation(config: pytest.Config) -> str:
    isolation = config.getini("mockserver_isolation") or "session"
    if isolation not in ISOLATIONS:
        raise pytest.UsageError(
            f"mockserver_isolation must be one of {', '.join(ISOLATIONS)}, not {isolation!r}"
        )
    return str(isolation)


def _started(server: RunningServer, args: list[str]) -> MockServer:
    key = next((m.group(1) for m in map(_DEV_KEY.search, server.output) if m), "")
    token = args[args.index("--admin-token") + 1] if "--admin-token" in args else None
    return MockServer(server.base_url, key, token)


class _SharedServerForWorkers:
    """Under pytest-xdist, the controller starts one server, the first time a
    worker is set up, and hands it to every worker (``workerinput``)."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config
        self._stack = contextlib.ExitStack()
        self._server: MockServer | None = None

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        if self._server is None:
            args = _serve_args(self._config)
            self._server = _started(self._stack.enter_context(run_server(args)), args)
        server = self._server
        node.workerinput["mockserver"] = (server.base_url, server.key, server._admin_token)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._stack.close()


def pytest_configure(config: pytest.Config) -> None:
    is_controller = not hasattr(config, "workerinput")
    if (
        is_controller
        and config.pluginmanager.hasplugin("xdist")
        and _running_elsewhere(config) is None
    ):
        config.pluginmanager.register(_SharedServerForWorkers(config), "mockserver-xdist")


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
    """One server for the whole test run (started here, and stopped when the
    run ends, unless it runs elsewhere), seen from its default session."""
    elsewhere = _running_elsewhere(pytestconfig)
    if elsewhere is not None:
        yield elsewhere
        return
    args = _serve_args(pytestconfig)
    with run_server(args) as server:
        yield _started(server, args)


@pytest.fixture
def mockserver(
    mockserver_session: MockServer, request: pytest.FixtureRequest
) -> Iterator[MockServer]:
    """The server as this test's own: a new session, dropped after the test
    (or, with ``mockserver_isolation = reset``, the default session reset)."""
    if _isolation(request.config) == "reset":
        mockserver_session.reset()
        yield mockserver_session
        return
    worker = getattr(request.config, "workerinput", {}).get("workerid")
    server = mockserver_session.in_session(session_name_for(request.node.name, worker))
    yield server
    server.drop_session()
