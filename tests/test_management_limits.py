"""The management API's own rate limit: a fixture key naming a scheme is limited.

sk_test_limited names five-a-minute (5 a minute, per key and path); the
default dev key names none and is never limited.
"""

from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import ContractClient

from mockserver import Settings, create_app

LIMITED = "Bearer sk_test_limited"
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
