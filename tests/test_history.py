"""The demo audit history: about a week of checks before the server's clock,
mostly admitted, shaped like working traffic, the same for the same seed."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import ContractClient

from mockserver import Settings, create_app
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


# --- a fresh server shows the history ------------------------------------------------


def _served_history(**settings: object) -> list[dict]:
    client = ContractClient(create_app(Settings(**settings)))  # type: ignore[arg-type]
    rows: list[dict] = []
    for slug in ("billing-sync", "support-bot", "staging-smoke-tests"):
        response = client.get(f"/api-auth/apps/{slug}/audit/logs?limit=1000")
        assert response.status_code == 200
        rows += response.get_json()["data"]
    return rows


def test_a_fresh_server_shows_a_week_of_its_demo_keys_checks() -> None:
    rows = _served_history(frozen_time=NOW, seed=4)
    assert len(rows) > 1000
    assert all(NOW - timedelta(days=7) <= at(row) < NOW for row in rows)
    names = {row["key_name"] for row in rows}
    # The usable demo keys: not the expired one, whose checks stop at step 5.
    assert {"Billing worker", "Support bot", "Smoke tests"} <= names
    assert "Old reporting key" not in names
    rules = {rule["rule"] for row in rows for rule in row["rate_limits"]}
    assert {"20/1s", "600/60s", "100000/86400s"} <= rules  # standard-api's rules for "*"
    assert _served_history(frozen_time=NOW, seed=4) == rows  # the same seed, the same rows
    assert _served_history(frozen_time=NOW, seed=5) != rows


def test_no_history_when_the_fixtures_turn_it_off(fixture_dir: Path) -> None:
    apps = fixture_dir / "apps.yaml"
    text = apps.read_text().replace(
        "audit_history:\n  days: 7\n  checks_per_day: 250\n", "audit_history: false\n"
    )
    apps.write_text(text)
    assert _served_history(frozen_time=NOW, fixtures_dir=fixture_dir) == []


def test_a_reset_brings_the_history_back_and_forgets_the_checks_since() -> None:
    client = ContractClient(create_app(Settings(frozen_time=NOW, seed=4)))
    logs = "/api-auth/apps/support-bot/audit/logs?limit=1000"
    before = client.get(logs).get_json()["data"]
    check = {
        "principal": {
            "type": "api_key",
            "value": "sk_live_dSiLyI_ek5IWXz2MzKOn13maBLvpdc3GvzSjxCnpq30",
        },
        "resource": "/v1/users",
        "method": "GET",
    }
    assert client.post("/gateway/v1/authz/check", json=check, auth=None).status_code == 200
    assert len(client.get(logs).get_json()["data"]) == len(before) + 1
    assert client.post("/__admin/reset").status_code == 204
    assert client.get(logs).get_json()["data"] == before
