"""Rate-limit windows at their boundaries, and the admin clock that moves them.

Windows are fixed and aligned to UTC [intent]: ``duration`` x unit counted
from the Unix epoch, a calendar day from 00:00 UTC, a calendar month from the
1st. Each test freezes the clock just before a boundary, uses up a rule of 1,
and moves the clock across the boundary with the admin API.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import ContractClient

from mockserver import Settings, create_app

CHECK = "/gateway/v1/authz/check"
FROZEN = datetime(2026, 2, 27, 9, 41, 7, 250_000, tzinfo=UTC)
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def rfc3339(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def fixed_boundary_after(instant: datetime, length: timedelta) -> datetime:
    """The next multiple of ``length`` since the Unix epoch."""
    periods = (instant - UNIX_EPOCH) // length + 1
    return UNIX_EPOCH + periods * length


# (unit, duration, window length or None for calendar, rule string, next boundary after FROZEN)
WINDOWS = [
    ("millisecond", 500, "1/500ms", fixed_boundary_after(FROZEN, 500 * MS)),
    ("second", 5, "1/5s", fixed_boundary_after(FROZEN, timedelta(seconds=5))),
    ("minute", 1, "1/60s", fixed_boundary_after(FROZEN, timedelta(minutes=1))),
    ("hour", 2, "1/7200s", fixed_boundary_after(FROZEN, timedelta(hours=2))),
    ("day", 1, "1/86400s", datetime(2026, 2, 28, tzinfo=UTC)),
    ("calendar_day", 1, "1/86400s", datetime(2026, 2, 28, tzinfo=UTC)),
    ("month", 1, "1/2592000s", fixed_boundary_after(FROZEN, timedelta(days=30))),
    # February: the calendar month ends after 28 days, not 30.
    ("calendar_month", 1, "1/2592000s", datetime(2026, 3, 1, tzinfo=UTC)),
]


@pytest.fixture
def frozen(counter_backend: dict[str, Any]) -> ContractClient:
    """Counters in SQLite, then in Redis (redis_support.py): the same windows."""
    return ContractClient(create_app(Settings(frozen_time=FROZEN, **counter_backend)))


def key_with_rule(client: ContractClient, rule: dict[str, Any]) -> str:
    scheme = {"slug": "one", "name": "One", "rules": [rule]}
    assert client.post("/api-auth/rate-limit-schemes", json=scheme).status_code == 200
    assert client.create(app_slug="w", rate_limit_scheme_slug="one").status_code == 200
    key = client.post("/api-auth/apps/w/keys", json={"name": "k"})
    return key.get_json()["secret"]


def check(client: ContractClient, secret: str) -> dict[str, Any]:
    body = {"principal": {"type": "api_key", "value": secret}, "resource": "/r", "method": "GET"}
    response = client.post(CHECK, json=body, auth=None)
    assert response.status_code == 200
    return response.get_json()


def move(client: ContractClient, **body: Any) -> str:
    response = client.post("/__admin/clock", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["now"]


@pytest.mark.parametrize(("unit", "duration", "rule_string", "boundary"), WINDOWS)
def test_a_window_resets_exactly_at_its_boundary(
    frozen: ContractClient, unit: str, duration: int, rule_string: str, boundary: datetime
) -> None:
    secret = key_with_rule(frozen, {"unit": unit, "duration": duration, "max_requests": 1})
    move(frozen, now=rfc3339(boundary - 2 * MS))
    assert check(frozen, secret)["allowed"] is True
    move(frozen, advance_seconds=0.001)  # one millisecond before the boundary
    blocked = check(frozen, secret)
    assert blocked["allowed"] is False and blocked["blocked_rule"] == rule_string
    assert blocked["retry_after"] == 1
    move(frozen, advance_seconds=0.001)  # at the boundary: a new window
    assert check(frozen, secret)["allowed"] is True
    assert check(frozen, secret)["allowed"] is False


def test_a_calendar_month_starts_on_the_first(frozen: ContractClient) -> None:
    secret = key_with_rule(frozen, {"unit": "calendar_month", "duration": 1, "max_requests": 1})
    assert check(frozen, secret)["allowed"] is True
    blocked = check(frozen, secret)
    until_march = datetime(2026, 3, 1, tzinfo=UTC) - FROZEN
    assert blocked["retry_after"] == until_march // MS


def test_the_clock_answers_moves_and_resets(frozen: ContractClient) -> None:
    assert frozen.get("/__admin/clock").get_json() == {"now": "2026-02-27T09:41:07.250Z"}
    assert move(frozen, advance_seconds=0.75) == "2026-02-27T09:41:08Z"
    assert move(frozen, advance_seconds=-3600) == "2026-02-27T08:41:08Z"
    assert move(frozen, now="2026-07-01T02:00:00+02:00") == "2026-07-01T00:00:00Z"
    assert frozen.get("/__admin/clock").get_json()["now"] == "2026-07-01T00:00:00Z"  # still frozen
    app = frozen.create(app_slug="later").get_json()
    assert app["created_at"] == "2026-07-01T00:00:00Z"  # the API's clock moved too
    assert frozen.post("/__admin/reset").status_code == 204
    assert frozen.get("/__admin/clock").get_json() == {"now": "2026-02-27T09:41:07.250Z"}


def test_a_running_clock_keeps_running_after_a_move(client: ContractClient) -> None:
    before = datetime.fromisoformat(client.get("/__admin/clock").get_json()["now"])
    moved = datetime.fromisoformat(move(client, advance_seconds=86_400))
    assert moved - before >= timedelta(days=1)
    again = datetime.fromisoformat(client.get("/__admin/clock").get_json()["now"])
    assert again >= moved


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"now": "2024-12-31T23:59:59Z"}, "/now"),
        ({"advance_seconds": -40_000_000}, "/advance_seconds"),
        ({"advance_seconds": 1e300}, "/advance_seconds"),
        ({"now": "yesterday"}, "/now"),
        ({"now": "2026-01-01T00:00:00"}, "/now"),
    ],
)
def test_an_instant_no_id_can_be_made_at_is_refused(
    frozen: ContractClient, body: dict[str, Any], field: str
) -> None:
    response = frozen.post("/__admin/clock", json=body)
    assert response.status_code == 400
    error = response.get_json()["errors"][0]
    assert error["field"] == field
    if "2024" in str(body) or "-40" in str(body):
        assert "2025-01-01" in error["message"]
    assert frozen.get("/__admin/clock").get_json()["now"] == "2026-02-27T09:41:07.250Z"


@pytest.mark.parametrize("body", [{}, {"advance_seconds": 1, "now": "2026-01-01T00:00:00Z"}])
def test_a_move_names_exactly_one_way(frozen: ContractClient, body: dict[str, Any]) -> None:
    assert frozen.post("/__admin/clock", json=body).status_code == 422
