"""Sessions as a browser and a log reader see them: CORS and the request log."""

import json

import pytest
from conftest import ContractClient

APPS = "/api-auth/apps"
ORIGIN = "http://localhost:5173"
SESSION = {"X-Mockserver-Session": "log-me"}


def test_a_preflight_that_asks_for_the_session_header_is_allowed(client: ContractClient) -> None:
    headers = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-mockserver-session",
    }
    response = client.request("OPTIONS", APPS, auth=None, headers=headers)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "x-mockserver-session" in response.headers["Access-Control-Allow-Headers"].lower()
    # A session request from that page is then answered with its CORS headers.
    created = client.create(headers={"Origin": ORIGIN, **SESSION})
    assert created.status_code == 200
    assert created.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_a_preflight_naming_no_headers_still_allows_the_session_header(client) -> None:
    headers = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}
    response = client.request("OPTIONS", APPS, auth=None, headers=headers)
    assert "x-mockserver-session" in response.headers["Access-Control-Allow-Headers"].lower()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_request_log_names_the_session(make_client, capsys, log_format: str) -> None:
    client = make_client(log_format=log_format)
    capsys.readouterr()
    client.get(f"{APPS}/nowhere", headers=SESSION)
    client.get(f"{APPS}/elsewhere")
    named, default = capsys.readouterr().out.strip().splitlines()
    if log_format == "json":
        assert json.loads(named)["session"] == "log-me"
        assert json.loads(default)["session"] is None
    else:
        assert "[log-me] GET /api-auth/apps/nowhere 404" in named
        assert "[" not in default
