"""No secret reaches the journal or the log, and the journal (which the
inspector reads) tells a gateway check's decision."""

from typing import Any

import pytest
from conftest import ContractClient

from mockserver.http.secrets import masked_body

CHECK = "/gateway/v1/authz/check"
BILLING_WORKER = "sk_live_GaR-HnC8yVFa36SA_C-L8zvQBoOXx66lkP8o3EmS9PM"


def check(client: ContractClient, secret: str, **fields: Any) -> Any:
    body = {"principal": {"type": "api_key", "value": secret}, "resource": "/r", "method": "GET"}
    return client.post(CHECK, json={**body, **fields}, auth=None)


def journal(client: ContractClient) -> list[dict[str, Any]]:
    response = client.get("/__admin/requests")
    assert response.status_code == 200
    return response.get_json()["requests"]


def test_secrets_are_masked_in_the_journal_and_the_log(
    client: ContractClient, capsys: pytest.CaptureFixture[str]
) -> None:
    created = client.post("/api-auth/apps/billing-sync/keys", json={"name": "k"}).get_json()
    secret = created["secret"]
    check(client, secret)
    check(client, secret, unknown="field")  # a plain-text 422, body still journaled
    client.post(CHECK, data=f'{{"principal": "{secret}"', content_type="application/json")
    client.post("/api-auth/apps/billing-sync/keys", json={"name": "n", "secret": secret})
    rotated = client.post(f"/api-auth/apps/billing-sync/keys/{created['id']}/rotate").get_json()
    recorded = str(journal(client))
    printed = capsys.readouterr().out
    for text in (recorded, printed):
        assert secret not in text and rotated["secret"] not in text
        assert secret[-20:] not in text
    gateway_bodies = [e["body"] for e in journal(client) if e["path"] == CHECK]
    assert gateway_bodies[-1]["principal"]["value"].startswith("••••")
    assert gateway_bodies[-1]["principal"]["type"] == "api_key"  # the rest stays readable


def test_the_journal_tells_each_checks_decision(client: ContractClient) -> None:
    scheme = {
        "slug": "one",
        "name": "One",
        "rules": [{"unit": "hour", "duration": 1, "max_requests": 1}],
    }
    client.post("/api-auth/rate-limit-schemes", json=scheme)
    client.create(app_slug="d", rate_limit_scheme_slug="one")
    secret = client.post("/api-auth/apps/d/keys", json={"name": "k"}).get_json()["secret"]
    check(client, secret)
    check(client, secret)
    check(client, secret, required_permissions=["admin"])
    check(client, secret, method="BREW")
    decisions = [e["decision"] for e in journal(client) if e["path"] == CHECK]
    assert decisions == [
        {"allowed": False, "reason": "unknown method"},
        {"allowed": False, "reason": "permission_denied", "blocked_rule": "permission_denied"},
        {"allowed": False, "reason": "rate_limited", "blocked_rule": "1/3600s"},
        {"allowed": True},
    ]
    others = [e["decision"] for e in journal(client) if e["path"] != CHECK]
    assert others and all(decision is None for decision in others)


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        ('{"name": "x", "api_key": "abcdefghijkl"}', '"name":"x"'),
        ('{"a": [{"client_secret": "abcdefghijkl"}]}', '"a"'),
        (f"not json {BILLING_WORKER} at all", "not json"),
        (f'{{"note": "{BILLING_WORKER}"}}', '"note"'),
    ],
)
def test_masked_body(body: str, kept: str) -> None:
    masked = masked_body(body)
    assert "abcdefghijkl" not in masked and BILLING_WORKER not in masked
    assert kept in masked
