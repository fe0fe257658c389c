"""What keeps a web page the developer happens to open away from the server:
the Host check (DNS rebinding), the tooling's same-origin rule, the warning
for an open admin API, and secrets kept out of what the server shows.

tests/test_browser.py shows the same from a real page on another origin.
"""

import http.client
import json
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from conftest import ContractClient
from contract import assert_conforms
from test_create_app import only_error

from mockserver.tooling.testing import run_server

APPS = "/api-auth/apps"
ADMIN = "/__admin"
EVIL = "https://evil.example"
FRONTEND = "http://localhost:5173"


def cors_headers(response) -> list[str]:
    return [name for name, _value in response.headers.items() if name.startswith("Access-Control")]


def app_slugs(client: ContractClient) -> set[str]:
    listing = client.get(f"{APPS}?include_inactive=true&limit=1000").get_json()
    return {app["app_slug"] for app in listing["data"]}


# --- the Host check ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [APPS, f"{APPS}/billing-sync", f"{ADMIN}/requests", "/docs", "/__inspector", "/__usage", "/x"],
)
def test_a_foreign_domain_in_host_is_refused_on_every_path(client: ContractClient, path) -> None:
    response = client.get(path, headers={"Host": "rebound.example:4010"})
    error = only_error(response, 403)
    assert error["parameter"] == "Host"
    assert "--allowed-host rebound.example" in error["detail"]


def test_a_refused_host_changes_nothing(client: ContractClient) -> None:
    before = app_slugs(client)
    refused = client.create(app_slug="rebound", headers={"Host": "rebound.example"})
    assert only_error(refused, 403)["parameter"] == "Host"
    reset = client.post(f"{ADMIN}/reset", auth=None, headers={"Host": "rebound.example"})
    assert only_error(reset, 403)["parameter"] == "Host"
    assert app_slugs(client) == before


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LocalHost:4010",
        "foo.localhost",
        "my-app.dev.localhost:3000",
        "127.0.0.1",
        "127.0.0.1:4010",
        "10.1.2.3:80",
        "[::1]:4010",
        "[fe80::1]",
    ],
)
def test_localhost_its_subdomains_and_ip_literals_are_served(client: ContractClient, host) -> None:
    assert client.get(APPS, headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["localhost.evil.example", "evillocalhost", "127.0.0.1.nip.io", "x@localhost", "a b"]
)
def test_names_that_only_look_local_are_refused(client: ContractClient, host) -> None:
    assert only_error(client.get(APPS, headers={"Host": host}), 403)["parameter"] == "Host"


def test_allowed_host_serves_that_name_and_only_it(make_client) -> None:
    client = make_client(allowed_hosts=("demo.example.com",))
    assert client.get(APPS, headers={"Host": "Demo.Example.com:8080"}).status_code == 200
    assert client.get(f"{ADMIN}/health", headers={"Host": "demo.example.com"}).status_code == 200
    refused = client.get(APPS, headers={"Host": "www.demo.example.com"})
    assert "--allowed-host www.demo.example.com" in only_error(refused, 403)["detail"]


def test_a_refused_host_on_the_api_is_journalled_and_logged(make_client, capsys) -> None:
    client = make_client()
    client.get(APPS, headers={"Host": "rebound.example"})
    (entry,) = client.get(f"{ADMIN}/requests", auth=None).get_json()["requests"]
    assert entry["status"] == 403 and entry["operation_id"] is None
    assert entry["errors"][0]["parameter"] == "Host"
    assert "GET /api-auth/apps 403" in capsys.readouterr().out


# --- the tooling answers its own origin only ---------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{ADMIN}/requests"),
        ("GET", f"{ADMIN}/health"),
        ("DELETE", f"{ADMIN}/requests"),
        ("GET", "/docs"),
        ("GET", "/docs/openapi.json"),
        ("GET", "/__inspector"),
        ("GET", "/__inspector/static/inspector.js"),
        ("GET", "/__usage"),
        ("GET", "/__usage/static/usage.js"),
    ],
)
def test_a_page_of_another_origin_gets_nothing_from_the_tooling(
    client: ContractClient, method: str, path: str
) -> None:
    response = client.request(method, path, auth=None, headers={"Origin": EVIL})
    error = only_error(response, 403)
    assert error["parameter"] == "Origin" and f"--cors-origin {EVIL}" in error["detail"]
    assert cors_headers(response) == []


def test_a_bodyless_post_from_another_origin_does_not_reset(client: ContractClient) -> None:
    # A POST without a body is a "simple" request: browsers send it without a
    # preflight, so the server itself must refuse it.
    client.create(app_slug="kept-work")
    reset = client.post(f"{ADMIN}/reset", auth=None, headers={"Origin": EVIL})
    assert only_error(reset, 403)["parameter"] == "Origin"
    assert cors_headers(reset) == []
    assert "kept-work" in app_slugs(client)
    assert client.get(f"{ADMIN}/requests/count", auth=None).get_json()["count"] > 0


@pytest.mark.parametrize("origin", [EVIL, "null", "http://localhost:5173", "http://localhost"])
def test_a_preflight_to_the_admin_api_from_another_origin_is_refused(make_client, origin) -> None:
    # The test client sends Host: localhost, so http://localhost is this server's
    # own origin; but it is https here, and the scheme is part of the origin.
    client = make_client()
    preflight = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    response = client.request(
        "OPTIONS", f"{ADMIN}/reset", auth=None, headers=preflight, base_url="https://localhost"
    )
    assert only_error(response, 403)["parameter"] == "Origin"
    assert cors_headers(response) == []


def test_the_servers_own_origin_may_call_the_tooling(client: ContractClient) -> None:
    # The inspector's "clear" is a DELETE, which browsers send with its Origin.
    # The pages are in no contract: a plain test client for them.
    pages = client.app.test_client()
    for base in ("http://localhost", "http://127.0.0.1:4010", "http://[::1]:4010"):
        origin = {"Origin": base}
        cleared = client.delete(f"{ADMIN}/requests", auth=None, headers=origin, base_url=base)
        assert cleared.status_code == 204
        for page in ("/docs", "/__usage", "/__usage/static/usage.js"):
            assert pages.get(page, headers=origin, base_url=base).status_code == 200
    other_port = client.delete(
        f"{ADMIN}/requests", auth=None, headers={"Origin": "http://127.0.0.1:5173"},
        base_url="http://127.0.0.1:4010",
    )  # fmt: skip
    assert only_error(other_port, 403)["parameter"] == "Origin"


def test_cors_origin_opens_the_tooling_to_that_origin(make_client) -> None:
    client = make_client(cors_origins=(FRONTEND,))
    listed = client.get(f"{ADMIN}/requests", auth=None, headers={"Origin": FRONTEND})
    assert listed.status_code == 200
    assert listed.headers["Access-Control-Allow-Origin"] == FRONTEND
    preflight = client.request(
        "OPTIONS", f"{ADMIN}/reset", auth=None,
        headers={"Origin": FRONTEND, "Access-Control-Request-Method": "POST"},
    )  # fmt: skip
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Methods"] == "POST"
    assert only_error(client.get("/docs", headers={"Origin": EVIL}), 403)


def test_the_api_keeps_its_cors_for_any_origin(client: ContractClient) -> None:
    created = client.create(headers={"Origin": EVIL})
    assert created.status_code == 200
    assert created.headers["Access-Control-Allow-Origin"] == EVIL
    asking = {"Origin": EVIL, "Access-Control-Request-Method": "POST"}
    preflight = client.request("OPTIONS", APPS, auth=None, headers=asking)
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == EVIL


def test_requests_without_an_origin_reach_the_tooling(client: ContractClient) -> None:
    # curl, CI scripts and the pytest plugin send no Origin: nothing changes for them.
    assert client.get(f"{ADMIN}/requests", auth=None).status_code == 200
    assert client.post(f"{ADMIN}/reset", auth=None).status_code == 204


# --- the admin token and secrets -------------------------------------------------------


def test_the_admin_token_is_checked_whole_whatever_is_sent(make_client) -> None:
    client = make_client(admin_token="s3cret-admin-token")
    for sent in ("Bearer s3cret-admin-toke", "Bearer s3cret-admin-tokenX", "Bearer ", "s3cret"):
        only_error(client.get(f"{ADMIN}/health", auth=sent), 401)
    # Not ASCII: still a 401, never a 500.
    only_error(client.get(f"{ADMIN}/health", auth="Bearer s3crét"), 401)
    assert client.get(f"{ADMIN}/health", auth="Bearer s3cret-admin-token").status_code == 200


def test_the_admin_token_sent_to_the_api_is_masked_in_journal_and_log(make_client, capsys) -> None:
    token = "s3cret-admin-token"
    client = make_client(admin_token=token)
    client.get(APPS, auth=f"Bearer {token}")
    client.get(APPS, headers={"Cookie": f"session={token}", "X-Api-Key": token})
    listing = client.get(f"{ADMIN}/requests", auth=f"Bearer {token}")
    assert len(listing.get_json()["requests"]) == 2
    assert token not in listing.get_data(as_text=True)
    assert token not in capsys.readouterr().out


# --- against the real server --------------------------------------------------------------


def raw_get(base_url: str, path: str, headers: dict[str, str]) -> tuple[int, dict]:
    """A GET with whatever Host it is given (http.client sends it as is)."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    finally:
        connection.close()
    body = json.loads(raw) if raw else None
    assert_conforms("GET", path, response.status, response.headers, body)
    return response.status, body


def test_serve_checks_the_host_and_takes_allowed_host() -> None:
    with run_server(["--workers", "1", "--allowed-host", "demo.example.com"]) as server:
        port = urlsplit(server.base_url).port
        auth = {"Authorization": "Bearer sk_test_mock"}
        for host in ("localhost", "foo.localhost", f"127.0.0.1:{port}", f"[::1]:{port}"):
            assert raw_get(server.base_url, APPS, {**auth, "Host": host})[0] == 200, host
        assert raw_get(server.base_url, APPS, {**auth, "Host": "demo.example.com"})[0] == 200
        status, body = raw_get(server.base_url, APPS, {**auth, "Host": f"evil.example:{port}"})
        assert status == 403 and "--allowed-host evil.example" in body["errors"][0]["detail"]
        # Loopback, so no warning about an open admin API.
        assert not any("anyone on the network" in line for line in server.output)


def serve_output(*args: str) -> subprocess.CompletedProcess[str]:
    """``mockserver serve`` with a spec that cannot be read: it says what it
    would say on start-up, then exits 2 without listening anywhere."""
    return subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", *args,
         "--spec", "/nonexistent/openapi.yaml"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20"])
def test_listening_beyond_loopback_without_a_token_warns(host: str) -> None:
    result = serve_output("--host", host)
    assert result.returncode == 2 and "cannot read the spec" in result.stderr
    assert "anyone on the network can reset the state and read the journal" in result.stderr
    assert "--admin-token" in result.stderr


@pytest.mark.parametrize(
    "args", [["--host", "0.0.0.0", "--admin-token", "t0ken"], ["--host", "::", "--no-admin"]]
)
def test_no_warning_with_a_token_or_without_the_admin_api(args: list[str]) -> None:
    result = serve_output(*args)
    assert result.returncode == 2
    assert "anyone on the network" not in result.stderr
