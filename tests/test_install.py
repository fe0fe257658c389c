"""``pip install .`` (not editable) into a fresh venv, then ``mockserver serve``
from an unrelated directory: the spec and fixtures must ship in the wheel."""

import subprocess
import sys
import urllib.request
from pathlib import Path

from test_cli import CREATE, call

from mockserver.tooling.testing import run_server

REPO = Path(__file__).resolve().parents[1]


def test_installed_package_serves_from_any_directory(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", str(REPO)],
        check=True,
        timeout=600,
    )
    bundled = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from mockserver.contract.resources import default_spec_path, default_fixtures_dir;"
            "print(default_spec_path()); print(default_fixtures_dir())",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.split()
    assert all(path.startswith(str(venv)) for path in bundled), bundled

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with run_server(command=[str(venv / "bin" / "mockserver")], cwd=elsewhere) as server:
        assert call(server.base_url, "/api-auth/apps", CREATE)[0] == 200
        # The files beside the code ship too: admin contract, pages, their assets.
        for page in (
            "/__admin/openapi.yaml",
            "/docs",
            "/docs/swagger-ui/swagger-ui-bundle.js",
            "/__inspector",
        ):
            with urllib.request.urlopen(server.base_url + page, timeout=10) as response:
                assert response.status == 200, page
    check = subprocess.run(
        [str(venv / "bin" / "mockserver"), "check"], capture_output=True, text=True, cwd=elsewhere
    )
    assert check.returncode == 0, check.stderr
