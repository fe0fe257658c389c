"""Keys, gateway counters, audit and clock are each session's own: real
servers of two worker processes, requests sent from several threads at once
so both workers serve each session, every answer checked against its
document (openapi.yaml, the gateway's, the admin API's).

The clock is frozen, so each session's clock reads the same instant until
it is moved, and rate-limit windows do not move between requests.
"""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from contract import assert_conforms
from session_support import KEY, send

from mockserver.backend.clock import parse_timestamp
from mockserver.tooling.testing import run_server

FROZEN = "2026-05-05T10:00:00Z"
CHECK = "/gateway/v1/authz/check"
# A demo key of the fixtures (billing-sync, scheme standard-api): 20 checks a
# second per key and caller, so with the clock frozen the 21st is refused.
BILLING_WORKER = "sk_live_GaR-HnC8yVFa36SA_C-L8zvQBoOXx66lkP8o3EmS9PM"
PER_SECOND = 20


def check(base_url: str, secret: str, session: str | None, resource: str = "/v1/x") -> Any:
    """A gateway check of ``secret``: its status and answer."""
    body = {"principal": {"type": "api_key", "value": secret}, "resource": resource}
    return send(base_url, "POST", CHECK, {**body, "method": "GET"}, session=session)


def checks_at_once(base_url: str, secret: str, session: str | None, count: int) -> list[Any]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(check, base_url, secret, session) for _ in range(count)]
        return [future.result(timeout=120) for future in futures]


def clock(base_url: str, session: str | None) -> str:
    status, answer = send(base_url, "GET", "/__admin/clock", session=session)
    assert status == 200
    return str(answer["now"])


def issue_key(base_url: str, app_slug: str, session: str) -> dict[str, Any]:
    status, key = send(
        base_url, "POST", f"/api-auth/apps/{app_slug}/keys", {"name": "k"}, session=session
    )
    assert status == 200, key
    return dict(key)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with run_server(["--workers", "2", "--freeze-time", FROZEN, "--log-format", "off"]) as running:
        yield running.base_url


def test_a_key_issued_in_one_session_is_unknown_in_another(server: str) -> None:
    key = issue_key(server, "billing-sync", "keys-a")
    assert check(server, key["secret"], "keys-a")[1]["allowed"] is True
    for elsewhere in ("keys-b", None):
        assert check(server, key["secret"], elsewhere) == (401, "Invalid API key")
        status, listing = send(server, "GET", "/api-auth/apps/billing-sync/keys", session=elsewhere)
        assert status == 200
        assert key["id"] not in {listed["id"] for listed in listing["keys"]}
    # The fixtures' keys are in every session.
    assert check(server, BILLING_WORKER, "keys-b")[1]["allowed"] is True


def test_a_limit_reached_in_one_session_does_not_block_another(server: str) -> None:
    answers = checks_at_once(server, BILLING_WORKER, "limit-a", PER_SECOND + 1)
    assert all(status == 200 for status, _ in answers)
    allowed = [answer for _, answer in answers if answer["allowed"]]
    assert len(allowed) == PER_SECOND  # exact across both workers
    blocked = check(server, BILLING_WORKER, "limit-a")[1]
    assert blocked["allowed"] is False and blocked["blocked_rule"] == "20/1s"
    # The same key, the same window, another session: a counter of its own.
    fresh = check(server, BILLING_WORKER, "limit-b")[1]
    assert fresh["allowed"] is True
    per_second = next(state for state in fresh["rate_limits"] if state["rule"] == "20/1s")
    assert per_second["remaining"] == PER_SECOND - 1


def test_the_management_keys_limit_is_counted_in_each_session(server: str) -> None:
    # sk_test_limited (the fixtures' deployment): five calls a minute per path.
    def list_apps(session: str) -> int:
        return send(server, "GET", "/api-auth/apps", session=session, key="sk_test_limited")[0]

    assert [list_apps("managed-a") for _ in range(6)] == [200] * 5 + [429]
    assert list_apps("managed-b") == 200


def test_the_clock_moves_only_in_its_session_and_reset_puts_it_back(server: str) -> None:
    checks_at_once(server, BILLING_WORKER, "clock-a", PER_SECOND)
    assert check(server, BILLING_WORKER, "clock-a")[1]["allowed"] is False
    status, moved = send(
        server, "POST", "/__admin/clock", {"advance_seconds": 3600}, session="clock-a"
    )
    assert (status, moved["now"]) == (200, "2026-05-05T11:00:00Z")
    assert clock(server, "clock-a") == "2026-05-05T11:00:00Z"  # whichever worker reads it
    assert clock(server, "clock-b") == FROZEN
    assert clock(server, None) == FROZEN
    # Its windows follow its clock: an hour later in clock-a, admitted again.
    assert check(server, BILLING_WORKER, "clock-a")[1]["allowed"] is True

    assert send(server, "POST", "/__admin/reset", session="clock-a")[0] == 204
    assert clock(server, "clock-a") == FROZEN


def test_a_session_has_its_own_audit_rows(server: str) -> None:
    _, admitted = check(server, BILLING_WORKER, "audit-a", resource="/v1/only-in-a")
    logs = "/api-auth/apps/billing-sync/audit/logs?limit=1000"
    status, rows = send(server, "GET", logs, session="audit-a")
    assert status == 200
    assert admitted["request_id"] in {row["request_id"] for row in rows["data"]}
    for elsewhere in ("audit-b", None):
        status, rows = send(server, "GET", logs, session=elsewhere)
        assert status == 200
        assert admitted["request_id"] not in {row["request_id"] for row in rows["data"]}


def _newest_demo_row(server: str, session: str | None) -> datetime:
    status, rows = send(
        server, "GET", "/api-auth/apps/billing-sync/audit/logs?limit=1000", session=session
    )
    assert status == 200 and rows["data"], "no demo audit history"
    return max(parse_timestamp(row["timestamp"]) for row in rows["data"])


def test_a_new_session_has_the_demo_history_as_of_its_own_clock(server: str) -> None:
    # The default session's clock a month ahead: a new session's clock is
    # its own (where the server started), and so is its history's end.
    status, _ = send(server, "POST", "/__admin/clock", {"advance_seconds": 30 * 86400})
    assert status == 200
    try:
        newest = _newest_demo_row(server, "history-new")
        assert clock(server, "history-new") == FROZEN
        frozen = parse_timestamp(FROZEN)
        # 250 checks a day of three keys: the last one is within a day of now.
        assert frozen - timedelta(days=1) < newest <= frozen
    finally:
        assert send(server, "POST", "/__admin/reset")[0] == 204


def test_a_restore_brings_back_keys_counters_and_the_clock(server: str) -> None:
    session = "restored"
    rule = {"unit": "hour", "duration": 1, "max_requests": 3, "mode": "per_key"}
    scheme = {"slug": "three", "name": "Three an hour", "rules": [rule]}
    assert send(server, "POST", "/api-auth/rate-limit-schemes", scheme, session=session)[0] == 200
    app = {"app_slug": "snap", "name": "Snap", "key_prefix": "sk_snap"}
    app["rate_limit_scheme_slug"] = "three"
    assert send(server, "POST", "/api-auth/apps", app, session=session)[0] == 200
    first = issue_key(server, "snap", session)
    assert [check(server, first["secret"], session)[1]["allowed"] for _ in range(2)] == [True] * 2
    status, _ = send(server, "POST", "/__admin/snapshots", {"name": "two-counted"}, session=session)
    assert status == 201

    # After the snapshot: the third check, the key revoked, another issued, time moved.
    assert check(server, first["secret"], session)[1]["rate_limits"][0]["remaining"] == 0
    revoke = f"/api-auth/apps/snap/keys/{first['id']}/revoke"
    assert send(server, "POST", revoke, {}, session=session)[0] == 200
    second = issue_key(server, "snap", session)
    assert send(server, "POST", "/__admin/clock", {"advance_seconds": 7200}, session=session)[0]

    restore = "/__admin/snapshots/two-counted/restore"
    assert send(server, "POST", restore, session=session)[0] == 204
    assert clock(server, session) == FROZEN
    assert check(server, second["secret"], session) == (401, "Invalid API key")
    # The first key is back, with the two checks it had: one more, then the limit.
    again = [check(server, first["secret"], session)[1] for _ in range(2)]
    assert again[0]["allowed"] is True and again[0]["rate_limits"][0]["remaining"] == 0
    assert again[1]["allowed"] is False and again[1]["blocked_rule"] == "3/3600s"


def test_the_journal_shows_the_session_header_and_still_masks_secrets(server: str) -> None:
    """ "session" is a secret word (a session cookie or token is a credential),
    but the session header names a test's session: exempt by its exact name."""
    request = urllib.request.Request(server + "/api-auth/apps/journalled", method="GET")
    request.add_header("Authorization", f"Bearer {KEY}")
    request.add_header("X-Mockserver-Session", "journalled")
    request.add_header("X-Session-Token", "a-session-credential")
    with pytest.raises(urllib.error.HTTPError) as answered:
        urllib.request.urlopen(request, timeout=60)
    refused = answered.value
    assert refused.code == 404
    path = "/api-auth/apps/journalled"
    assert_conforms("GET", path, refused.code, refused.headers, json.loads(refused.read()))
    status, journal = send(server, "GET", "/__admin/requests", session="journalled")
    assert status == 200
    (entry,) = journal["requests"]
    headers = {name.lower(): value for name, value in entry["headers"].items()}
    assert headers["x-mockserver-session"] == "journalled"
    assert "a-session-credential" not in json.dumps(entry)
    assert headers["x-session-token"].startswith("••••")
