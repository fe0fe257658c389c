"""Shared fixtures: an in-process app whose every response is checked against
openapi.yaml, and copies of the default fixtures that a test may edit."""

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from contract import assert_conforms
from flask import Flask

from mockserver import Settings, create_app
from mockserver.contract.resources import default_fixtures_dir

# browser_support: the browser tests' fixtures (Chromium, a tab), shared by their modules;
# postgres_support: a PostgreSQL server for the run, and state on each engine;
# redis_support: a real Redis, and the counters on either backend.
pytest_plugins = ["pytester", "browser_support", "postgres_support", "redis_support"]
_HYPOTHESIS_HOME: list[str] = []
REPO = Path(__file__).resolve().parents[1]
# What the repository held before the run; pytest's cache and the browser
# tests' screenshots (test-output/) may come and go.
_REPO_ENTRIES_BEFORE: set[str] = set()
_MAY_COME_AND_GO = {".pytest_cache", "test-output"}


def pytest_configure(config: pytest.Config) -> None:
    """Hypothesis keeps its caches (.hypothesis/) in the working directory,
    the repository; the suite leaves nothing behind, so they go to a
    temporary folder removed at the end. Runs depend on the seed only."""
    import tempfile

    from hypothesis.configuration import set_hypothesis_home_dir

    _HYPOTHESIS_HOME.append(tempfile.mkdtemp(prefix="mockserver-hypothesis-"))
    set_hypothesis_home_dir(_HYPOTHESIS_HOME[0])
    _REPO_ENTRIES_BEFORE.update(path.name for path in REPO.iterdir())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The suite leaves nothing in the repository (a replay cache, a state
    file, a screenshot folder): a run that does fails, naming what it left."""
    left = {path.name for path in REPO.iterdir()} - _REPO_ENTRIES_BEFORE - _MAY_COME_AND_GO
    if left:
        session.config.get_terminal_writer().line(
            f"the test run left {sorted(left)} in {REPO}", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    for folder in _HYPOTHESIS_HOME:
        shutil.rmtree(folder, ignore_errors=True)


DEV_KEY = "sk_test_mock"
AUTH = {"Authorization": f"Bearer {DEV_KEY}"}
_UNSET: Any = object()


class ContractClient:
    """Flask's test client, with the dev key by default and every answer checked
    against openapi.yaml before the test sees it."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._client = app.test_client()

    def request(
        self,
        method: str,
        path: str,
        *,
        auth: str | None = _UNSET,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        all_headers = dict(headers or {})
        if auth is _UNSET:
            all_headers.update(AUTH)
        elif auth is not None:
            all_headers["Authorization"] = auth
        response = self._client.open(path, method=method, headers=all_headers, **kwargs)
        body = response.get_json(silent=True) if response.data else None
        if response.data and response.mimetype == "application/json":
            assert body is not None, f"{method} {path}: body is not JSON: {response.data[:200]!r}"
        elif response.data:
            body = response.get_data(as_text=True)
        assert_conforms(method, path, response.status_code, response.headers, body)
        return response

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def create(self, headers: dict[str, str] | None = None, **fields: Any) -> Any:
        """POST /api-auth/apps with a valid body, overridden by ``fields``."""
        body = {"app_slug": "my-integration", "name": "My App", "key_prefix": "sk_live"}
        body.update(fields)
        return self.post("/api-auth/apps", json=body, headers=headers)


@pytest.fixture
def fixture_dir(tmp_path: Path) -> Path:
    """An editable copy of the bundled fixtures."""
    target = tmp_path / "fixtures"
    shutil.copytree(default_fixtures_dir(), target)
    return target


@pytest.fixture
def make_client() -> Callable[..., ContractClient]:
    def make(**settings: Any) -> ContractClient:
        return ContractClient(create_app(Settings(**settings)))

    return make


@pytest.fixture
def client(make_client: Callable[..., ContractClient]) -> ContractClient:
    return make_client()
