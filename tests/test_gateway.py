"""The gateway check, step by step, as the SDK's checkAuthz meets it.

Every answer is checked against the gateway's own OpenAPI document (or
openapi.yaml for the management calls) by the client (conftest.py).
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import ContractClient

from mockserver import Settings, create_app

CHECK = "/gateway/v1/authz/check"
BILLING_WORKER = "sk_live_GaR-HnC8yVFa36SA_C-L8zvQBoOXx66lkP8o3EmS9PM"
OLD_REPORTING_KEY = "sk_live_hGhGGsusVeIiLSk5ghQS5R0l3ZkElRmf6aZ6juJrrWs"  # expired
ERROR_BODY = {
    "allowed": False,
    "reason": None,
    "blocked_rule": None,
    "identity": None,
    "permissions": [],
    "metadata": None,
    "rate_limits": [],
    "retry_after": None,
    "headers": {},
}
FROZEN = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)


def started(client: ContractClient) -> ContractClient:
    """The client, knowing when its server started: audit rows from then on are
    the test's own (a fresh server also has a demo history before it)."""
    client.started = client.get("/__admin/clock").get_json()["now"]  # type: ignore[attr-defined]
    return client


@pytest.fixture
def client(state_location: Path | str) -> ContractClient:
    """On each engine: the counters live in the state's database (SQLite or PostgreSQL)."""
    return started(ContractClient(create_app(Settings(state_path=state_location))))


@pytest.fixture
def frozen(state_location: Path | str, counter_backend: dict[str, Any]) -> ContractClient:
    """The rate-limit tests' server: its state on each engine, its counters
    in the state, then in Redis."""
    settings = Settings(frozen_time=FROZEN, state_path=state_location, **counter_backend)
    return started(ContractClient(create_app(settings)))


def check(
    client: ContractClient,
    secret: str = BILLING_WORKER,
    resource: str = "/v1/invoices",
    method: str = "GET",
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> Any:
    body = {"principal": {"type": "api_key", "value": secret}, "resource": resource}
    body["method"] = method
    return client.post(CHECK, json={**body, **fields}, auth=None, headers=headers)


def refused(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert body["request_id"].startswith("req_")
    return {name: value for name, value in body.items() if name != "request_id"}


def audit(client: ContractClient, slug: str = "billing-sync") -> list[dict[str, Any]]:
    since = client.started  # type: ignore[attr-defined]
    response = client.get(f"/api-auth/apps/{slug}/audit/logs?start_date={since}")
    assert response.status_code == 200
    return response.get_json()["data"]


def new_app_with_rules(client: ContractClient, slug: str, rules: list[dict[str, Any]]) -> str:
    """An app of its own scheme, and the secret of a new key of it."""
    scheme = {"slug": f"{slug}-scheme", "name": slug, "rules": rules}
    assert client.post("/api-auth/rate-limit-schemes", json=scheme).status_code == 200
    app = client.create(app_slug=slug, rate_limit_scheme_slug=f"{slug}-scheme")
    assert app.status_code == 200, app.get_json()
    key = client.post(f"/api-auth/apps/{slug}/keys", json={"name": "k", "permissions": ["p"]})
    return key.get_json()["secret"]


def test_a_demo_key_is_admitted_with_its_identity_and_headers(client: ContractClient) -> None:
    response = check(client)
    assert response.status_code == 200
    body = response.get_json()
    assert body["allowed"] is True and body["reason"] is None and body["retry_after"] is None
    identity = body["identity"]
    assert identity["app_slug"] == "billing-sync" and identity["key_name"] == "Billing worker"
    assert identity["owner_user_id"] is None and identity["organization_id"] is None
    assert body["permissions"] == ["invoices:read", "invoices:write"]
    assert body["metadata"] == {"team": "billing", "tier": "gold"}
    # standard-api's rules for any resource, by priority: day (0), minute (5), second (10).
    assert [r["rule"] for r in body["rate_limits"]] == ["100000/86400s", "600/60s", "20/1s"]
    assert [r["remaining"] for r in body["rate_limits"]] == [99999, 599, 19]
    headers = body["headers"]
    assert headers["x-wacht-key-id"] == identity["key_id"]
    assert headers["x-wacht-app-slug"] == "billing-sync"
    assert headers["x-wacht-key-name"] == "Billing worker"
    assert headers["x-wacht-permissions"] == "invoices:read,invoices:write"
    assert headers["x-wacht-metadata"] == "team=billing,tier=gold"
    assert headers["x-ratelimit-60s-remaining"] == "599"
    assert "x-wacht-organization-id" not in headers and "x-wacht-permission-denied" not in headers


def test_a_key_of_an_app_with_a_user_carries_its_memberships(client: ContractClient) -> None:
    app = client.create(app_slug="members", user_id="1001", organization_id=2001)
    assert app.status_code == 200
    key = client.post("/api-auth/apps/members/keys", json={"name": "m", "permissions": ["z"]})
    body = check(client, key.get_json()["secret"]).get_json()
    assert body["identity"]["organization_membership_id"] == "4001"
    assert body["headers"]["x-wacht-organization-membership-id"] == "4001"
    # The union of the key's and its roles' permissions, deduplicated and sorted.
    assert body["permissions"] == ["invoices:read", "members:read", "org:manage", "z"]


@pytest.mark.parametrize("method", ["FETCH", "", "GET POST"])
def test_an_unknown_method_is_a_400_error_body(client: ContractClient, method: str) -> None:
    response = check(client, method=method)
    assert response.status_code == 400 and refused(response) == ERROR_BODY


@pytest.mark.parametrize("resource", ["", "   ", "?a=1", "#top", " ?x#y "])
def test_an_empty_resource_is_a_400_error_body(client: ContractClient, resource: str) -> None:
    response = check(client, resource=resource)
    assert response.status_code == 400 and refused(response) == ERROR_BODY


def test_method_and_resource_are_normalized(client: ContractClient) -> None:
    response = check(client, resource="  v1/users?page=2#frag ", method=" post ")
    assert response.get_json()["allowed"] is True
    assert audit(client)[0]["path"] == "POST /v1/users"


@pytest.mark.parametrize(
    "secret",
    ["", "   ", "sk_live_short", "x" * 45, BILLING_WORKER[:-1] + "*", BILLING_WORKER[:-3] + "é"],
)
def test_a_malformed_key_is_a_401_error_body(client: ContractClient, secret: str) -> None:
    response = check(client, secret)
    assert response.status_code == 401 and refused(response) == ERROR_BODY
    assert audit(client) == []  # steps 1 to 5 write no audit row


def test_an_unknown_key_is_a_plain_text_401(client: ContractClient) -> None:
    response = check(client, "sk_live_" + "A" * 43)
    assert response.status_code == 401
    assert (
        response.mimetype == "text/plain" and response.get_data(as_text=True) == "Invalid API key"
    )


def test_a_key_with_surrounding_blanks_is_found(client: ContractClient) -> None:
    assert check(client, f"  {BILLING_WORKER}\n").get_json()["allowed"] is True


def test_revoked_keys_and_keys_of_inactive_or_deleted_apps_are_invalid(
    client: ContractClient,
) -> None:
    key = client.post("/api-auth/apps/support-bot/keys", json={"name": "k"}).get_json()
    assert check(client, key["secret"]).status_code == 200
    assert client.patch("/api-auth/apps/support-bot", json={"is_active": False}).status_code == 200
    assert check(client, key["secret"]).get_data(as_text=True) == "Invalid API key"
    assert client.patch("/api-auth/apps/support-bot", json={"is_active": True}).status_code == 200
    assert check(client, key["secret"]).status_code == 200  # accepted again
    revoke = f"/api-auth/apps/support-bot/keys/{key['id']}/revoke"
    assert client.post(revoke, json={}).status_code == 200
    assert check(client, key["secret"]).status_code == 401
    assert client.delete("/api-auth/apps/billing-sync").status_code == 200
    assert check(client).get_data(as_text=True) == "Invalid API key"


def test_a_rotated_out_key_is_invalid_and_its_successor_valid(client: ContractClient) -> None:
    key = client.post("/api-auth/apps/support-bot/keys", json={"name": "k"}).get_json()
    rotated = client.post(f"/api-auth/apps/support-bot/keys/{key['id']}/rotate").get_json()
    assert check(client, key["secret"]).status_code == 401
    assert check(client, rotated["secret"]).get_json()["allowed"] is True


def test_an_expired_key_is_a_401_error_body(client: ContractClient) -> None:
    response = check(client, OLD_REPORTING_KEY)
    assert response.status_code == 401 and refused(response) == ERROR_BODY


def test_oauth_tokens_are_answered_as_unknown_tokens(client: ContractClient) -> None:
    body = {"principal": {"type": "oauth_access_token", "value": "t" * 50}}
    response = client.post(CHECK, json={**body, "resource": "/x", "method": "GET"}, auth=None)
    assert response.status_code == 401 and refused(response) == ERROR_BODY


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"principal": {"type": "api_key", "value": "v"}, "resource": "/x"}, 422),
        ({"principal": {"type": "api_key", "value": "v"}, "method": "GET"}, 422),
        ({"resource": "/x", "method": "GET"}, 422),
        ({"principal": {"type": "cookie", "value": "v"}, "resource": "/x", "method": "GET"}, 422),
        (
            {
                "principal": {"type": "api_key", "value": "v"},
                "resource": "/",
                "method": "GET",
                "x": 1,
            },
            422,
        ),
        (
            {
                "principal": {"type": "api_key", "value": "v", "x": 1},
                "resource": "/",
                "method": "G",
            },
            422,
        ),
    ],
)
def test_bodies_of_the_wrong_shape_are_plain_text_422s(
    client: ContractClient, body: dict[str, Any], status: int
) -> None:
    response = client.post(CHECK, json=body, auth=None)
    assert response.status_code == status and response.mimetype == "text/plain"


def test_not_json_and_no_json_content_type_are_plain_text(client: ContractClient) -> None:
    broken = client.post(CHECK, data="{", content_type="application/json", auth=None)
    assert broken.status_code == 400 and broken.mimetype == "text/plain"
    text = client.post(CHECK, data="{}", content_type="text/plain", auth=None)
    assert text.status_code == 415 and text.mimetype == "text/plain"


def test_the_gateway_needs_no_caller_key_and_has_a_text_health(client: ContractClient) -> None:
    assert check(client, headers={"Authorization": "Bearer wrong"}).status_code == 200
    health = client.get("/gateway/health", auth=None)
    assert health.status_code == 200 and health.get_data(as_text=True) == "OK"


@pytest.mark.parametrize(
    ("required", "allowed"),
    [
        ([], True),
        (["  ", ""], True),
        (["invoices:read"], True),
        ([" invoices:read ", "invoices:write"], True),
        (["invoices:read,invoices:write"], True),
        (["invoices:read, refunds:write"], False),
        (["invoices:read AND refunds:write"], False),
        (["refunds:write OR invoices:write"], True),
        (["refunds:write AND invoices:read OR invoices:write"], True),  # (a AND b) OR c
        (["invoices:read AND (refunds:write OR invoices:write)"], True),
        (["(refunds:write OR invoices:write) AND invoices:read"], True),
        (["(refunds:write OR x) AND invoices:read"], False),
        (["Invoices:Read"], False),  # case-sensitive
        (["invoices:*"], False),  # no wildcards
        (["*"], False),
        (["(invoices:read"], False),  # does not parse: grants nothing
    ],
)
def test_permission_expressions(client: ContractClient, required: list[str], allowed: bool) -> None:
    body = check(client, required_permissions=required).get_json()
    assert body["allowed"] is allowed
    if not allowed:
        assert body["reason"] == body["blocked_rule"] == "permission_denied"
        assert body["rate_limits"] == [] and body["headers"]["x-wacht-permission-denied"] == "true"


def test_a_permission_denial_counts_no_rate_limit_but_is_audited(client: ContractClient) -> None:
    check(client, required_permissions=["nope"])
    row = audit(client)[0]
    assert (row["outcome"], row["blocked_by_rule"], row["rate_limits"]) == (
        "BLOCKED",
        "permission_denied",
        [],
    )
    assert check(client).get_json()["rate_limits"][1]["remaining"] == 599


def test_a_wildcard_permission_is_a_literal_name(client: ContractClient) -> None:
    smoke = "sk_test_9TpZHBCTiEmtRRfROukZGVKUHHOZ7vAClkmU0AcyFuQ"  # holds "*"
    assert check(client, smoke, required_permissions=["*"]).get_json()["allowed"] is True
    assert check(client, smoke, required_permissions=["read"]).get_json()["allowed"] is False


def test_a_rate_limited_check_names_the_first_blocking_rule_and_when_to_retry(
    frozen: ContractClient,
) -> None:
    secret = new_app_with_rules(
        frozen,
        "tight",
        [
            {"unit": "minute", "duration": 1, "max_requests": 2, "mode": "per_key", "priority": 1},
            {"unit": "hour", "duration": 1, "max_requests": 3, "mode": "per_key", "priority": 2},
        ],
    )
    first, second, third = (check(frozen, secret).get_json() for _ in range(3))
    assert [r["remaining"] for r in first["rate_limits"]] == [1, 2]
    assert [r["remaining"] for r in second["rate_limits"]] == [0, 1]
    assert third["allowed"] is False and third["reason"] == "rate_limited"
    assert third["blocked_rule"] == "2/60s"
    # The hour rule admitted the third check and counted it: no short circuit.
    assert [r["remaining"] for r in third["rate_limits"]] == [0, 0]
    assert third["retry_after"] == 30_000  # the frozen clock is at :30 of its minute
    assert third["headers"]["x-ratelimit-60s-reset"] == "30000"
    assert "x-ratelimit-3600s-reset" not in third["headers"]
    row = audit(frozen, "tight")[0]
    assert (row["outcome"], row["blocked_by_rule"]) == ("BLOCKED", "2/60s")
    assert row["rate_limits"] == third["rate_limits"]
    fourth = check(frozen, secret).get_json()
    assert fourth["blocked_rule"] == "2/60s"  # both block; the first in priority order
    assert fourth["retry_after"] == 30_000  # the nearest reset of the blocking rules
    assert set(fourth["headers"]) >= {"x-ratelimit-60s-reset", "x-ratelimit-3600s-reset"}


def test_rules_apply_by_endpoint_and_sort_by_priority_stably(frozen: ContractClient) -> None:
    rule = {"unit": "second", "duration": 1, "mode": "per_app"}
    secret = new_app_with_rules(
        frozen,
        "routes",
        [
            {**rule, "max_requests": 7, "priority": 3, "endpoints": ["/v1/exports"]},
            {**rule, "max_requests": 8, "priority": 1},
            {**rule, "max_requests": 9, "priority": 1, "endpoints": ["*"]},
            {**rule, "max_requests": 5, "priority": 0, "endpoints": ["/v1"]},
        ],
    )
    exports = check(frozen, secret, "/v1/exports?x=1").get_json()["rate_limits"]
    assert [r["limit"] for r in exports] == [8, 9, 7]
    nested = check(frozen, secret, "/v1/exports/7").get_json()["rate_limits"]
    assert [r["limit"] for r in nested] == [8, 9]  # no prefixes
    assert check(frozen, secret, "/v1").get_json()["rate_limits"][0]["limit"] == 5


def test_a_scheme_whose_rules_do_not_match_means_no_limit(frozen: ContractClient) -> None:
    secret = new_app_with_rules(
        frozen,
        "narrow",
        [{"unit": "minute", "duration": 1, "max_requests": 1, "endpoints": ["/only"]}],
    )
    for _ in range(3):
        body = check(frozen, secret, "/elsewhere").get_json()
        assert body["allowed"] is True and body["rate_limits"] == []
    assert len(audit(frozen, "narrow")) == 3


def test_without_a_scheme_the_built_in_rule_applies_per_app(client: ContractClient) -> None:
    assert client.create(app_slug="plain").status_code == 200
    keys = [
        client.post("/api-auth/apps/plain/keys", json={"name": n}).get_json()["secret"]
        for n in "ab"
    ]
    first = check(client, keys[0]).get_json()["rate_limits"]
    second = check(client, keys[1], "/other").get_json()["rate_limits"]
    assert first == [{"rule": "1000/60s", "remaining": 999, "limit": 1000}]
    assert second[0]["remaining"] == 998  # one counter for the whole app


@pytest.mark.parametrize(
    ("mode", "shared_by"),
    [
        ("per_app", {"other key", "other resource", "other ip"}),
        ("per_key", {"other ip"}),
        ("per_key_and_ip", set()),
        ("per_app_and_ip", {"other key", "other resource"}),
        (None, {"other key", "other resource", "other ip"}),  # absent: per_app
    ],
)
def test_counters_by_mode(frozen: ContractClient, mode: str | None, shared_by: set[str]) -> None:
    rule: dict[str, Any] = {"unit": "hour", "duration": 1, "max_requests": 10}
    if mode is not None:
        rule["mode"] = mode
    secret = new_app_with_rules(frozen, "modes", [rule])
    other = frozen.post("/api-auth/apps/modes/keys", json={"name": "o"}).get_json()["secret"]
    check(frozen, secret, "/a", client_ip="10.0.0.1")
    variants = {
        "other key": check(frozen, other, "/a", client_ip="10.0.0.1"),
        "other resource": check(frozen, secret, "/b", client_ip="10.0.0.1"),
        "other ip": check(frozen, secret, "/a", client_ip="10.0.0.2"),
    }
    shared = {
        name
        for name, response in variants.items()
        if response.get_json()["rate_limits"][0]["remaining"] < 9
    }
    assert shared == shared_by


def test_the_caller_context_comes_from_the_body_then_the_headers(client: ContractClient) -> None:
    forwarded = {"X-Original-Client-Ip": "203.0.113.9", "X-Original-User-Agent": "proxy/1"}
    check(client, headers=forwarded)
    check(client, client_ip="198.51.100.1", user_agent="sdk/2", headers=forwarded)
    check(client, headers={"User-Agent": "plain/3"})
    newest, middle, oldest = audit(client)[:3]
    assert (oldest["client_ip"], oldest["user_agent"]) == ("203.0.113.9", "proxy/1")
    assert (middle["client_ip"], middle["user_agent"]) == ("198.51.100.1", "sdk/2")
    assert (newest["client_ip"], newest["user_agent"]) == ("127.0.0.1", "plain/3")
    assert newest["outcome"] == "VALID" and newest["path"] == "GET /v1/invoices"


def test_changes_through_the_api_apply_at_once(frozen: ContractClient) -> None:
    secret = new_app_with_rules(
        frozen, "live", [{"unit": "minute", "duration": 1, "max_requests": 1}]
    )
    check(frozen, secret)
    assert check(frozen, secret).get_json()["allowed"] is False
    rules = {"rules": [{"unit": "minute", "duration": 1, "max_requests": 5}]}
    assert frozen.patch("/api-auth/rate-limit-schemes/live-scheme", json=rules).status_code == 200
    assert check(frozen, secret).get_json()["allowed"] is True


def test_an_audit_of_size_0_is_off_and_the_gateway_still_decides() -> None:
    client = started(ContractClient(create_app(Settings(audit_size=0))))
    assert check(client).get_json()["allowed"] is True
    denied = check(client, required_permissions=["nope"]).get_json()
    assert (denied["allowed"], denied["reason"]) == (False, "permission_denied")
    logs = client.get("/api-auth/apps/billing-sync/audit/logs?limit=1000").get_json()
    assert logs["data"] == []  # not even the demo history
