"""Gateway counters are exact across real worker processes (``--workers 3``).

Concurrent checks, released together on fresh connections, are spread by the
kernel over the workers; a rule of L per window must admit exactly L of them,
whichever worker answered. The request ids name the process that made them
(their snowflake machine id), which shows that several workers took part.
"""

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from contract import assert_conforms

from mockserver.backend.ids import decode
from mockserver.tooling.testing import run_server

LIMIT = 7
CHECKS = 40
ROUNDS = 10
AUTH = {"Authorization": "Bearer sk_test_mock", "Content-Type": "application/json"}


def send(base_url: str, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    request = urllib.request.Request(
        base_url + path, data=json.dumps(body).encode(), method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw, answer_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, answer_headers = error.code, error.read(), error.headers
    answer = json.loads(raw)
    assert_conforms(method, path, status, answer_headers, answer)
    assert status == 200, answer
    return answer


def new_key_and_check(
    base_url: str, app_slug: str, scheme_slug: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A key just issued on a new app limited by the scheme, and a gateway check's body for it."""
    app = {"app_slug": app_slug, "name": app_slug, "key_prefix": "sk_" + app_slug}
    send(base_url, "POST", "/api-auth/apps", {**app, "rate_limit_scheme_slug": scheme_slug}, AUTH)
    key = send(base_url, "POST", f"/api-auth/apps/{app_slug}/keys", {"name": "k"}, AUTH)
    return key, {
        "principal": {"type": "api_key", "value": key["secret"]},
        "resource": "/v1/things",
        "method": "GET",
    }


def test_a_rule_of_l_admits_exactly_l_across_three_workers() -> None:
    # A frozen clock: every check falls in the same window.
    with run_server(["--workers", "3", "--freeze-time", "2026-05-05T10:00:00Z"]) as server:
        base = server.base_url
        rule = {"unit": "hour", "duration": 1, "max_requests": LIMIT, "mode": "per_key"}
        scheme = {"slug": "exact", "name": "Exact", "rules": [rule]}
        send(base, "POST", "/api-auth/rate-limit-schemes", scheme, AUTH)
        _key, body = new_key_and_check(base, "race", "exact")
        machines: set[int] = set()
        answers: list[dict[str, Any]] = []
        # Each round is a new window (the clock moved an hour through the admin
        # API, for every worker); rounds go on until two workers have answered
        # (a busy machine may let one worker take a whole round).
        for _round in range(ROUNDS):
            batch = race(base, body)
            admitted = [answer for answer in batch if answer["allowed"]]
            assert len(admitted) == LIMIT
            # Each admitted check saw a different count: remaining LIMIT-1 down to 0.
            remaining = sorted(answer["rate_limits"][0]["remaining"] for answer in admitted)
            assert remaining == list(range(LIMIT))
            assert all(a["blocked_rule"] == f"{LIMIT}/3600s" for a in batch if not a["allowed"])
            answers += batch
            machines |= {decode(a["request_id"].removeprefix("req_")).machine_id for a in batch}
            if len(machines) >= 2:
                break
            send(base, "POST", "/__admin/clock", {"advance_seconds": 3600}, AUTH)
        assert len(machines) >= 2, "every check was answered by one worker"
        # And every check that reached the permission step was audited once.
        logs = "/api-auth/apps/race/audit/logs?limit=1000&start_date=2026-05-05T09:00:00Z"
        request = urllib.request.Request(base + logs, headers=AUTH)
        with urllib.request.urlopen(request, timeout=60) as response:
            rows = json.loads(response.read())["data"]
        assert sorted(row["request_id"] for row in rows) == sorted(a["request_id"] for a in answers)
        assert sum(row["outcome"] == "VALID" for row in rows) == LIMIT * (len(answers) // CHECKS)


def race(base: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """CHECKS checks on fresh connections, released together."""
    barrier = threading.Barrier(CHECKS)

    def one_check(_: int) -> dict[str, Any]:
        barrier.wait(timeout=60)
        headers = {"Content-Type": "application/json"}
        return send(base, "POST", "/gateway/v1/authz/check", body, headers)

    with ThreadPoolExecutor(max_workers=CHECKS) as pool:
        return list(pool.map(one_check, range(CHECKS)))


def checks_until_every_worker_answered(
    base: str, body: dict[str, Any], workers: int
) -> list[dict[str, Any]]:
    """Rounds of concurrent checks until ``workers`` processes have answered
    one (each of them has then looked the key up, and keeps it)."""
    answers: list[dict[str, Any]] = []
    machines: set[int] = set()
    for _round in range(ROUNDS):
        batch = race(base, body)
        answers += batch
        machines |= {decode(a["request_id"].removeprefix("req_")).machine_id for a in batch}
        if len(machines) >= workers:
            return answers
    raise AssertionError(f"only {len(machines)} of {workers} workers answered")


def test_a_change_through_the_api_applies_at_once_in_every_worker() -> None:
    # Every worker has checked the key (and keeps what it found): the app's
    # new scheme, then the key's revocation, must apply to the very next
    # check, whichever worker answers it.
    with run_server(["--workers", "2"]) as server:
        base = server.base_url
        for slug, limit in (("first", 1000), ("second", 500)):
            rule = {"unit": "hour", "duration": 1, "max_requests": limit, "mode": "per_key"}
            send(
                base,
                "POST",
                "/api-auth/rate-limit-schemes",
                {"slug": slug, "name": slug, "rules": [rule]},
                AUTH,
            )
        key, body = new_key_and_check(base, "cached", "first")
        before = checks_until_every_worker_answered(base, body, 2)
        assert {a["rate_limits"][0]["rule"] for a in before} == {"1000/3600s"}

        send(base, "PATCH", "/api-auth/apps/cached", {"rate_limit_scheme_slug": "second"}, AUTH)
        after = checks_until_every_worker_answered(base, body, 2)
        assert {a["rate_limits"][0]["rule"] for a in after} == {"500/3600s"}

        revoke = f"/api-auth/apps/cached/keys/{key['id']}/revoke"
        send(base, "POST", revoke, {}, AUTH)
        refused = refused_checks(base, body)
        assert refused == [(401, b"Invalid API key")] * CHECKS


def refused_checks(base: str, body: dict[str, Any]) -> list[tuple[int, bytes]]:
    """CHECKS checks on fresh connections, released together: status and body of each."""
    barrier = threading.Barrier(CHECKS)

    def one_check(_: int) -> tuple[int, bytes]:
        barrier.wait(timeout=60)
        request = urllib.request.Request(
            base + "/gateway/v1/authz/check",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    with ThreadPoolExecutor(max_workers=CHECKS) as pool:
        return list(pool.map(one_check, range(CHECKS)))
