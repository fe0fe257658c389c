"""`mockserver serve --state PATH`: what a user made survives a restart."""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from local_servers import run_to_exit
from test_cli import call

from mockserver.tooling.testing import run_server

APP = {"app_slug": "kept-app", "name": "Kept app", "key_prefix": "sk_live"}
SCHEME = {
    "slug": "kept-scheme",
    "name": "Kept scheme",
    "rules": [{"unit": "minute", "duration": 1, "max_requests": 5}],
}
DEMO_APP = "billing-sync"


def get(base_url: str, path: str) -> tuple[int, Any]:
    status, raw = call(base_url, path, method="GET")
    return status, json.loads(raw) if raw else None


def post(base_url: str, path: str, body: Any) -> Any:
    status, raw = call(base_url, path, body)
    assert status == 200, raw
    return json.loads(raw)


def all_apps(base_url: str) -> list[dict[str, Any]]:
    status, page = get(base_url, "/api-auth/apps?limit=1000&include_inactive=true")
    assert status == 200
    assert page["has_more"] is False
    return page["data"]


def test_apps_schemes_edits_and_deletions_survive_a_restart(state_location: Path | str) -> None:
    # On each engine: an SQLite file, a PostgreSQL database.
    state = ["--state", str(state_location)]
    with run_server(state) as server:
        url = server.base_url
        fresh = all_apps(url)
        assert DEMO_APP in [app["app_slug"] for app in fresh]
        scheme = post(url, "/api-auth/rate-limit-schemes", SCHEME)
        created = post(url, "/api-auth/apps", {**APP, "rate_limit_scheme_slug": "kept-scheme"})
        status, raw = call(url, "/api-auth/apps/kept-app", {"name": "Renamed"}, method="PATCH")
        assert status == 200, raw
        patched = json.loads(raw)
        assert (patched["id"], patched["name"]) == (created["id"], "Renamed")
        status, raw = call(url, f"/api-auth/apps/{DEMO_APP}", method="DELETE")
        assert status == 200, raw
        before = all_apps(url)
        assert [app["app_slug"] for app in before] == ["kept-app"] + [
            app["app_slug"] for app in fresh if app["app_slug"] != DEMO_APP
        ]
        status, schemes_before = get(url, "/api-auth/rate-limit-schemes")
        assert status == 200

    with run_server(state) as server:
        url = server.base_url
        assert get(url, "/api-auth/apps/kept-app") == (200, patched)
        assert get(url, "/api-auth/rate-limit-schemes/kept-scheme") == (200, scheme)
        status, answer = get(url, f"/api-auth/apps/{DEMO_APP}")
        assert status == 404, answer
        # The fixtures were not loaded again: the deleted demo app stays gone and
        # nothing is doubled.
        assert all_apps(url) == before
        assert get(url, "/api-auth/rate-limit-schemes") == (200, schemes_before)


def test_without_state_a_restart_starts_from_the_fixtures_again() -> None:
    with run_server() as server:
        url = server.base_url
        fresh = all_apps(url)
        post(url, "/api-auth/apps", APP)
        status, raw = call(url, f"/api-auth/apps/{DEMO_APP}", method="DELETE")
        assert status == 200, raw

    with run_server() as server:
        url = server.base_url
        status, answer = get(url, "/api-auth/apps/kept-app")
        assert status == 404, answer
        assert get(url, f"/api-auth/apps/{DEMO_APP}")[0] == 200
        assert all_apps(url) == fresh


def test_a_state_file_that_is_not_a_database_stops_start_up(tmp_path: Path) -> None:
    state = tmp_path / "notes.txt"
    text = "These are my notes, not a database.\n" * 20
    state.write_text(text)
    result = run_to_exit(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--state", str(state)]
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(state) in result.stderr
    assert "listening" not in result.stdout
    # The user's file is left as it was.
    assert state.read_text() == text


def test_an_sqlite_database_of_another_program_stops_start_up(tmp_path: Path) -> None:
    # README: "A file that is not a mockserver state stops start-up with exit code 2."
    state = tmp_path / "crm.sqlite3"
    with sqlite3.connect(state) as db:
        db.execute("CREATE TABLE customers (name TEXT)")
        db.execute("INSERT INTO customers VALUES ('Ada')")
    db.close()
    original = state.read_bytes()
    # A server that did start is stopped whole when the wait times out.
    try:
        result = run_to_exit(
            [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--state", str(state)],
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"mockserver did not refuse {state.name}, another program's database")
    assert result.returncode == 2
    err = result.stderr
    assert str(state) in err
    # The other program's database is left as it was.
    assert state.read_bytes() == original


def test_sigterm_while_serving_keeps_the_state(state_location: Path | str) -> None:
    state = ["--state", str(state_location)]
    with run_server(state) as server:
        created = post(server.base_url, "/api-auth/apps", APP)
        server.process.terminate()
        assert server.process.wait(timeout=60) == 0

    with run_server(state) as server:
        assert get(server.base_url, "/api-auth/apps/kept-app") == (200, created)
