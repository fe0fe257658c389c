"""Options from environment variables and secrets from files, as a container
or a CI service is configured: real servers, real exit codes."""

import json
import re
import urllib.request
from email.message import Message
from pathlib import Path

import pytest
from contract import assert_conforms

from mockserver.serving.cli import build_parser, main
from mockserver.tooling.testing import run_server


def get(base_url: str, path: str, headers: dict[str, str]) -> tuple[int, Message]:
    """GET ``path``; the answer is checked against its contract."""
    request = urllib.request.Request(base_url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, answer_headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, raw = error.code, error.headers, error.read()
    assert_conforms("GET", path, status, answer_headers, json.loads(raw) if raw else None)
    return status, answer_headers


def admin_status(base_url: str, token: str) -> int:
    return get(base_url, "/__admin/health", {"Authorization": f"Bearer {token}"})[0]


def allowed_origin(base_url: str, origin: str) -> str | None:
    headers = {"Authorization": "Bearer sk_test_mock", "Origin": origin}
    status, answer_headers = get(base_url, "/api-auth/apps", headers)
    assert status == 200
    return answer_headers.get("Access-Control-Allow-Origin")


def test_admin_token_file_protects_the_admin_api(tmp_path: Path) -> None:
    token_file = tmp_path / "admin-token"
    token_file.write_text("from-a-file\n")  # as `echo` writes it
    with run_server(["--admin-token-file", str(token_file)]) as server:
        assert admin_status(server.base_url, "from-a-file") == 200
        assert admin_status(server.base_url, "wrong") == 401
        assert not any("from-a-file" in line for line in server.output)


def test_variables_configure_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "admin-token"
    token_file.write_text("env-file-token")
    monkeypatch.setenv("MOCKSERVER_ADMIN_TOKEN_FILE", str(token_file))
    # A repeatable option's variable: a list, commas or spaces between items.
    monkeypatch.setenv("MOCKSERVER_CORS_ORIGIN", "https://a.example, https://b.example")
    with run_server() as server:
        assert admin_status(server.base_url, "env-file-token") == 200
        assert admin_status(server.base_url, "wrong") == 401
        assert allowed_origin(server.base_url, "https://b.example") == "https://b.example"
        assert allowed_origin(server.base_url, "https://c.example") is None


def test_allowed_hosts_from_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A container behind a domain opens the Host check without a command line."""
    monkeypatch.setenv("MOCKSERVER_ALLOWED_HOST", "demo.example.com other.example")
    key = {"Authorization": "Bearer sk_test_mock"}
    with run_server() as server:
        for host in ("demo.example.com", "other.example"):
            assert get(server.base_url, "/api-auth/apps", {**key, "Host": host})[0] == 200
        assert get(server.base_url, "/api-auth/apps", {**key, "Host": "evil.example"})[0] == 403


def test_the_command_line_wins_over_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCKSERVER_ADMIN_TOKEN", "env-token")
    monkeypatch.setenv("MOCKSERVER_CORS_ORIGIN", "https://env.example")
    args = ["--admin-token", "cli-token", "--cors-origin", "https://cli.example"]
    with run_server(args) as server:
        assert admin_status(server.base_url, "cli-token") == 200
        assert admin_status(server.base_url, "env-token") == 401
        assert allowed_origin(server.base_url, "https://cli.example") == "https://cli.example"
        assert allowed_origin(server.base_url, "https://env.example") is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MOCKSERVER_PORT", "http"),
        ("MOCKSERVER_WORKERS", "0"),
        ("MOCKSERVER_JOURNAL_SIZE", "-1"),
        ("MOCKSERVER_DELAY", "500-100"),
        ("MOCKSERVER_FREEZE_TIME", "yesterday"),
        ("MOCKSERVER_LOG_FORMAT", "xml"),
        ("MOCKSERVER_WATCH", "maybe"),
        ("MOCKSERVER_SESSION_TTL", "soon"),
        ("MOCKSERVER_SESSION_TTL", "0s"),
        ("MOCKSERVER_MAX_SESSIONS", "0"),
        ("MOCKSERVER_ADMIN_TOKEN_FILE", "/nonexistent/admin-token"),
    ],
)
def test_a_bad_variable_is_exit_code_2_naming_it(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--port", "0"])
    assert stopped.value.code == 2
    assert re.search(rf"error: {variable}: ", capsys.readouterr().err)


def test_a_token_file_that_is_empty_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "token").write_text("\n")
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--admin-token-file", str(tmp_path / "token")])
    assert stopped.value.code == 2
    assert "is empty" in capsys.readouterr().err


def test_the_token_and_its_file_together_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "token").write_text("one")
    monkeypatch.setenv("MOCKSERVER_ADMIN_TOKEN", "two")
    monkeypatch.setenv("MOCKSERVER_ADMIN_TOKEN_FILE", str(tmp_path / "token"))
    with pytest.raises(SystemExit) as stopped:
        main(["serve"])
    assert stopped.value.code == 2
    assert "MOCKSERVER_ADMIN_TOKEN and MOCKSERVER_ADMIN_TOKEN_FILE" in capsys.readouterr().err


def test_verify_reads_its_key_from_a_file_or_a_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "key").write_text("sk_live_from_file\n")
    url = "http://127.0.0.1:9"
    assert build_parser().parse_args(["verify", url, "--key-file", str(tmp_path / "key")]).key == (
        "sk_live_from_file"
    )
    monkeypatch.setenv("MOCKSERVER_VERIFY_KEY_FILE", str(tmp_path / "key"))
    assert build_parser().parse_args(["verify", url]).key == "sk_live_from_file"
    assert build_parser().parse_args(["verify", url, "--key", "sk_cli"]).key == "sk_cli"


def test_help_names_a_variable_for_every_serve_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    # Joined, as argparse wraps a long help text across lines.
    text = " ".join(capsys.readouterr().out.split())
    options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))
    assert "--admin-token-file" in options
    for option in options - {"--help"}:
        variable = "MOCKSERVER_" + option.removeprefix("--").replace("-", "_").upper()
        assert f"[env {variable}]" in text, option
