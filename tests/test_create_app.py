"""POST /api-auth/apps over HTTP: what a client sees for good and bad requests."""

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from conftest import AUTH, ContractClient

from mockserver.backend.ids import decode

APPS = "/api-auth/apps"
# Only the significant groups of sub-second digits: none, 3 or 6 (notes, section 6).
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6})?Z$")


def only_error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    errors = response.get_json()["errors"]
    assert len(errors) == 1, errors
    assert errors[0]["code"] == status
    return errors[0]


def set_plan(fixture_dir: Path, plan: str) -> None:
    path = fixture_dir / "deployment.yaml"
    document = yaml.safe_load(path.read_text())
    document["deployment"]["plan"] = plan
    path.write_text(yaml.safe_dump(document))


# --- success -----------------------------------------------------------------


def test_create_echoes_the_request_and_fills_in_the_rest(client: ContractClient) -> None:
    before = datetime.now(UTC)
    response = client.create(
        app_slug="invoice-mailer",
        name="Billing sync",
        key_prefix="sk_live",
        description="Nightly billing export",
        rate_limit_scheme_slug="default-rate-limits",
        permissions=["apps:read", "keys:write"],
        resources=["invoices"],
    )
    assert response.status_code == 200
    app = response.get_json()
    assert app["app_slug"] == "invoice-mailer"
    assert app["name"] == "Billing sync"
    assert app["key_prefix"] == "sk_live"
    assert app["description"] == "Nightly billing export"
    assert app["permissions"] == ["apps:read", "keys:write"]
    assert app["resources"] == ["invoices"]
    assert app["is_active"] is True
    assert app["deleted_at"] is None
    assert app["user_id"] is None and app["organization_id"] is None and app["workspace_id"] is None
    assert app["deployment_id"] == "9042835537924242"  # fixtures/deployment.yaml
    assert TIMESTAMP.match(app["created_at"]), app["created_at"]
    assert app["created_at"] == app["updated_at"]
    created = datetime.fromisoformat(app["created_at"])
    assert before - timedelta(seconds=1) <= created <= datetime.now(UTC) + timedelta(seconds=1)


def test_every_documented_field_is_sent_even_when_null(client: ContractClient) -> None:
    app = client.create().get_json()
    assert set(app) == set(
        client.app.extensions["mockserver.contract.spec"].document["components"]["schemas"][
            "ApiAuthApp"
        ]["properties"]
    )
    assert app["description"] is None
    assert app["rate_limit_scheme_slug"] is None
    assert app["rate_limits"] == []


@pytest.mark.parametrize("value", [None, "absent"])
def test_permissions_and_resources_default_to_empty_lists(client: ContractClient, value) -> None:
    fields = {} if value == "absent" else {"permissions": None, "resources": None}
    app = client.create(**fields).get_json()
    assert app["permissions"] == [] and app["resources"] == []


def test_the_published_default_scheme_resolves_to_its_single_rule(client: ContractClient) -> None:
    app = client.create(rate_limit_scheme_slug="default-rate-limits").get_json()
    assert app["rate_limits"] == [
        {
            "unit": "minute",
            "duration": 1,
            "max_requests": 100,
            "mode": "per_key",
            "endpoints": ["*"],
            "priority": 0,
        }
    ]


def test_rules_come_in_stored_order_with_defaults_filled(client: ContractClient) -> None:
    multi = client.create(app_slug="a", rate_limit_scheme_slug="standard-api").get_json()
    assert [rule["priority"] for rule in multi["rate_limits"]] == [10, 5, 0, 20]
    minimal = client.create(app_slug="b", rate_limit_scheme_slug="internal-unlimited").get_json()
    assert minimal["rate_limits"] == [
        {
            "unit": "hour",
            "duration": 1,
            "max_requests": 1000000,
            "mode": "per_app",
            "endpoints": ["*"],
            "priority": 0,
        }
    ]


def test_an_unknown_scheme_is_echoed_with_no_rules(client: ContractClient) -> None:
    app = client.create(rate_limit_scheme_slug="no-such-scheme").get_json()
    assert app["rate_limit_scheme_slug"] == "no-such-scheme"
    assert app["rate_limits"] == []


def test_a_user_with_a_workspace_gets_the_workspace_organization(client: ContractClient) -> None:
    app = client.create(user_id="1001", workspace_id="3001").get_json()
    assert app["user_id"] == "1001"
    assert app["workspace_id"] == "3001"
    assert app["organization_id"] == "2001"


def test_a_user_with_organization_and_workspace(client: ContractClient) -> None:
    response = client.create(user_id="1001", organization_id="2001", workspace_id="3001")
    assert response.status_code == 200
    assert response.get_json()["organization_id"] == "2001"


def test_a_user_alone_with_empty_permissions_absent(client: ContractClient) -> None:
    response = client.create(user_id="1002")
    assert response.status_code == 200
    assert response.get_json()["user_id"] == "1002"


def test_unknown_fields_are_ignored_and_not_echoed(client: ContractClient) -> None:
    response = client.create(is_active=False, id="42", favourite_colour="teal")
    assert response.status_code == 200
    app = response.get_json()
    assert "favourite_colour" not in app
    assert app["is_active"] is True
    assert app["id"] != "42"


def test_odd_unicode_is_echoed_exactly(client: ContractClient) -> None:
    name = "Zoë's 🚀 app \u202e\u0000 ﷽"
    response = client.create(app_slug="ünïcödé-🚀", name=name)
    assert response.status_code == 200
    assert response.get_json()["name"] == name
    assert response.get_json()["app_slug"] == "ünïcödé-🚀"


def test_ids_are_snowflake_strings_that_increase(client: ContractClient) -> None:
    ids = [client.create(app_slug=f"app-{n}").get_json()["id"] for n in range(20)]
    assert all(isinstance(value, str) and value.isdigit() for value in ids)
    assert [int(value) for value in ids] == sorted({int(value) for value in ids})
    now = datetime.now(UTC)
    assert abs(decode(ids[0]).time - now) < timedelta(seconds=5)


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/merge-patch+json"]
)
def test_json_content_types_are_accepted(client: ContractClient, content_type: str) -> None:
    response = client.post(
        APPS,
        data='{"app_slug": "x", "name": "X", "key_prefix": "sk"}',
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 200


# --- errors, one per row of the table ----------------------------------------


@pytest.mark.parametrize(
    "auth", [None, "Basic c2tfdGVzdF9tb2Nr", "sk_test_mock", "bearer sk_test_mock"]
)
def test_missing_or_non_bearer_authorization_is_401(client: ContractClient, auth) -> None:
    error = only_error(client.post(APPS, json={}, auth=auth), 401)
    assert error["message"] == "Authorization header must be Bearer token"


@pytest.mark.parametrize("key", ["sk_test_unknown", "", "sk_test_expired"])
def test_unknown_or_expired_key_is_401(client: ContractClient, key: str) -> None:
    error = only_error(client.post(APPS, json={}, auth=f"Bearer {key}"), 401)
    assert error["message"] == "Authentication failed"


def test_every_fixture_key_that_is_valid_is_accepted(client: ContractClient) -> None:
    response = client.post(
        APPS, json={"app_slug": "ci", "name": "CI", "key_prefix": "sk"}, auth="Bearer sk_test_ci"
    )
    assert response.status_code == 200


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_missing_or_non_json_content_type_is_415(client: ContractClient, content_type) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(APPS, data=b'{"app_slug": "x"}', headers=headers)
    assert only_error(response, 415)["message"] == "Request failed"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"{",
        b'{"app_slug": "x",}',
        b"\xff\xfe{}",
        b"NaN",
        b'{"a": Infinity}',
        b"[" * 100_000,
        b'{"name": "\\ud800"}',
        b"1" * 5000,
    ],
    ids=[
        "empty",
        "blank",
        "truncated",
        "trailing-comma",
        "not-utf8",
        "nan",
        "infinity",
        "deep-nesting",
        "lone-surrogate",
        "huge-number",
    ],
)
def test_body_that_is_not_json_is_400(client: ContractClient, raw: bytes) -> None:
    response = client.post(APPS, data=raw, headers={"Content-Type": "application/json"})
    assert only_error(response, 400)["message"] == "Bad request"


def test_missing_fields_are_all_named_at_once(client: ContractClient) -> None:
    response = client.post(APPS, json={})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert {e["field"] for e in errors} == {"/app_slug", "/name", "/key_prefix"}
    assert all(e["code"] == 422 and e["field"].lstrip("/") in e["message"] for e in errors)


def test_wrong_types_are_named_with_their_field(client: ContractClient) -> None:
    response = client.create(app_slug=7, permissions=["ok", 3], description=None, user_id=False)
    assert response.status_code == 422
    errors = {e["field"]: e["message"] for e in response.get_json()["errors"]}
    assert set(errors) == {"/app_slug", "/permissions/1", "/description", "/user_id"}
    assert "string" in errors["/app_slug"]
    assert "null" in errors["/user_id"]


@pytest.mark.parametrize("raw", ["[]", '"app"', "12", "null", "true"])
def test_a_body_that_is_not_an_object_is_422(client: ContractClient, raw: str) -> None:
    response = client.post(APPS, data=raw, headers={"Content-Type": "application/json"})
    error = only_error(response, 422)
    assert "object" in error["message"]


def test_a_huge_number_in_a_string_field_is_422(client: ContractClient) -> None:
    response = client.post(
        APPS,
        data='{"app_slug": 1' + "0" * 300 + ', "name": "n", "key_prefix": "k"}',
        headers={"Content-Type": "application/json"},
    )
    assert only_error(response, 422)["field"] == "/app_slug"


def test_a_body_over_2_mb_is_413(client: ContractClient) -> None:
    padding = "x" * (2 * 1024 * 1024)
    response = client.create(description=padding)
    assert only_error(response, 413)["message"] == "Request failed"


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_refused_oversize_body_is_read_to_its_end(client: ContractClient, declared) -> None:
    """So that the client can finish sending it and read the 413: a body
    refused unread let the server close the connection while the client was
    still writing, and the client saw a broken pipe instead of the answer."""
    body = b"x" * (3 * 1024 * 1024)
    stream = io.BytesIO(body)
    length = {"CONTENT_LENGTH": str(len(body))} if declared else {"CONTENT_LENGTH": ""}
    response = client.post(
        APPS,
        headers={"Content-Type": "application/json"},
        environ_overrides={"wsgi.input": stream, "wsgi.input_terminated": True, **length},
    )
    only_error(response, 413)
    assert stream.tell() == len(body)


def test_a_body_just_under_2_mb_is_accepted(client: ContractClient) -> None:
    response = client.create(description="x" * (2 * 1024 * 1024 - 200))
    assert response.status_code == 200


def test_a_content_length_that_is_not_a_number_is_400(client: ContractClient) -> None:
    response = client.post(
        APPS,
        data=b'{"app_slug": "x"}',
        headers={"Content-Type": "application/json"},
        environ_overrides={"CONTENT_LENGTH": "seventeen"},
    )
    assert "Content-Length" in only_error(response, 400)["detail"]


def test_without_a_length_no_body_is_read_unless_the_server_says_it_ends(
    client: ContractClient,
) -> None:
    """PEP 3333: without Content-Length, wsgi.input may be read to its end only
    when the server sets wsgi.input_terminated; otherwise a GET would wait for
    a body that never comes."""

    class NeverEnds(io.RawIOBase):
        reads = 0

        def read(self, size: int = -1) -> bytes:
            self.reads += 1
            return b""

    stream = NeverEnds()
    response = client.get(
        APPS,
        environ_overrides={
            "wsgi.input": stream,
            "wsgi.input_terminated": False,
            "CONTENT_LENGTH": "",
        },
    )
    assert response.status_code == 200
    assert stream.reads == 0


def test_head_answers_the_get_headers_without_a_body(client: ContractClient) -> None:
    got = client.get(APPS)  # checked against the contract like every response
    head = client.app.test_client().head(APPS, headers=AUTH)
    assert head.status_code == got.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == got.headers["Content-Length"] != "0"
    assert head.headers["Content-Type"] == got.headers["Content-Type"]


def test_unknown_path_is_404(client: ContractClient) -> None:
    assert only_error(client.get("/api-auth/nothing-here"), 404)["message"] == "Not found"


def test_wrong_method_is_405_with_allow(client: ContractClient) -> None:
    response = client.request("PUT", APPS, json={})
    assert only_error(response, 405)["message"] == "Method not allowed"
    assert "POST" in response.headers["Allow"].split(", ")


def test_a_plan_other_than_growth_is_403(make_client, fixture_dir: Path) -> None:
    set_plan(fixture_dir, "starter")
    response = make_client(fixtures_dir=fixture_dir).create()
    assert only_error(response, 403)["message"] == "API auth app creation requires Growth plan"


SEMANTIC_RULES = [
    (
        {"user_id": "1001", "permissions": []},
        "permissions/resources cannot be set when user_id is attached",
        "/permissions",
    ),
    (
        {"user_id": "1001", "resources": ["x"]},
        "permissions/resources cannot be set when user_id is attached",
        "/resources",
    ),
    (
        {"user_id": "1001", "workspace_id": "3999"},
        "workspace_id does not exist for this deployment",
        "/workspace_id",
    ),
    (
        {"user_id": "1001", "organization_id": "2002", "workspace_id": "3001"},
        "workspace_id does not belong to organization_id",
        "/workspace_id",
    ),
    (
        {"user_id": "1001", "organization_id": "2999"},
        "organization_id does not exist for this deployment",
        "/organization_id",
    ),
    ({"user_id": "1999"}, "user_id does not exist for this deployment", "/user_id"),
    (
        {"user_id": "1002", "organization_id": "2001"},
        "user_id is not a member of organization_id",
        "/user_id",
    ),
    (
        {"user_id": "1001", "organization_id": "2002"},
        "user_id is not a member of organization_id",
        "/user_id",
    ),
    (
        {"user_id": "1002", "workspace_id": "3002"},
        "user_id is not a member of organization_id",
        "/user_id",
    ),
    (
        {"organization_id": "2001"},
        "user_id is required when organization_id/workspace_id is provided",
        "/organization_id",
    ),
    (
        {"workspace_id": "3001"},
        "user_id is required when organization_id/workspace_id is provided",
        "/workspace_id",
    ),
]


@pytest.mark.parametrize(("fields", "message", "field"), SEMANTIC_RULES)
def test_semantic_rules_are_400_with_the_backend_message(
    client: ContractClient, fields: dict, message: str, field: str
) -> None:
    error = only_error(client.create(**fields), 400)
    assert error["message"] == message
    assert error["field"] == field


def test_a_user_in_the_organization_but_not_the_workspace_is_400(
    make_client, fixture_dir: Path
) -> None:
    path = fixture_dir / "directory.yaml"
    directory = yaml.safe_load(path.read_text())
    directory["organizations"][0]["workspaces"].append({"id": "3003", "name": "Acme QA"})
    path.write_text(yaml.safe_dump(directory))
    response = make_client(fixtures_dir=fixture_dir).create(user_id="1001", workspace_id="3003")
    assert only_error(response, 400)["message"] == "user_id is not a member of workspace_id"


def test_a_slug_used_twice_is_409_and_the_first_app_is_kept(client: ContractClient) -> None:
    first = client.create(name="First").get_json()
    error = only_error(client.create(name="Second"), 409)
    assert error["message"] == "Resource already exists"
    assert error["field"] == "/app_slug"
    assert client.get(f"{APPS}/my-integration").get_json() == first


def test_an_unexpected_failure_is_a_500_envelope(client: ContractClient, monkeypatch) -> None:
    context = client.app.extensions["mockserver"]

    def broken_insert(app):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(context.store, "insert_app", broken_insert)
    assert only_error(client.create(), 500)["message"] == "Something went wrong"


# --- the order the checks are applied in --------------------------------------


def test_auth_is_checked_before_the_content_type(client: ContractClient) -> None:
    only_error(client.post(APPS, data="x", headers={"Content-Type": "text/plain"}, auth=None), 401)


def test_content_type_is_checked_before_parsing(client: ContractClient) -> None:
    only_error(client.post(APPS, data="{", headers={"Content-Type": "text/plain"}), 415)


def test_schema_is_checked_before_the_plan(make_client, fixture_dir: Path) -> None:
    set_plan(fixture_dir, "free")
    assert make_client(fixtures_dir=fixture_dir).post(APPS, json={}).status_code == 422


def test_plan_is_checked_before_the_semantic_rules(make_client, fixture_dir: Path) -> None:
    set_plan(fixture_dir, "starter")
    response = make_client(fixtures_dir=fixture_dir).create(user_id="1999")
    only_error(response, 403)


def test_semantic_rules_come_before_the_duplicate_check(client: ContractClient) -> None:
    client.create()
    only_error(client.create(user_id="1999"), 400)


def test_a_refused_create_leaves_nothing_behind(client: ContractClient) -> None:
    only_error(client.create(user_id="1999"), 400)
    assert client.create().status_code == 200
