"""The ``mockserver`` command as a user runs it: real processes on free ports."""

import json
import sys
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from contract import assert_conforms
from local_servers import run_to_exit

from mockserver.backend.ids import decode
from mockserver.config import Settings
from mockserver.serving.app import create_app
from mockserver.tooling.testing import run_server

CREATE = {"app_slug": "cli-app", "name": "CLI app", "key_prefix": "sk_live"}


def call(
    base_url: str, path: str, body: Any = None, key: str = "sk_test_mock", method: str = "POST"
) -> tuple[int, bytes]:
    """One HTTP request with the standard library; the answer is checked against the spec."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base_url + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    assert_conforms(method, path, status, headers, json.loads(raw) if raw else None)
    return status, raw


def test_serve_prints_the_url_and_the_dev_key(tmp_path: Path) -> None:
    with run_server(cwd=tmp_path) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert any("Bearer sk_test_mock" in line for line in server.output)
        status, raw = call(server.base_url, "/api-auth/apps", CREATE)
        assert status == 200
        assert json.loads(raw)["app_slug"] == "cli-app"


def test_serve_stops_with_exit_code_0_on_sigterm(tmp_path: Path) -> None:
    with run_server(cwd=tmp_path) as server:
        server.process.terminate()
        assert server.process.wait(timeout=60) == 0


def test_spec_and_fixtures_options_are_used(tmp_path: Path, fixture_dir: Path) -> None:
    (fixture_dir / "deployment.yaml").write_text(
        (fixture_dir / "deployment.yaml").read_text().replace("sk_test_mock", "sk_test_other")
    )
    spec = tmp_path / "contract.yaml"
    spec.write_text((Path(__file__).parents[1] / "openapi.yaml").read_text())
    with run_server(["--spec", str(spec), "--fixtures", str(fixture_dir)]) as server:
        assert call(server.base_url, "/api-auth/apps", CREATE)[0] == 401
        assert call(server.base_url, "/api-auth/apps", CREATE, key="sk_test_other")[0] == 200


def run_session(args: list[str]) -> list[bytes]:
    """The same little session against a fresh server: three creates and a duplicate."""
    with run_server(args) as server:
        bodies = []
        for slug in ("one", "two", "three", "two"):
            bodies.append(call(server.base_url, "/api-auth/apps", {**CREATE, "app_slug": slug})[1])
        return bodies


def test_seed_and_frozen_time_give_byte_identical_runs() -> None:
    args = ["--seed", "7", "--freeze-time", "2026-03-01T12:00:00Z"]
    first, second = run_session(args), run_session(args)
    assert first == second
    ids = [int(json.loads(body)["id"]) for body in first[:3]]
    assert ids == sorted(set(ids))
    for body in first[:3]:
        app = json.loads(body)
        assert app["created_at"] == "2026-03-01T12:00:00Z"
        assert decode(app["id"]).time.isoformat() == "2026-03-01T12:00:00+00:00"


def test_a_different_seed_gives_different_ids() -> None:
    frozen = ["--freeze-time", "2026-03-01T12:00:00Z"]
    assert run_session(["--seed", "1", *frozen])[0] != run_session(["--seed", "2", *frozen])[0]


def test_python_dash_m_mockserver_serves_too() -> None:
    # run_server starts `python -m mockserver` unless told otherwise.
    with run_server() as server:
        assert call(server.base_url, "/api-auth/apps", CREATE)[0] == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--freeze-time", "yesterday"], "not an RFC 3339 timestamp"),
        (["--freeze-time", "2026-03-01T12:00:00"], "needs a UTC offset"),
        (["--freeze-time", "2024-06-01T00:00:00Z"], "before the snowflake epoch 2025-01-01"),
        (["--freeze-time", "2200-01-01T00:00:00Z"], "the last instant a snowflake id can hold"),
        (["--spec", "/nonexistent/openapi.yaml"], "cannot read the spec"),
    ],
)
def test_bad_options_exit_with_code_2_and_say_why(args: list[str], message: str) -> None:
    result = run_to_exit([sys.executable, "-m", "mockserver", "serve", "--port", "0", *args])
    assert result.returncode == 2
    assert message in result.stderr


def test_serve_marks_only_its_own_scratch_state_as_temporary(tmp_path: Path) -> None:
    from mockserver.serving.cli import _serve_settings, build_parser

    scratch = _serve_settings(build_parser().parse_args(["serve"]), tmp_path)
    assert scratch.state_path == tmp_path / "state.sqlite3"
    assert scratch.state_is_temporary
    named = _serve_settings(build_parser().parse_args(["serve", "--state", "d.sqlite3"]), tmp_path)
    assert named.state_path == Path("d.sqlite3")
    assert not named.state_is_temporary
    # Workers get their settings as JSON: the mark must survive it, and reach the store.
    assert Settings.from_json(scratch.to_json()) == scratch
    for settings, level in ((scratch, 0), (replace(named, state_path=tmp_path / "d.sqlite3"), 1)):
        context = create_app(settings).extensions["mockserver"]
        assert context.store._db.connection().execute("PRAGMA synchronous").fetchone() == (level,)
        context.store.close()
        context.journal.close()
