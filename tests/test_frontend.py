"""What a frontend developer relies on: CORS, chosen responses, latency, logs, reload."""

import io
import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ContractClient
from test_cli import call as stdlib_call
from test_create_app import only_error
from werkzeug.test import Client

from mockserver import Settings, create_app
from mockserver.contract.resources import default_spec_path
from mockserver.http.logs import RequestLog
from mockserver.serving.reload import ReloadingApp
from mockserver.tooling.testing import run_server

APPS = "/api-auth/apps"
ORIGIN = "http://localhost:5173"
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}


# --- CORS -----------------------------------------------------------------------------


def test_a_preflight_from_any_origin_is_allowed(client: ContractClient) -> None:
    response = client.request(
        "OPTIONS", APPS, auth=None,
        headers={**PREFLIGHT, "Access-Control-Request-Headers": "authorization, content-type"},
    )  # fmt: skip
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Methods"] == "GET, POST"
    assert response.headers["Access-Control-Allow-Headers"] == "authorization, content-type"
    assert int(response.headers["Access-Control-Max-Age"]) > 0


def test_a_preflight_without_requested_headers_allows_the_usual_ones(client) -> None:
    response = client.request("OPTIONS", f"{APPS}/x", auth=None, headers=PREFLIGHT)
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert response.headers["Access-Control-Allow-Methods"] == "DELETE, GET, PATCH"


def test_actual_responses_errors_included_carry_allow_origin(client: ContractClient) -> None:
    for response in (
        client.create(headers={"Origin": ORIGIN}),
        client.post(APPS, json={}, headers={"Origin": ORIGIN}),
        client.get("/nowhere", headers={"Origin": ORIGIN}),
        client.get(APPS, auth=None, headers={"Origin": ORIGIN}),
    ):
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "Preference-Applied" in response.headers["Access-Control-Expose-Headers"]
        assert "Origin" in response.headers["Vary"]


def test_cors_origin_restricts_and_a_refused_origin_gets_no_cors_headers(make_client) -> None:
    client = make_client(cors_origins=(ORIGIN, "https://app.example.com"))
    allowed = client.request("OPTIONS", APPS, auth=None, headers=PREFLIGHT)
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    refused_preflight = client.request(
        "OPTIONS", APPS, auth=None, headers={**PREFLIGHT, "Origin": "https://evil.example"}
    )
    refused = client.create(headers={"Origin": "https://evil.example"})
    for response in (refused_preflight, refused):
        names = [name for name, _value in response.headers.items()]
        assert not [name for name in names if name.startswith("Access-Control-")]


def test_plain_options_lists_exactly_the_spec_methods(client: ContractClient) -> None:
    spec = yaml.safe_load(default_spec_path().read_text())
    for path, expected_path in ((APPS, APPS), (f"{APPS}/a%2Fb", f"{APPS}/{{app_slug}}")):
        response = client.request("OPTIONS", path, auth=None)
        assert response.status_code == 204 and not response.data
        documented = {m.upper() for m in spec["paths"][expected_path] if m != "parameters"}
        assert set(response.headers["Allow"].split(", ")) == documented
    only_error(client.request("OPTIONS", "/nowhere", auth=None), 404)


# --- Prefer -----------------------------------------------------------------------------


def test_prefer_code_returns_the_documented_example(client: ContractClient) -> None:
    response = client.create(headers={"Prefer": "code=403"})
    error = only_error(response, 403)
    assert error["message"] == "API auth app creation requires Growth plan"
    assert response.headers["Preference-Applied"] == "code=403"


def test_prefer_example_by_name(client: ContractClient) -> None:
    response = client.create(headers={"Prefer": "example=with-user"})
    assert response.status_code == 200
    assert response.get_json()["user_id"] == "1001"
    assert only_error(client.create(headers={"Prefer": "example=unknown-key"}), 401)


def test_prefer_code_and_example_together(client: ContractClient) -> None:
    response = client.create(headers={"Prefer": "code=400, example=user-with-permissions"})
    assert only_error(response, 400)["field"] == "/permissions"


def test_query_parameters_do_the_same_and_win(client: ContractClient) -> None:
    response = client.post(f"{APPS}?__code=409", json={}, headers={"Prefer": "code=500"})
    assert only_error(response, 409)["message"] == "Resource already exists"
    response = client.post(f"{APPS}?__example=published", json={})
    assert response.get_json()["app_slug"] == "my-app"


def test_a_forced_response_changes_no_state(client: ContractClient) -> None:
    before = client.get(f"{APPS}?include_inactive=true").get_json()
    client.create(headers={"Prefer": "code=200"})
    client.request("DELETE", f"{APPS}/billing-sync", headers={"Prefer": "code=200"})
    assert client.get(f"{APPS}?include_inactive=true").get_json() == before


@pytest.mark.parametrize("code", [429, 503])
def test_a_forced_refusal_says_when_to_retry(client: ContractClient, code: int) -> None:
    """A client's back-off can be tried on a forced 429 or 503: like the real
    refusal, it carries the Retry-After its contract documents."""
    response = client.create(headers={"Prefer": f"code={code}"})
    assert only_error(response, code)
    assert int(response.headers["Retry-After"]) >= 1


def test_a_forced_status_without_an_example_is_built_from_the_spec(client) -> None:
    listing = client.get(f"{APPS}?__code=200").get_json()
    assert set(listing) == {"data", "has_more", "limit", "offset"}
    assert (
        client.request(
            "DELETE", "/api-auth/rate-limit-schemes/x", headers={"Prefer": "code=204"}
        ).status_code
        == 204
    )


@pytest.mark.parametrize(
    ("prefer", "parameter", "words"),
    [
        ({"headers": {"Prefer": "code=418"}}, "Prefer", "documents no 418 response"),
        ({"query": "?__code=201"}, "__code", "it documents 200, 400"),
        ({"headers": {"Prefer": "example=nope"}}, "Prefer", "with-user"),
        ({"query": "?__example=nope"}, "__example", "published"),
        ({"headers": {"Prefer": "code=abc"}}, "Prefer", "whole number"),
        ({"headers": {"Prefer": "delay=999999"}}, "Prefer", "at most 60000"),
        # Numbers are ASCII digits of a bounded length, never a 500: '²' is a
        # digit to str.isdigit() but not to int(), 5000 digits are past int()'s limit.
        ({"query": "?__code=%C2%B2"}, "__code", "whole number"),
        ({"query": "?__code=%D9%A3"}, "__code", "whole number"),
        ({"query": "?__code=" + "9" * 5000}, "__code", "at most 9 digits"),
        ({"headers": {"Prefer": "code=" + "2" * 5000}}, "Prefer", "at most 9 digits"),
        ({"headers": {"Prefer": "delay=²"}}, "Prefer", "whole number"),
        ({"headers": {"Prefer": "delay=" + "1" * 5000}}, "Prefer", "at most 9 digits"),
        ({"headers": {"Prefer": "delay=-5"}}, "Prefer", "whole number"),
    ],
)
def test_an_undocumented_choice_is_a_400_saying_what_exists(
    client: ContractClient, prefer: dict, parameter: str, words: str
) -> None:
    response = client.post(APPS + prefer.get("query", ""), json={}, headers=prefer.get("headers"))
    error = only_error(response, 400)
    assert error["parameter"] == parameter and words in error["message"]


def test_unknown_preferences_are_ignored(client: ContractClient) -> None:
    assert client.create(headers={"Prefer": "return=minimal, respond-async"}).status_code == 200


# --- latency ------------------------------------------------------------------------------


@pytest.fixture
def slept(monkeypatch) -> list[float]:
    """The pauses the server makes, in seconds, recorded instead of waited:
    latency is asserted by what was asked for, never by a wall clock
    (bench/ measures real latency)."""
    pauses: list[float] = []
    monkeypatch.setattr("mockserver.http.pipeline.time.sleep", pauses.append)
    return pauses


def test_delay_adds_latency_to_every_response(make_client, slept) -> None:
    client = make_client(delay_ms=(150, 200))
    client.get(APPS)
    client.get("/nowhere")
    assert len(slept) == 2 and all(0.15 <= pause <= 0.2 for pause in slept)


def test_prefer_delay_for_one_request(client: ContractClient, slept) -> None:
    client.get(APPS, headers={"Prefer": "delay=200"})
    client.get(APPS)
    assert slept == [0.2]
    response = client.get(APPS, headers={"Prefer": "delay=10"})
    assert response.headers["Preference-Applied"] == "delay=10"
    assert slept == [0.2, 0.01]


# --- the request log ------------------------------------------------------------------


def entry(**fields) -> dict:
    base = {
        "time": "2026-11-28T10:15:30.123456Z", "method": "POST", "path": APPS, "status": 422,
        "duration_ms": 3.14159, "operation_id": "createApiAuthApp",
        "errors": [
            {"message": "app_slug is required", "code": 422, "field": "/app_slug"},
            {"message": "name is required", "code": 422, "field": "/name"},
        ],
    }  # fmt: skip
    return {**base, **fields}


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_text_log_names_the_first_error_of_a_4xx() -> None:
    stream = io.StringIO()
    RequestLog("text", stream).write(entry())
    RequestLog("text", stream).write(entry(status=200, errors=[], method="GET"))
    refused, served = stream.getvalue().splitlines()
    assert refused == (
        "10:15:30.123 POST /api-auth/apps 422 3.1ms  app_slug is required (/app_slug) (+1 more)"
    )
    assert served == "10:15:30.123 GET /api-auth/apps 200 3.1ms"
    assert "\033[" not in stream.getvalue()


def test_text_log_is_coloured_on_a_terminal(monkeypatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    terminal = FakeTerminal()
    RequestLog("text", terminal).write(entry())
    assert "\033[33m422\033[0m" in terminal.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    plain = FakeTerminal()
    RequestLog("text", plain).write(entry())
    assert "\033[" not in plain.getvalue()


def test_json_log_is_one_object_per_line() -> None:
    stream = io.StringIO()
    RequestLog("json", stream).write(entry())
    record = json.loads(stream.getvalue())
    assert record["status"] == 422 and record["error"].startswith("app_slug is required")


def test_log_off_writes_nothing() -> None:
    stream = io.StringIO()
    RequestLog("off", stream).write(entry())
    assert stream.getvalue() == ""


def test_the_server_logs_each_request(make_client, capsys) -> None:
    client = make_client()
    client.post(APPS, json={})
    client.get(f"{APPS}/billing-sync")
    lines = capsys.readouterr().out.splitlines()
    assert any("POST /api-auth/apps 422" in line and "is required" in line for line in lines)
    assert any("GET /api-auth/apps/billing-sync 200" in line for line in lines)


def test_control_characters_in_a_request_cannot_forge_log_lines(make_client, capsys) -> None:
    client = make_client()
    forged = "12:00:00.000 GET /api-auth/apps 200 0.1ms"
    client.get(f"{APPS}/x%0A{forged}%1B[2J%C2%9B31m")
    client.get(f"{APPS}?__example=%1B]0%3Bowned%07")  # echoed in the error
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 2 and forged not in lines
    assert "/api-auth/apps/x\\x0a12:00:00.000" in lines[0]
    assert "\\x1b[2J\\x9b31m" in lines[0]
    assert "\\x1b]0;owned\\x07" in lines[1]
    assert not any(0 <= ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in out.replace("\n", ""))


def test_json_log_escapes_what_json_leaves_raw() -> None:
    stream = io.StringIO()
    path = "/a\nb\x1b[31m\x9b\u2028\u202e"
    RequestLog("json", stream).write(entry(path=path))
    line = stream.getvalue()
    assert line.count("\n") == 1 and line.endswith("\n")
    assert not any(c in line for c in "\x1b\x9b\u2028\u202e")
    assert json.loads(line)["path"] == path  # the true value, escaped the JSON way


# --- live reload ----------------------------------------------------------------------


@pytest.fixture
def watched(tmp_path: Path, fixture_dir: Path):
    spec = tmp_path / "openapi.yaml"
    shutil.copy(default_spec_path(), spec)
    settings = Settings(
        spec_path=spec, fixtures_dir=fixture_dir, state_path=tmp_path / "state.sqlite3"
    )
    reloading = ReloadingApp(settings, create_app)
    assert reloading.wait_until_watching()
    yield reloading, spec, fixture_dir
    reloading.close()


def call(reloading: ReloadingApp, method: str, path: str, key: str = "sk_test_mock", body=None):
    """A request through the reloader itself, as the production server makes it."""
    return Client(reloading).open(
        path, method=method, json=body, headers={"Authorization": f"Bearer {key}"}
    )


def settle(reloading: ReloadingApp, attempts: int = 1) -> None:
    """Wait until the watcher has tried ``attempts`` reloads in all."""
    assert reloading.wait_for_attempts(attempts), "the change was never seen"


def test_watch_reloads_fixtures_and_keeps_the_state(watched) -> None:
    reloading, _spec, fixtures = watched
    created = call(
        reloading, "POST", APPS, body={"app_slug": "kept", "name": "n", "key_prefix": "k"}
    )
    assert created.status_code == 200
    assert call(reloading, "GET", APPS, key="sk_test_new").status_code == 401
    deployment = fixtures / "deployment.yaml"
    deployment.write_text(deployment.read_text() + "  - key: sk_test_new\n")
    settle(reloading)
    assert call(reloading, "GET", f"{APPS}/kept", key="sk_test_new").status_code == 200


def test_watch_reloads_the_spec(watched) -> None:
    reloading, spec, _fixtures = watched
    document = yaml.safe_load(spec.read_text())
    del document["paths"]["/api-auth/rate-limit-schemes"]["get"]
    spec.write_text(yaml.safe_dump(document))
    settle(reloading)
    assert call(reloading, "GET", "/api-auth/rate-limit-schemes").status_code == 405


def test_a_broken_edit_keeps_the_last_good_version(watched, capsys) -> None:
    reloading, _spec, fixtures = watched
    (fixtures / "rate_limit_schemes.yaml").write_text("rate_limit_schemes: [{slug: x}]\n")
    settle(reloading)
    assert call(reloading, "GET", APPS).status_code == 200
    error = capsys.readouterr().err
    assert error.count("not reloaded") == 1 and "rate_limit_schemes.yaml" in error
    # No request triggers anything: the next message comes with the next edit.
    call(reloading, "GET", APPS)
    assert "not reloaded" not in capsys.readouterr().err


def test_a_dangling_reference_keeps_the_last_good_spec_and_names_it(watched, capsys) -> None:
    reloading, spec, _fixtures = watched
    document = yaml.safe_load(spec.read_text())
    body = document["paths"][APPS]["post"]["requestBody"]["content"]["application/json"]
    body["schema"] = {"$ref": "#/components/schemas/Gone"}
    spec.write_text(yaml.safe_dump(document))
    settle(reloading)
    error = capsys.readouterr().err
    assert "not reloaded" in error and "#/components/schemas/Gone" in error
    created = call(reloading, "POST", APPS, body={"app_slug": "s", "name": "n", "key_prefix": "k"})
    assert created.status_code == 200
    assert call(reloading, "POST", APPS, body={}).status_code == 422  # the old spec still checks


def test_serve_watch_reloads_a_running_server(fixture_dir: Path) -> None:
    with run_server(["--watch", "--workers", "1", "--fixtures", str(fixture_dir)]) as server:
        assert call_status(server.base_url, "sk_test_new") == 401
        deployment = fixture_dir / "deployment.yaml"
        deployment.write_text(deployment.read_text() + "  - key: sk_test_new\n")
        assert server.wait_for_output("reloaded openapi.yaml and fixtures")
        assert call_status(server.base_url, "sk_test_new") == 200


def call_status(base_url: str, key: str) -> int:
    return stdlib_call(base_url, f"{APPS}/billing-sync", key=key, method="GET")[0]
