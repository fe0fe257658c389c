"""The management API's own checks of its caller's key, in the backend's order:
the key (401), its permissions (403), its rate limit (429).

sk_test_limited names five-a-minute (5 a minute, per key and path); the
default dev key names none and is never limited. sk_test_readonly may only
read (GET); a fixture key without permissions may make every call.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ContractClient

from mockserver import Settings, create_app

LIMITED = "Bearer sk_test_limited"
READ_ONLY = "Bearer sk_test_readonly"
DENIED = "Permission denied for this resource"
LIMIT = "five-a-minute"  # a fixture scheme: 5 calls a minute
FROZEN = datetime(2026, 4, 1, 8, 0, 15, tzinfo=UTC)


@pytest.fixture
def frozen(counter_backend: dict[str, Any]) -> ContractClient:
    """Counted in SQLite, then in Redis (redis_support.py)."""
    return ContractClient(create_app(Settings(frozen_time=FROZEN, **counter_backend)))


def test_the_sixth_call_in_a_minute_is_a_429_saying_when_to_retry(frozen: ContractClient) -> None:
    statuses = [frozen.get("/api-auth/apps", auth=LIMITED).status_code for _ in range(5)]
    assert statuses == [200] * 5
    refused = frozen.get("/api-auth/apps", auth=LIMITED)
    assert refused.status_code == 429
    # 45 s remain in the frozen minute.
    assert (
        refused.get_json()["errors"][0]["message"] == "Rate limit exceeded. Retry after 45 seconds"
    )
    assert refused.headers["Retry-After"] == "45"
    # Another path has a counter of its own.
    assert frozen.get("/api-auth/rate-limit-schemes", auth=LIMITED).status_code == 200
    # A refused call is not carried out: a create over the limit makes nothing.
    body = {"app_slug": "x", "name": "n", "key_prefix": "sk_x"}
    assert frozen.post("/api-auth/apps", json=body, auth=LIMITED).status_code == 429
    assert frozen.get("/api-auth/apps/x").status_code == 404
    frozen.post("/__admin/clock", json={"advance_seconds": 45})
    assert frozen.get("/api-auth/apps", auth=LIMITED).status_code == 200


def test_retry_after_is_rounded_up_to_whole_seconds(frozen: ContractClient) -> None:
    frozen.post("/__admin/clock", json={"advance_seconds": 44.2})
    for _ in range(5):
        frozen.get("/api-auth/apps", auth=LIMITED)
    refused = frozen.get("/api-auth/apps", auth=LIMITED)
    assert refused.headers["Retry-After"] == "1"  # 0.8 s left


def test_the_default_dev_key_is_not_limited(frozen: ContractClient) -> None:
    assert {frozen.get("/api-auth/apps").status_code for _ in range(30)} == {200}


def message(response: Any) -> str:
    return response.get_json()["errors"][0]["message"]


def with_keys(fixture_dir: Path, *keys: dict[str, Any], **settings: Any) -> ContractClient:
    """A server whose deployment also accepts ``keys``."""
    path = fixture_dir / "deployment.yaml"
    document = yaml.safe_load(path.read_text())
    document["api_keys"].extend(keys)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return ContractClient(create_app(Settings(fixtures_dir=fixture_dir, **settings)))


def test_the_read_only_key_reads_everything(client: ContractClient) -> None:
    for path in (
        "/api-auth/apps",
        "/api-auth/apps/billing-sync",
        "/api-auth/rate-limit-schemes",
        "/api-auth/rate-limit-schemes/standard-api",
        "/api-auth/apps/billing-sync/keys",
        "/api-auth/apps/billing-sync/audit/analytics",
    ):
        assert client.get(path, auth=READ_ONLY).status_code == 200, path


def test_every_write_of_the_read_only_key_is_a_403_and_changes_nothing(
    client: ContractClient,
) -> None:
    key_id = client.get("/api-auth/apps/billing-sync/keys").get_json()["keys"][0]["id"]
    writes = [
        ("POST", "/api-auth/apps", {"app_slug": "x", "name": "n", "key_prefix": "sk_x"}),
        ("PATCH", "/api-auth/apps/billing-sync", {"name": "Renamed"}),
        ("DELETE", "/api-auth/apps/billing-sync", None),
        ("POST", "/api-auth/rate-limit-schemes", {"slug": "s", "name": "S", "rules": []}),
        ("PATCH", "/api-auth/rate-limit-schemes/standard-api", {"name": "Renamed"}),
        ("DELETE", "/api-auth/rate-limit-schemes/five-a-minute", None),
        ("POST", "/api-auth/apps/billing-sync/keys", {"name": "k"}),
        ("POST", f"/api-auth/apps/billing-sync/keys/{key_id}/revoke", {}),
        ("POST", f"/api-auth/apps/billing-sync/keys/{key_id}/rotate", {}),
    ]
    before = (
        client.get("/api-auth/apps?include_inactive=true").get_json(),
        client.get("/api-auth/rate-limit-schemes").get_json(),
        client.get("/api-auth/apps/billing-sync/keys?include_inactive=true").get_json(),
    )
    for method, path, body in writes:
        refused = client.request(method, path, json=body, auth=READ_ONLY)
        assert refused.status_code == 403, (method, path)
        assert message(refused) == DENIED
        assert "'write'" in refused.get_json()["errors"][0]["detail"]
    after = (
        client.get("/api-auth/apps?include_inactive=true").get_json(),
        client.get("/api-auth/rate-limit-schemes").get_json(),
        client.get("/api-auth/apps/billing-sync/keys?include_inactive=true").get_json(),
    )
    assert after == before


def test_permissions_come_after_the_key_and_before_the_request_is_read(
    client: ContractClient,
) -> None:
    # No key, an unknown key, an expired key: 401, whatever the key could do.
    assert client.post("/api-auth/apps", json={}, auth=None).status_code == 401
    assert client.post("/api-auth/apps", json={}, auth="Bearer sk_test_nobody").status_code == 401
    assert client.post("/api-auth/apps", json={}, auth="Bearer sk_test_expired").status_code == 401
    # A body the contract refuses, a missing app, a missing JSON type: still the 403,
    # as the backend's middleware refuses the key before any handler runs.
    assert message(client.post("/api-auth/apps", json={"app_slug": 42}, auth=READ_ONLY)) == DENIED
    missing = client.post("/api-auth/apps/nowhere/keys", json={"name": "k"}, auth=READ_ONLY)
    assert missing.status_code == 403 and message(missing) == DENIED
    raw = client.post("/api-auth/apps", data="{", auth=READ_ONLY)
    assert raw.status_code == 403


def test_a_denied_call_does_not_count_against_the_keys_rate_limit(
    fixture_dir: Path,
) -> None:
    client = with_keys(
        fixture_dir,
        {"key": "sk_test_ro_limited", "permissions": ["read"], "rate_limit_scheme_slug": LIMIT},
        frozen_time=FROZEN,
    )
    auth = "Bearer sk_test_ro_limited"
    body = {"app_slug": "x", "name": "n", "key_prefix": "sk_x"}
    # Ten refused writes to one path: 403 each, never 429, and none is counted...
    refused = {client.post("/api-auth/apps", json=body, auth=auth).status_code for _ in range(10)}
    assert refused == {403}
    # ...so five reads of the same path still pass, and the sixth is the 429.
    assert [client.get("/api-auth/apps", auth=auth).status_code for _ in range(5)] == [200] * 5
    assert client.get("/api-auth/apps", auth=auth).status_code == 429
    # Over the limit, a call the key may not make is still the 403: permissions come first.
    assert client.post("/api-auth/apps", json=body, auth=auth).status_code == 403


def test_write_only_and_empty_permissions(fixture_dir: Path) -> None:
    client = with_keys(
        fixture_dir,
        {"key": "sk_test_writer", "permissions": ["write"]},
        {"key": "sk_test_nothing", "permissions": []},
    )
    writer, nothing = "Bearer sk_test_writer", "Bearer sk_test_nothing"
    created = client.post("/api-auth/apps/billing-sync/keys", json={"name": "k"}, auth=writer)
    assert created.status_code == 200
    assert message(client.get("/api-auth/apps", auth=writer)) == DENIED
    # An empty list allows nothing (leaving permissions out allows everything).
    assert client.get("/api-auth/apps", auth=nothing).status_code == 403
    made = client.post("/api-auth/apps/billing-sync/keys", json={"name": "k"}, auth=nothing)
    assert made.status_code == 403
    assert "none" in client.get("/api-auth/apps", auth=nothing).get_json()["errors"][0]["detail"]
    # The health check takes no key, so no permission either.
    assert client.get("/health", auth=nothing).status_code == 200
