"""The API key endpoints: list, create, revoke and rotate, and GET /health.

Every answer is checked against openapi.yaml by the client (conftest.py).
"""

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ContractClient

from mockserver import Settings, create_app
from mockserver.backend.fixtures import FixtureError

KEYS = "/api-auth/apps/{}/keys"
SECRET = re.compile(r"^(?P<prefix>.+)_(?P<body>[A-Za-z0-9_-]{43})$")
# Fields the backend leaves out of a key when they are null.
OMITTED_WHEN_NULL = {
    "rate_limit_scheme_slug",
    "owner_user_id",
    "organization_id",
    "workspace_id",
    "organization_membership_id",
    "workspace_membership_id",
}


def make_key(client: ContractClient, slug: str = "billing-sync", **fields: Any) -> dict[str, Any]:
    response = client.post(KEYS.format(slug), json={"name": "worker", **fields})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def listed(client: ContractClient, slug: str, query: str = "") -> list[dict[str, Any]]:
    response = client.get(KEYS.format(slug) + query)
    assert response.status_code == 200
    return response.get_json()["keys"]


def message(response: Any) -> str:
    return response.get_json()["errors"][0]["message"]


@pytest.fixture
def client(make_client: Any, state_location: Path | str) -> ContractClient:
    """On each engine, SQLite and PostgreSQL: the keys' table behaves the same."""
    return make_client(state_path=state_location)


def test_a_fresh_server_lists_the_demo_keys_newest_first_without_secrets(
    client: ContractClient,
) -> None:
    keys = listed(client, "billing-sync")
    assert [key["name"] for key in keys] == ["Old reporting key", "Billing worker"]
    assert all("secret" not in key for key in keys)
    # The list shows each key's scheme's rules; an expired key is still listed.
    scheme = client.get("/api-auth/rate-limit-schemes/standard-api").get_json()
    assert keys[0]["rate_limits"] == scheme["rules"]
    assert keys[0]["expires_at"] == "2025-12-31T00:00:00Z"
    # Without a user, organization or workspace those fields are left out.
    assert OMITTED_WHEN_NULL - {"rate_limit_scheme_slug"} <= OMITTED_WHEN_NULL - set(keys[0])


def test_create_answers_the_flat_key_with_its_secret_once(client: ContractClient) -> None:
    created = make_key(client, name="", permissions=["a", "b"], metadata=[1, "x"])
    match = SECRET.match(created["secret"])
    assert match is not None and match["prefix"] == "sk_live" == created["key_prefix"]
    assert created["key_suffix"] == created["secret"][-8:]
    assert created["name"] == "" and created["permissions"] == ["a", "b"]
    assert created["metadata"] == [1, "x"]
    assert created["rate_limits"] == []  # always empty in the create answer
    assert created["rate_limit_scheme_slug"] == "standard-api"  # copied from the app
    assert created["is_active"] is True and created["revoked_at"] is None
    first = listed(client, "billing-sync")[0]
    assert first["id"] == created["id"] and "secret" not in first
    assert first["rate_limits"] != []


def test_defaults_of_a_create(client: ContractClient) -> None:
    created = make_key(client, permissions=None, metadata=None, expires_at=None, extra="ignored")
    assert (created["permissions"], created["metadata"], created["expires_at"]) == ([], {}, None)
    assert "extra" not in created


def test_only_the_secrets_sha256_is_stored(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite3"
    client = ContractClient(create_app(Settings(state_path=state)))
    secret = make_key(client)["secret"]
    stored = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    assert secret.encode() not in stored
    assert hashlib.sha256(secret.encode()).hexdigest().encode() in stored


def test_a_past_expiry_is_accepted(client: ContractClient) -> None:
    created = make_key(client, expires_at="2025-02-01T00:00:00+02:00")
    assert created["expires_at"] == "2025-01-31T22:00:00Z"


def test_create_refusals_in_the_backends_order(client: ContractClient) -> None:
    missing_app = client.post(KEYS.format("no-such-app"), json={"name": "k"})
    assert missing_app.status_code == 404 and message(missing_app) == "API key app not found"
    # Types are checked before the app is looked up.
    wrong = client.post(KEYS.format("no-such-app"), json={"name": 5})
    assert wrong.status_code == 422 and wrong.get_json()["errors"][0]["field"] == "/name"
    nameless = client.post(KEYS.format("billing-sync"), json={})
    assert nameless.status_code == 422
    not_json = client.post(KEYS.format("billing-sync"), data="{", content_type="application/json")
    assert not_json.status_code == 400
    text = client.post(KEYS.format("billing-sync"), data="name", content_type="text/plain")
    assert text.status_code == 415


def test_keys_of_an_app_with_a_user_get_its_memberships_and_role_permissions(
    client: ContractClient,
) -> None:
    app = client.create(
        app_slug="member-app", user_id=1001, organization_id="2001", workspace_id=3001
    )
    assert app.status_code == 200, app.get_json()
    key = make_key(client, "member-app", permissions=["own"])
    assert key["owner_user_id"] == "1001"
    assert (key["organization_id"], key["workspace_id"]) == ("2001", "3001")
    assert key["organization_membership_id"] == "4001"
    assert key["workspace_membership_id"] == "5001"
    assert key["org_role_permissions"] == ["org:manage", "members:read", "invoices:read"]
    assert key["workspace_role_permissions"] == ["deploys:write", "logs:read"]
    assert key["permissions"] == ["own"]  # not inherited from the app


def _directory_with_user_1003(fixture_dir: Path, organizations: list, workspaces: list) -> None:
    path = fixture_dir / "directory.yaml"
    document = yaml.safe_load(path.read_text())
    document["users"] = [user for user in document["users"] if user["id"] != "1003"]
    user = {"id": "1003", "name": "Hedy Lamarr", "email": "hedy@globex.example"}
    document["users"].append({**user, "organizations": organizations, "workspaces": workspaces})
    path.write_text(yaml.safe_dump(document, sort_keys=False))


@pytest.mark.parametrize(
    ("organizations", "workspaces"),
    [([], []), ([{"id": "2002", "membership_id": "4003"}], [])],
    ids=["left-the-organization", "left-only-the-workspace"],
)
def test_create_and_rotate_refuse_a_key_when_the_apps_user_is_no_longer_a_member(
    fixture_dir: Path, tmp_path: Path, organizations: list, workspaces: list
) -> None:
    # An app can only be made for a member; the user leaves later (here: the
    # directory changes between two runs over one --state file).
    state = tmp_path / "state.sqlite3"
    member = [{"id": "2002", "membership_id": "4003"}], [{"id": "3002", "membership_id": "5003"}]
    _directory_with_user_1003(fixture_dir, *member)
    before = ContractClient(create_app(Settings(fixtures_dir=fixture_dir, state_path=state)))
    app = before.create(app_slug="globex-app", user_id="1003", workspace_id="3002")
    assert app.status_code == 200, app.get_json()
    key = make_key(before, "globex-app")
    assert (key["organization_membership_id"], key["workspace_membership_id"]) == ("4003", "5003")

    _directory_with_user_1003(fixture_dir, organizations, workspaces)
    after = ContractClient(create_app(Settings(fixtures_dir=fixture_dir, state_path=state)))
    created = after.post(KEYS.format("globex-app"), json={"name": "worker"})
    assert created.status_code == 400
    assert created.get_json()["errors"] == [
        {"message": "user is not a member of the org", "code": 400}
    ]
    rotated = after.post(f"{KEYS.format('globex-app')}/{key['id']}/rotate")
    assert rotated.status_code == 400 and message(rotated) == "user is not a member of the org"
    # Neither made a key, and the rotate left the old one active.
    (only,) = listed(after, "globex-app", "?include_inactive=true")
    assert only["id"] == key["id"] and only["is_active"] is True
    # The checks before it still come first: a missing app is the 404.
    assert after.post(KEYS.format("nowhere"), json={"name": "w"}).status_code == 404


def test_revoke_hides_the_key_unless_inactive_keys_are_asked_for(client: ContractClient) -> None:
    key = make_key(client)
    path = f"{KEYS.format('billing-sync')}/{key['id']}/revoke"
    response = client.post(path, json={"reason": "leaked", "key_id": "ignored"})
    assert response.status_code == 200 and response.get_json() == {}
    assert key["id"] not in [k["id"] for k in listed(client, "billing-sync")]
    revoked = next(
        k for k in listed(client, "billing-sync", "?include_inactive=true") if k["id"] == key["id"]
    )
    assert revoked["is_active"] is False and revoked["revoked_reason"] == "leaked"
    assert revoked["revoked_at"] == revoked["updated_at"] is not None
    again = client.post(path, json={})
    assert again.status_code == 404
    assert message(again) == "API key not found or already revoked"


def test_include_inactive_takes_only_true_or_false(client: ContractClient) -> None:
    response = client.get(KEYS.format("billing-sync") + "?include_inactive=maybe")
    # The backend's text is "Bad request"; mockserver's query check names the parameter.
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["parameter"] == "include_inactive"


def test_revoke_refusals(client: ContractClient) -> None:
    key = make_key(client)
    base = KEYS.format("billing-sync")
    not_a_number = client.post(f"{base}/abc/revoke", json={})
    assert not_a_number.status_code == 400 and message(not_a_number) == "Bad request"
    unknown = client.post(f"{base}/12345/revoke", json={})
    assert unknown.status_code == 404 and message(unknown) == "API key not found"
    other_app = client.post(f"{KEYS.format('support-bot')}/{key['id']}/revoke", json={})
    assert other_app.status_code == 404 and message(other_app) == "API key not found"
    no_app = client.post(f"{KEYS.format('nope')}/{key['id']}/revoke", json={})
    assert no_app.status_code == 404 and message(no_app) == "API key app not found"
    no_body = client.post(f"{base}/{key['id']}/revoke")
    assert no_body.status_code in (400, 415)
    assert listed(client, "billing-sync")[0]["is_active"] is True


def test_rotate_retires_the_key_and_issues_a_copy_with_a_new_secret(
    client: ContractClient,
) -> None:
    old = make_key(
        client, name="w", permissions=["p"], metadata={"m": 1}, expires_at="2030-01-01T00:00:00Z"
    )
    path = f"{KEYS.format('billing-sync')}/{old['id']}/rotate"
    response = client.post(path, data="not even json")  # the body is ignored
    assert response.status_code == 200
    new = response.get_json()
    assert new["id"] != old["id"] and new["secret"] != old["secret"]
    for field in ("name", "key_prefix", "permissions", "metadata", "expires_at"):
        assert new[field] == old[field]
    assert new["rate_limit_scheme_slug"] == old["rate_limit_scheme_slug"]
    assert new["rate_limits"] == []
    everything = {k["id"]: k for k in listed(client, "billing-sync", "?include_inactive=true")}
    retired = everything[old["id"]]
    assert retired["is_active"] is False and retired["revoked_reason"] == "Rotated"
    assert retired["revoked_at"] == new["created_at"]
    again = client.post(path)
    assert again.status_code == 404 and message(again) == "API key not found or inactive"


def test_rotate_needs_an_active_app_where_revoke_and_list_do_not(client: ContractClient) -> None:
    key = make_key(client)
    patched = client.patch("/api-auth/apps/billing-sync", json={"is_active": False})
    assert patched.status_code == 200
    assert listed(client, "billing-sync")  # an inactive app is found
    base = KEYS.format("billing-sync")
    rotate = client.post(f"{base}/{key['id']}/rotate")
    assert rotate.status_code == 404 and message(rotate) == "API key app not found or inactive"
    assert client.post(f"{base}/{key['id']}/revoke", json={}).status_code == 200


def test_keys_of_a_deleted_app_are_not_found(client: ContractClient) -> None:
    assert client.delete("/api-auth/apps/billing-sync").status_code == 200
    response = client.get(KEYS.format("billing-sync"))
    assert response.status_code == 404 and message(response) == "API key app not found"


def test_an_app_update_of_its_scheme_rewrites_its_keys(client: ContractClient) -> None:
    key = make_key(client)
    body = {"rate_limit_scheme_slug": "default-rate-limits"}
    assert client.patch("/api-auth/apps/billing-sync", json=body).status_code == 200
    updated = next(k for k in listed(client, "billing-sync") if k["id"] == key["id"])
    assert updated["rate_limit_scheme_slug"] == "default-rate-limits"
    assert updated["updated_at"] > key["updated_at"]


def test_seeded_servers_issue_the_same_secrets() -> None:
    def secrets_of_a_new_server() -> list[str]:
        client = ContractClient(create_app(Settings(seed=42)))
        return [make_key(client)["secret"] for _ in range(2)]

    first = secrets_of_a_new_server()
    assert first == secrets_of_a_new_server()
    assert len(set(first)) == 2


def test_health_needs_no_key(client: ContractClient) -> None:
    response = client.get("/health", auth=None)
    assert response.status_code == 200 and response.get_json()["status"] == "healthy"


def test_a_fixture_secret_the_gateway_would_refuse_is_a_fixture_error(fixture_dir: Path) -> None:
    apps = fixture_dir / "apps.yaml"
    good = "sk_live_GaR-HnC8yVFa36SA_C-L8zvQBoOXx66lkP8o3EmS9PM"
    apps.write_text(apps.read_text().replace(good, "sk_live_too*short"))
    with pytest.raises(FixtureError) as raised:
        create_app(Settings(fixtures_dir=fixture_dir))
    assert "sk_live_too*short" in str(raised.value) and "Billing worker" in str(raised.value)
