"""The production server (granian, several workers) as users run it."""

import contextlib
import http.client
import json
import signal
import sqlite3
import threading
from urllib.parse import urlsplit

import watchfiles
from contract import assert_conforms
from test_cli import CREATE, call

from mockserver.tooling.testing import run_server

TWO_MB = 2 * 1024 * 1024


def raw_request(base_url: str, method: str, path: str, body=None, headers=None, chunked=False):
    """One request with http.client, so that bodies can be sent chunked."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    body_json = json.loads(raw) if raw else None
    assert_conforms(method, path, response.status, response.headers, body_json)
    return response.status, body_json


AUTH_JSON = {"Authorization": "Bearer sk_test_mock", "Content-Type": "application/json"}


def test_an_oversize_body_is_the_413_envelope_under_the_real_server() -> None:
    with run_server(["--workers", "2"]) as server:
        big = json.dumps({**CREATE, "description": "x" * TWO_MB}).encode()
        status, body = raw_request(server.base_url, "POST", "/api-auth/apps", big, AUTH_JSON)
        assert status == 413 and body["errors"][0]["message"] == "Request failed"

        def chunks():
            yield b'{"app_slug": "c", "name": "n", "key_prefix": "k", "description": "'
            for _ in range(40):
                yield b"y" * 65536
            yield b'"}'

        status, body = raw_request(
            server.base_url, "POST", "/api-auth/apps", chunks(), AUTH_JSON, chunked=True
        )
        assert status == 413 and body["errors"][0]["code"] == 413
        # The server is fine afterwards.
        assert call(server.base_url, "/api-auth/apps", CREATE)[0] == 200


def test_the_journal_holds_the_requests_of_every_worker() -> None:
    with run_server(["--workers", "2"]) as server:
        for n in range(40):
            call(server.base_url, "/api-auth/apps", {**CREATE, "app_slug": f"w-{n}"})
        status, raw = call(server.base_url, "/__admin/requests?limit=1000", method="GET")
        entries = json.loads(raw)["requests"]
        assert status == 200 and len(entries) == 40
        assert {e["body"]["app_slug"] for e in entries} == {f"w-{n}" for n in range(40)}
        assert any("workers: 2" in line for line in server.output)


def app_stored(state, slug: str) -> bool:
    with contextlib.closing(sqlite3.connect(f"file:{state}?mode=ro", uri=True)) as db:
        return db.execute("SELECT 1 FROM apps WHERE app_slug = ?", (slug,)).fetchone() is not None


def test_sigterm_lets_in_flight_requests_finish_and_exits_0(tmp_path) -> None:
    state = tmp_path / "state.sqlite3"
    with run_server(["--workers", "2", "--state", str(state)]) as server:
        answers: list[tuple[int, object]] = []

        def slow_create() -> None:
            answers.append(
                raw_request(
                    server.base_url, "POST", "/api-auth/apps",
                    json.dumps({**CREATE, "app_slug": "in-flight"}).encode(),
                    {**AUTH_JSON, "Prefer": "delay=1500"},
                )
            )  # fmt: skip

        client = threading.Thread(target=slow_create)
        client.start()
        # In flight: the handler has stored the app, the answer is held back by
        # its delay. Seen in the state file as it changes, with no sleep (a
        # request could queue behind the delayed one in its worker).
        for ticks, _changes in enumerate(
            watchfiles.watch(tmp_path, rust_timeout=100, yield_on_timeout=True)
        ):
            if app_stored(state, "in-flight"):
                break
            assert ticks < 300, "the delayed create never ran"
        assert answers == []  # still being served
        server.process.send_signal(signal.SIGTERM)
        client.join(timeout=30)
        assert server.process.wait(timeout=30) == 0
        assert answers and answers[0][0] == 200
    with run_server(["--state", str(state)]) as restarted:
        status, raw = call(restarted.base_url, "/api-auth/apps/in-flight", method="GET")
        assert status == 200 and json.loads(raw)["app_slug"] == "in-flight"
