"""The demo audit history: about a week of checks before the server's clock,
mostly admitted, shaped like working traffic, the same for the same seed."""

from collections import Counter
from datetime import UTC, datetime, timedelta

from mockserver.backend.history import HistoryKey, demo_history

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
KEYS = [
    HistoryKey("billing-sync", "1001", "Billing server", ["100/60s", "5000/86400s"], [100, 5000]),
    HistoryKey("support-bot", "1002", "Support bot", ["1000/60s"], [1000]),
]


def history(seed: int | None = 7, **overrides: object) -> list[tuple[dict, int]]:
    settings = {"now": NOW, "days": 7, "checks_per_day": 300, "deployment_id": "9", "machine_id": 5}
    settings.update(overrides)
    return list(demo_history(KEYS, seed=seed, **settings))  # type: ignore[arg-type]


def at(row: dict) -> datetime:
    return datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))


def test_the_week_before_the_clock_mostly_admitted_some_blocked_each_way() -> None:
    rows = [row for row, _ in history()]
    assert 1500 < len(rows) < 2700  # about 300 a day, fewer on the weekend
    assert all(NOW - timedelta(days=7) <= at(row) < NOW for row in rows)
    assert at(rows[0]) < NOW - timedelta(days=6) and at(rows[-1]) > NOW - timedelta(hours=6)
    blocked = Counter(row["blocked_by_rule"] for row in rows if row["outcome"] == "BLOCKED")
    admitted = sum(row["outcome"] == "VALID" for row in rows)
    assert admitted / len(rows) > 0.85
    assert blocked["permission_denied"] > 10
    assert sum(n for rule, n in blocked.items() if rule != "permission_denied") > 20
    assert {row["app_slug"] for row in rows} == {"billing-sync", "support-bot"}
    assert 3 <= len({row["path"] for row in rows}) <= 10


def test_busier_in_working_hours_and_on_weekdays() -> None:
    rows = [row for row, _ in history()]
    by_hour = Counter(at(row).hour for row in rows)
    assert sum(by_hour[h] for h in range(9, 17)) > 3 * sum(by_hour[h] for h in range(0, 8))
    weekday = Counter(at(row).weekday() >= 5 for row in rows)
    # 5 weekdays against 2 weekend days, and each weekend day is quieter.
    assert weekday[False] / 5 > 2 * weekday[True] / 2


def test_rows_are_what_the_gateway_writes() -> None:
    for row, at_us in history()[:200]:
        assert row["request_id"].startswith("req_")
        assert at_us == (at(row) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        if row["blocked_by_rule"] == "permission_denied":
            assert row["rate_limits"] == []
        elif row["outcome"] == "BLOCKED":
            blocking = [r for r in row["rate_limits"] if r["rule"] == row["blocked_by_rule"]]
            assert blocking and blocking[0]["remaining"] == 0
    ids = [row["request_id"] for row, _ in history()]
    assert len(ids) == len(set(ids))


def test_the_same_seed_gives_the_same_history_and_another_seed_another() -> None:
    assert history(seed=7) == history(seed=7)
    assert history(seed=7) != history(seed=8)


def test_none_when_turned_off_or_before_the_id_epoch() -> None:
    assert history(days=0) == [] and history(checks_per_day=0) == []
    early = history(now=datetime(2025, 1, 3, tzinfo=UTC))
    assert early and all(at(row) >= datetime(2025, 1, 1, tzinfo=UTC) for row, _ in early)
