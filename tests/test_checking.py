"""`mockserver check` and `mockserver verify`, run as commands."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from flask import Flask, jsonify
from local_servers import run_to_exit, serving
from werkzeug.serving import make_server

from mockserver.tooling.testing import run_server

REPO = Path(__file__).resolve().parents[1]


def mockserver_command(
    *args: str, timeout: float = 600, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return run_to_exit([sys.executable, "-m", "mockserver", *args], timeout=timeout, cwd=cwd)


# --- check -------------------------------------------------------------------------


def test_check_accepts_the_bundled_spec_and_fixtures() -> None:
    result = mockserver_command("check")
    assert result.returncode == 0, result.stderr
    assert "fine" in result.stdout


def test_check_lists_every_problem_of_a_broken_spec(tmp_path: Path) -> None:
    document = yaml.safe_load((REPO / "openapi.yaml").read_text())
    operation = document["paths"]["/api-auth/apps"]["post"]
    del operation["responses"]["200"]["description"]  # required by OpenAPI
    document["paths"]["/api-auth/apps"]["put"] = {
        "operationId": "replaceApiAuthApp",
        "responses": {"200": {"description": "ok"}},
    }
    spec = tmp_path / "openapi.yaml"
    spec.write_text(yaml.safe_dump(document))
    result = mockserver_command("check", "--spec", str(spec))
    assert result.returncode == 2
    assert "2 problem(s)" in result.stderr
    assert (
        "#/paths/~1api-auth~1apps/post/responses/200: "
        '"description" is a required property' in result.stderr
    )
    assert "no handler for operationId 'replaceApiAuthApp'" in result.stderr


def test_check_lists_every_problem_of_broken_fixtures(fixture_dir: Path) -> None:
    (fixture_dir / "directory.yaml").write_text("users: [{id: 1001, organizations: ['9']}]\n")
    schemes = yaml.safe_load((fixture_dir / "rate_limit_schemes.yaml").read_text())
    schemes["rate_limit_schemes"][0]["rules"][0]["duration"] = 5000
    (fixture_dir / "rate_limit_schemes.yaml").write_text(yaml.safe_dump(schemes))
    result = mockserver_command("check", "--fixtures", str(fixture_dir))
    assert result.returncode == 2
    assert "unknown organization '9'" in result.stderr
    assert "duration 5000 exceeds the cap of 1440 for unit 'minute'" in result.stderr


def test_check_refuses_a_file_that_is_not_openapi(tmp_path: Path) -> None:
    spec = tmp_path / "notes.yaml"
    spec.write_text("just: some notes\n")
    result = mockserver_command("check", "--spec", str(spec))
    assert result.returncode == 2
    assert "not an OpenAPI document" in result.stderr


# --- verify ------------------------------------------------------------------------


@pytest.fixture
def broken_server() -> Iterator[str]:
    """A server that claims the contract but breaks it: wrong status, missing
    fields, and no authentication at all."""
    app = Flask("broken")

    @app.post("/api-auth/apps")
    def create() -> tuple[object, int]:
        return jsonify({"id": 42, "app_slug": "whatever"}), 201

    with serving(make_server("127.0.0.1", 0, app, threaded=True)) as base_url:
        yield base_url


def junit_failures(path: Path) -> int:
    text = path.read_text()
    assert "<testsuite" in text
    return text.count("<failure")


def test_verify_passes_mockserver_itself(tmp_path: Path) -> None:
    with run_server(["--seed", "3"]) as server:
        junit = tmp_path / "report.xml"
        result = mockserver_command(
            "verify", server.base_url, "--max-examples", "25", "--seed", "1", "--junit", str(junit)
        )
    assert result.returncode == 0, result.stdout[-3000:]
    assert junit_failures(junit) == 0
    assert "POST /api-auth/apps" in junit.read_text()


def test_verify_catches_a_server_that_breaks_the_contract(
    broken_server: str, tmp_path: Path
) -> None:
    junit = tmp_path / "report.xml"
    result = mockserver_command(
        "verify", broken_server, "--max-examples", "10", "--seed", "1", "--junit", str(junit),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode != 0
    # Failures leave no replay cache nor Hypothesis's tables where verify was
    # run: a run is its seed, and the project stays as it was.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["report.xml"]
    assert junit_failures(junit) > 0
    report = result.stdout
    assert "Undocumented status code" in report  # 201 where 200 is documented
    assert "API accepts requests without authentication" in report
