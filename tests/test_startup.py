"""How ``mockserver serve`` starts: bad option values stop it with a message,
the banner comes once the port answers, and the admin token reaches no
process's command line or environment. Real processes, each on a free port."""

import json
import os
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from contract import assert_conforms
from local_servers import run_to_exit

from mockserver.serving.cli import build_parser
from mockserver.tooling.testing import process_tree, run_server

MOCKSERVER = [sys.executable, "-m", "mockserver"]


def test_a_port_out_of_range_is_exit_code_2_with_a_message_not_a_traceback() -> None:
    result = run_to_exit([*MOCKSERVER, "serve", "--port", "70000"], timeout=60)
    assert result.returncode == 2, result.stderr
    assert "argument --port: must be at most 65,535" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "-1"], "argument --port: must be at least 0"),
        # int() takes the digits of every script; an option takes ASCII digits only.
        (["--port", "\u0668\u0660"], "argument --port: not a whole number"),
        (["--workers", "100000"], "argument --workers: must be at most 256"),
        (["--journal-size", "99999999"], "argument --journal-size: must be at most 1,000,000"),
        (["--seed", "\u0663"], "argument --seed: not a whole number"),
        (["--seed", "9" * 40], "argument --seed: too long a number"),
        (["--delay", "70000"], "argument --delay: not MS or MIN-MAX from 0 to 60000 ms"),
        (["--host", "no such host"], "argument --host: not a host name or address"),
        (["--admin-token", ""], "argument --admin-token: must not be empty"),
        (["--admin-token", "two words"], "argument --admin-token: only visible ASCII"),
        (["--cors-origin", "localhost:3000"], "argument --cors-origin: not an origin"),
        (["--cors-origin", "http://app.example/path"], "argument --cors-origin: not an origin"),
    ],
)
def test_every_bad_option_value_is_exit_code_2_naming_the_option(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(["serve", *args])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err


def test_a_bad_value_from_a_variable_is_refused_the_same_way(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOCKSERVER_PORT", "70000")
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(["serve"])
    assert stopped.value.code == 2
    assert "MOCKSERVER_PORT: must be at most 65,535" in capsys.readouterr().err


def test_the_banner_comes_once_a_worker_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    # The boot trace goes to stderr, which the harness reads in the same pipe
    # as the banner: the lines are in the order they were written.
    monkeypatch.setenv("MOCKSERVER_BOOT_TRACE", "1")
    with run_server(["--workers", "2"]) as server:
        lines = list(server.output)
    banner = next(i for i, line in enumerate(lines) if "listening on http://" in line)
    ready = [i for i, line in enumerate(lines) if line.endswith(": worker: app built")]
    bound = next(i for i, line in enumerate(lines) if line.endswith(": port bound"))
    assert bound < banner, lines
    assert ready and ready[0] < banner, lines


ANNOUNCER_ALONE = """
import signal, socket
from mockserver.serving.boot import fork_announcer
# A port that takes connections but never answers: a listener nobody accepts on.
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(8)
port = listener.getsockname()[1]
print(port, flush=True)
fork_announcer("127.0.0.1", port, None, "BANNER", timeout_s=1)
signal.pause()  # as the supervisor serves, until it is told to stop
"""


def test_a_port_that_never_answers_gets_no_banner_and_stops_the_server() -> None:
    result = run_to_exit([sys.executable, "-c", ANNOUNCER_ALONE], timeout=60)
    port = result.stdout.split()[0]
    assert result.returncode == -signal.SIGTERM, result.stderr
    assert "BANNER" not in result.stdout
    assert f"cannot start: nothing answered on 127.0.0.1:{port} within 1 s" in result.stderr


def admin_health(base_url: str, token: str | None) -> int:
    request = urllib.request.Request(base_url + "/__admin/health")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    assert_conforms("GET", "/__admin/health", status, headers, json.loads(raw))
    return status


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux's /proc")
def test_the_admin_token_is_in_no_command_line_or_environment(tmp_path: Path) -> None:
    token = "tok-" + os.urandom(8).hex()
    (tmp_path / "admin-token").write_text(token + "\n")
    args = ["--workers", "2", "--admin-token-file", str(tmp_path / "admin-token")]
    with run_server(args) as server:
        assert admin_health(server.base_url, None) == 401
        assert admin_health(server.base_url, token) == 200
        read = set()
        for pid in process_tree(server.process.pid):
            for name in ("cmdline", "environ"):
                try:
                    content = Path(f"/proc/{pid}/{name}").read_bytes()
                except (FileNotFoundError, ProcessLookupError):
                    continue  # a short-lived child ended between the walk and the read
                assert token.encode() not in content, (pid, name)
                read.add(pid)
        assert len(read) >= 3, read  # the supervisor and its two workers at least
