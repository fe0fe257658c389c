"""The audit endpoints over rows of known gateway decisions, on SQLite and
on PostgreSQL.

The rows are written the way a gateway check writes them (AuditLog.write in
a transaction of the state), so that each figure below is counted by hand
from the rows the test made. Every answer is checked against openapi.yaml.
"""

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import ContractClient

from mockserver.backend.audit import microseconds

NOW = datetime(2026, 6, 10, 12, 0, 0, tzinfo=UTC)  # a Wednesday
APP = "billing-sync"
LOGS = f"/api-auth/apps/{APP}/audit/logs"
ANALYTICS = f"/api-auth/apps/{APP}/audit/analytics"
TIMESERIES = f"/api-auth/apps/{APP}/audit/timeseries"


@pytest.fixture
def audited(make_client: Any, state_location: Any) -> ContractClient:
    """A server on each engine (SQLite, PostgreSQL): the figures are the same."""
    client = make_client(frozen_time=NOW, state_path=state_location)
    # Without the demo history a fresh server shows (test_history.py): each
    # figure here is counted from the rows the test wrote.
    client.app.extensions["mockserver"].audit.clear()
    return client


_counter = iter(range(10**6))


def record(
    client: ContractClient,
    at: datetime,
    *,
    app: str = APP,
    key_id: str = "7001",
    key_name: str = "Server key",
    blocked_by: str | None = None,
    path: str = "GET /v1/users",
) -> dict[str, Any]:
    """Write one audit row as the gateway does, and return it."""
    context = client.app.extensions["mockserver"]
    row = {
        "request_id": f"req_{100000000000 + next(_counter)}",
        "deployment_id": context.fixtures.deployment.id,
        "app_slug": app,
        "key_id": key_id,
        "key_name": key_name,
        "outcome": "VALID" if blocked_by is None else "BLOCKED",
        "blocked_by_rule": blocked_by,
        "client_ip": "203.0.113.7",
        "path": path,
        "user_agent": "pytest",
        "rate_limits": []
        if blocked_by == "permission_denied"
        else [{"rule": "100/60s", "remaining": 0 if blocked_by else 99, "limit": 100}],
        "timestamp": at.isoformat().replace("+00:00", "Z"),
    }
    context.audit.add(row, microseconds(at))
    return row


def ids(response: Any) -> list[str]:
    return [row["request_id"] for row in response.get_json()["data"]]


# --- logs ------------------------------------------------------------------------


def test_logs_are_newest_first_and_last_seven_days_by_default(audited: ContractClient) -> None:
    old = record(audited, NOW - timedelta(days=8))
    week = record(audited, NOW - timedelta(days=6))
    recent = record(audited, NOW - timedelta(minutes=1))
    record(audited, NOW, app="support-bot")  # another app's row is not listed

    answer = audited.get(LOGS).get_json()

    assert [row["request_id"] for row in answer["data"]] == [
        recent["request_id"],
        week["request_id"],
    ]
    assert answer["data"][0] == recent
    assert old["request_id"] not in ids(audited.get(LOGS))
    assert answer["limit"] == 100 and answer["has_more"] is False


def test_limit_is_clamped_and_a_bad_value_is_a_400(audited: ContractClient) -> None:
    for _ in range(3):
        record(audited, NOW - timedelta(seconds=5))
    assert audited.get(f"{LOGS}?limit=0").get_json()["limit"] == 1
    assert audited.get(f"{LOGS}?limit=5000").get_json()["limit"] == 1000
    page = audited.get(f"{LOGS}?limit=2").get_json()
    assert len(page["data"]) == 2 and page["has_more"] is True

    for bad in ("limit=-1", "limit=ten", "offset=-3", "key_id=abc", "start_date=yesterday"):
        response = audited.get(f"{LOGS}?{bad}")
        assert response.status_code == 400, bad
        assert response.get_json()["errors"][0]["parameter"] == bad.split("=")[0]


def test_a_date_that_does_not_exist_is_a_400_naming_it(audited: ContractClient) -> None:
    response = audited.get(f"{LOGS}?start_date=2026-13-01T00:00:00Z")
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["parameter"] == "start_date"


def test_outcome_and_key_filters(audited: ContractClient) -> None:
    admitted = record(audited, NOW - timedelta(seconds=3))
    blocked = record(audited, NOW - timedelta(seconds=2), blocked_by="100/60s")
    other_key = record(audited, NOW - timedelta(seconds=1), key_id="7002")

    assert ids(audited.get(f"{LOGS}?outcome=allowed")) == [
        other_key["request_id"],
        admitted["request_id"],
    ]
    assert ids(audited.get(f"{LOGS}?outcome=blocked")) == [blocked["request_id"]]
    assert len(ids(audited.get(f"{LOGS}?outcome=everything"))) == 3  # ignored
    assert ids(audited.get(f"{LOGS}?key_id=7002")) == [other_key["request_id"]]


def test_start_and_end_dates_are_inclusive_and_end_needs_a_start(audited: ContractClient) -> None:
    first = record(audited, NOW - timedelta(days=20))
    second = record(audited, NOW - timedelta(days=10))
    record(audited, NOW - timedelta(days=1))
    start = (NOW - timedelta(days=20)).isoformat()
    end = (NOW - timedelta(days=10)).isoformat()

    ranged = audited.get(LOGS, query_string={"start_date": start, "end_date": end})
    assert ids(ranged) == [second["request_id"], first["request_id"]]
    # Without start_date, end_date is ignored: the last 7 days.
    assert len(ids(audited.get(LOGS, query_string={"end_date": end}))) == 1


def test_cursor_pages_neither_skip_nor_repeat_rows_of_one_millisecond(
    audited: ContractClient,
) -> None:
    # Seven rows inside one millisecond, in microseconds that do not follow
    # their request_ids' order, and two rows around them.
    base = NOW - timedelta(minutes=5)
    made = [record(audited, base + timedelta(milliseconds=1))]
    made += [
        record(audited, base + timedelta(microseconds=us)) for us in (5, 900, 1, 450, 1, 77, 2)
    ]
    made.append(record(audited, base - timedelta(milliseconds=1)))

    seen: list[str] = []
    query: dict[str, Any] = {"limit": 2}
    while True:
        page = audited.get(LOGS, query_string=query).get_json()
        seen += [row["request_id"] for row in page["data"]]
        if not page["has_more"]:
            break
        query = {"limit": 2, "cursor": page["next_cursor"]}

    assert sorted(seen) == sorted(row["request_id"] for row in made)
    assert len(seen) == len(set(seen))
    everything = ids(audited.get(LOGS, query_string={"limit": 100}))
    assert seen == everything


def test_next_cursor_encodes_the_last_rows_millisecond_and_id(audited: ContractClient) -> None:
    row = record(audited, datetime(2026, 6, 10, 11, 0, 0, 123456, tzinfo=UTC))
    page = audited.get(LOGS).get_json()
    cursor = page["next_cursor"]
    decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    assert "=" not in cursor
    assert decoded == f"{1781089200123}|{row['request_id']}"


def test_empty_page_has_no_cursor_and_a_bad_cursor_is_a_400(audited: ContractClient) -> None:
    page = audited.get(LOGS).get_json()
    assert page == {"data": [], "limit": 100, "has_more": False, "next_cursor": None}
    # Of the right alphabet but not a cursor: no "|", a time that is not a
    # number, a time too large to be an instant.
    made_up = (b"abc|req_1", b"\xd9\xa3|req_1", b"99999999999999999999|req_1")
    encoded = [base64.urlsafe_b64encode(text).decode().rstrip("=") for text in made_up]
    for bad in ("bm9waXBl", *encoded):
        response = audited.get(f"{LOGS}?cursor={bad}")
        assert response.status_code == 400
        assert response.get_json()["errors"][0]["message"] == "invalid cursor"
    outside_the_alphabet = audited.get(f"{LOGS}?cursor=%25%25")
    assert outside_the_alphabet.status_code == 400
    assert outside_the_alphabet.get_json()["errors"][0]["parameter"] == "cursor"


def test_cursor_ts_and_cursor_id_continue_after_a_row(audited: ContractClient) -> None:
    at = NOW - timedelta(seconds=30)
    rows = [record(audited, at) for _ in range(3)]
    newest_first = sorted((row["request_id"] for row in rows), reverse=True)
    after_first = audited.get(
        LOGS, query_string={"cursor_ts": at.isoformat(), "cursor_id": newest_first[0]}
    )
    assert ids(after_first) == newest_first[1:]
    assert ids(audited.get(LOGS, query_string={"cursor_ts": at.isoformat()})) == []


def test_offset_skips_rows_without_a_cursor(audited: ContractClient) -> None:
    rows = [record(audited, NOW - timedelta(seconds=s)) for s in (1, 2, 3)]
    assert ids(audited.get(f"{LOGS}?offset=1")) == [r["request_id"] for r in rows[1:]]


def test_an_unknown_app_is_404_and_an_inactive_one_is_fine(audited: ContractClient) -> None:
    for path in (LOGS, ANALYTICS, TIMESERIES):
        missing = audited.get(path.replace(APP, "no-such-app"))
        assert missing.status_code == 404
        assert missing.get_json()["errors"][0]["message"] == "API key app not found"
    audited.patch(f"/api-auth/apps/{APP}", json={"is_active": False})
    assert audited.get(LOGS).status_code == 200


# --- analytics -------------------------------------------------------------------


def test_analytics_figures_counted_by_hand(audited: ContractClient) -> None:
    for _ in range(5):
        record(audited, NOW - timedelta(hours=1), path="GET /v1/users")
    record(audited, NOW - timedelta(hours=2), key_id="7002", key_name="CI", path="POST /v1/jobs")
    record(audited, NOW - timedelta(hours=3), blocked_by="100/60s")
    record(audited, NOW - timedelta(hours=3), blocked_by="100/60s")
    record(audited, NOW - timedelta(hours=4), key_id="7002", key_name="CI", blocked_by="5/1s")
    record(audited, NOW - timedelta(hours=5), blocked_by="permission_denied")
    record(audited, NOW - timedelta(days=3), key_id="7003", key_name="Old")  # outside 24 h

    answer = audited.get(
        ANALYTICS,
        query_string={
            "include_top_keys": "true",
            "include_top_paths": "true",
            "include_blocked_reasons": "true",
            "include_rate_limits": "true",
        },
    ).get_json()

    assert answer["total_requests"] == 11
    assert answer["allowed_requests"] == 7
    assert answer["blocked_requests"] == 4
    assert answer["success_rate"] == 7 / 11 * 100
    assert answer["keys_used_24h"] == 2
    assert answer["top_keys"] == [
        {"key_id": "7001", "key_name": "Server key", "total_requests": 8},
        {"key_id": "7002", "key_name": "CI", "total_requests": 2},
        {"key_id": "7003", "key_name": "Old", "total_requests": 1},
    ]
    assert answer["top_paths"] == [
        {"path": "GET /v1/users", "total_requests": 10},
        {"path": "POST /v1/jobs", "total_requests": 1},
    ]
    assert answer["blocked_reasons"] == [
        {"blocked_by_rule": "100/60s", "count": 2, "percentage": 50.0},
        {"blocked_by_rule": "5/1s", "count": 1, "percentage": 25.0},
        {"blocked_by_rule": "permission_denied", "count": 1, "percentage": 25.0},
    ]
    assert answer["rate_limit_stats"] == {
        "total_hits": 3,
        "percentage_of_blocked": 75.0,
        "top_rules": [
            {"rule": "100/60s", "hit_count": 2, "percentage": 2 / 3 * 100},
            {"rule": "5/1s", "hit_count": 1, "percentage": 1 / 3 * 100},
        ],
    }


def test_analytics_blocks_only_when_asked_and_top_limit_clamped(audited: ContractClient) -> None:
    for key in ("1", "2", "3"):
        record(audited, NOW - timedelta(minutes=1), key_id=key)
    plain = audited.get(ANALYTICS).get_json()
    assert set(plain) == {
        "total_requests",
        "allowed_requests",
        "blocked_requests",
        "success_rate",
        "keys_used_24h",
    }
    top = audited.get(f"{ANALYTICS}?include_top_keys=true&top_limit=0").get_json()["top_keys"]
    assert len(top) == 1
    with_rates = audited.get(f"{ANALYTICS}?include_rate_limits=true").get_json()
    assert with_rates["rate_limit_stats"] == {"total_hits": 0, "percentage_of_blocked": 0.0}
    assert audited.get(f"{ANALYTICS}?include_top_keys=yes").status_code == 400


def test_analytics_of_no_rows_is_zero(audited: ContractClient) -> None:
    answer = audited.get(ANALYTICS).get_json()
    assert answer["total_requests"] == 0 and answer["success_rate"] == 0


def test_keys_used_24h_ignores_the_filters(audited: ContractClient) -> None:
    record(audited, NOW - timedelta(hours=1), key_id="1")
    record(audited, NOW - timedelta(hours=1), key_id="2")
    answer = audited.get(f"{ANALYTICS}?key_id=1").get_json()
    assert answer["total_requests"] == 1 and answer["keys_used_24h"] == 2


# --- timeseries --------------------------------------------------------------------


def buckets(client: ContractClient, interval: str, **query: str) -> list[tuple[str, int, int]]:
    answer = client.get(TIMESERIES, query_string={"interval": interval, **query}).get_json()
    return [(p["timestamp"], p["total_requests"], p["blocked_requests"]) for p in answer["data"]]


def test_hour_buckets_across_a_boundary_only_where_rows_are(audited: ContractClient) -> None:
    record(audited, datetime(2026, 6, 10, 9, 59, 59, 999999, tzinfo=UTC))
    record(audited, datetime(2026, 6, 10, 10, 0, 0, tzinfo=UTC), blocked_by="1/60s")
    record(audited, datetime(2026, 6, 10, 10, 30, tzinfo=UTC))
    record(audited, datetime(2026, 6, 10, 11, 59, tzinfo=UTC))

    assert [(t[:19], n, b) for t, n, b in buckets(audited, "hour")] == [
        ("2026-06-10T09:00:00", 1, 0),
        ("2026-06-10T10:00:00", 2, 1),
        ("2026-06-10T11:00:00", 1, 0),
    ]
    answer = audited.get(f"{TIMESERIES}?interval=fortnight").get_json()
    assert answer["interval"] == "hour"  # any other value means hour
    assert audited.get(TIMESERIES).get_json()["interval"] == "hour"


def test_minute_day_week_and_month_buckets(audited: ContractClient) -> None:
    instants = [
        datetime(2026, 5, 30, 23, 59, 30, tzinfo=UTC),  # Saturday, end of May
        datetime(2026, 5, 31, 0, 0, 10, tzinfo=UTC),  # Sunday: a new week
        datetime(2026, 5, 31, 0, 0, 50, tzinfo=UTC),
        datetime(2026, 6, 1, 0, 0, 0, tzinfo=UTC),  # Monday, a new month
    ]
    for at in instants:
        record(audited, at)
    start = {"start_date": "2026-05-01T00:00:00Z"}

    def starts(interval: str) -> list[tuple[str, int]]:
        return [(t[:19], n) for t, n, _ in buckets(audited, interval, **start)]

    assert starts("minute") == [
        ("2026-05-30T23:59:00", 1),
        ("2026-05-31T00:00:00", 2),
        ("2026-06-01T00:00:00", 1),
    ]
    assert starts("day") == [
        ("2026-05-30T00:00:00", 1),
        ("2026-05-31T00:00:00", 2),
        ("2026-06-01T00:00:00", 1),
    ]
    assert starts("week") == [("2026-05-24T00:00:00", 1), ("2026-05-31T00:00:00", 3)]
    assert starts("month") == [("2026-05-01T00:00:00", 3), ("2026-06-01T00:00:00", 1)]


def test_timeseries_success_rate_per_bucket(audited: ContractClient) -> None:
    at = NOW - timedelta(minutes=10)
    record(audited, at)
    record(audited, at, blocked_by="permission_denied")
    record(audited, at, blocked_by="100/60s")
    (point,) = audited.get(TIMESERIES).get_json()["data"]
    assert point["allowed_requests"] == 1 and point["success_rate"] == 1 / 3 * 100


# --- bounds --------------------------------------------------------------------------


def test_audit_keeps_at_most_audit_size_rows_dropping_the_oldest(make_client: Any) -> None:
    client = make_client(frozen_time=NOW, audit_size=3)
    rows = [record(client, NOW - timedelta(minutes=10 - i)) for i in range(5)]
    assert ids(client.get(LOGS)) == [row["request_id"] for row in reversed(rows[2:])]


def test_a_full_audit_drops_its_oldest_rows_a_batch_at_a_time_never_above_its_size(
    make_client: Any, state_location: Any
) -> None:
    """At a size of 300 the batch is 3 (1%): the audit never shows more than
    300 rows, and the row that makes 301 drops the oldest 3."""
    client = make_client(frozen_time=NOW, audit_size=300, state_path=state_location)
    client.app.extensions["mockserver"].audit.clear()
    rows = [record(client, NOW - timedelta(seconds=400 - i)) for i in range(300)]

    def shown() -> list[str]:
        return ids(client.get(LOGS + "?limit=1000"))

    assert len(shown()) == 300
    rows.append(record(client, NOW - timedelta(seconds=100)))
    assert shown() == [row["request_id"] for row in reversed(rows[3:])]  # 298 left
    rows += [record(client, NOW - timedelta(seconds=99 - i)) for i in range(2)]
    assert len(shown()) == 300
    rows.append(record(client, NOW - timedelta(seconds=90)))
    assert shown() == [row["request_id"] for row in reversed(rows[6:])]


def test_a_reset_forgets_the_audit(audited: ContractClient) -> None:
    row = record(audited, NOW)
    assert audited.post("/__admin/reset").status_code in (200, 204)
    # Back to a fresh server's audit: only the demo history (test_history.py).
    left = audited.get(LOGS + "?limit=1000").get_json()["data"]
    assert row["request_id"] not in [r["request_id"] for r in left]
    assert all(r["user_agent"] != "pytest" for r in left)
