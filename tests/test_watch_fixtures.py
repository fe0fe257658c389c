"""--watch puts an edited scheme or demo app into the state at once, unless
the API changed it since: the API's change wins, and the log says which."""

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from contract import assert_conforms
from werkzeug.test import Client

from mockserver import Settings, create_app
from mockserver.contract.resources import default_spec_path
from mockserver.serving.reload import ReloadingApp

SCHEME = "/api-auth/rate-limit-schemes/default-rate-limits"
APP = "/api-auth/apps/billing-sync"


@pytest.fixture
def watched(tmp_path: Path, fixture_dir: Path) -> Iterator[tuple[ReloadingApp, Path]]:
    spec = tmp_path / "openapi.yaml"
    shutil.copy(default_spec_path(), spec)
    # A state file, as `serve` always has: each reload opens it again.
    settings = Settings(
        spec_path=spec,
        fixtures_dir=fixture_dir,
        state_path=tmp_path / "state.sqlite3",
        log_format="off",
    )
    reloading = ReloadingApp(settings, create_app)
    assert reloading.wait_until_watching()
    yield reloading, fixture_dir
    reloading.close()


def call(
    reloading: ReloadingApp, method: str, path: str, body: Any = None, session: str | None = None
) -> tuple[int, Any]:
    """A request through the reloader, checked against the contract."""
    headers = {"Authorization": "Bearer sk_test_mock"}
    if session is not None:
        headers["X-Mockserver-Session"] = session
    response = Client(reloading).open(path, method=method, json=body, headers=headers)
    parsed = response.get_json(silent=True)
    assert_conforms(method, path, response.status_code, response.headers, parsed)
    return response.status_code, parsed


def edit(fixtures: Path, file_name: str, old: str, new: str) -> None:
    path = fixtures / file_name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def reloaded(reloading: ReloadingApp, attempts: int) -> None:
    assert reloading.wait_for_attempts(attempts), "the edit was never seen"


def first_limit(reloading: ReloadingApp, session: str | None = None) -> int:
    status, scheme = call(reloading, "GET", SCHEME, session=session)
    assert status == 200
    return int(scheme["rules"][0]["max_requests"])


def test_an_edited_scheme_takes_effect_at_once_in_every_session(watched, capsys) -> None:
    reloading, fixtures = watched
    assert first_limit(reloading) == 100
    assert first_limit(reloading, session="made-before") == 100
    edit(fixtures, "rate_limit_schemes.yaml", "max_requests: 100", "max_requests: 150")
    reloaded(reloading, 1)
    assert first_limit(reloading) == 150
    assert first_limit(reloading, session="made-before") == 150
    assert first_limit(reloading, session="made-after") == 150
    out = capsys.readouterr().out
    assert "--watch: updated scheme 'default-rate-limits' from the fixtures" in out
    assert "--watch: session made-before: updated scheme 'default-rate-limits'" in out


def test_a_scheme_changed_through_the_api_wins_over_the_edited_file(watched, capsys) -> None:
    reloading, fixtures = watched
    rule = {"unit": "minute", "duration": 1, "max_requests": 7}
    assert call(reloading, "PATCH", SCHEME, {"rules": [rule]})[0] == 200
    edit(fixtures, "rate_limit_schemes.yaml", "max_requests: 100", "max_requests: 150")
    reloaded(reloading, 1)
    assert first_limit(reloading) == 7
    # A session that never changed it takes the file's edit.
    assert first_limit(reloading, session="untouched") == 150
    out = capsys.readouterr().out
    assert "kept scheme 'default-rate-limits' as changed through the API" in out


def test_an_edited_demo_app_and_a_new_one_take_effect_at_once(watched, capsys) -> None:
    reloading, fixtures = watched
    edit(fixtures, "apps.yaml", '"Henson PLC Billing Sync"', '"Renamed In The File"')
    reloaded(reloading, 1)
    assert call(reloading, "GET", APP)[1]["name"] == "Renamed In The File"
    added = (
        '\n  - id: "99999999999999999"\n    app_slug: added-in-the-file\n'
        '    name: "Added"\n    key_prefix: sk_live\n'
        '    created_at: "2025-12-01T00:00:00.000000Z"\n'
    )
    (fixtures / "apps.yaml").write_text((fixtures / "apps.yaml").read_text() + added)
    reloaded(reloading, 2)
    status, app = call(reloading, "GET", "/api-auth/apps/added-in-the-file")
    assert status == 200 and app["name"] == "Added"
    out = capsys.readouterr().out
    assert "updated app 'billing-sync' from the fixtures" in out
    assert "added app 'added-in-the-file' from the fixtures" in out


def test_a_demo_app_deleted_through_the_api_stays_deleted(watched, capsys) -> None:
    reloading, fixtures = watched
    assert call(reloading, "DELETE", APP)[0] == 200
    edit(fixtures, "apps.yaml", '"Henson PLC Billing Sync"', '"Renamed In The File"')
    reloaded(reloading, 1)
    assert call(reloading, "GET", APP)[0] == 404
    assert "kept app 'billing-sync' as changed through the API" in capsys.readouterr().out
