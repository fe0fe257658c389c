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


def test_a_rule_of_l_admits_exactly_l_across_three_workers() -> None:
    # A frozen clock: every check falls in the same window.
    with run_server(["--workers", "3", "--freeze-time", "2026-05-05T10:00:00Z"]) as server:
        base = server.base_url
        rule = {"unit": "hour", "duration": 1, "max_requests": LIMIT, "mode": "per_key"}
        scheme = {"slug": "exact", "name": "Exact", "rules": [rule]}
        send(base, "POST", "/api-auth/rate-limit-schemes", scheme, AUTH)
        app = {"app_slug": "race", "name": "Race", "key_prefix": "sk_race"}
        send(base, "POST", "/api-auth/apps", {**app, "rate_limit_scheme_slug": "exact"}, AUTH)
        key = send(base, "POST", "/api-auth/apps/race/keys", {"name": "k"}, AUTH)
        body = {
            "principal": {"type": "api_key", "value": key["secret"]},
            "resource": "/v1/things",
            "method": "GET",
        }
        barrier = threading.Barrier(CHECKS)

        def one_check(_: int) -> dict[str, Any]:
            barrier.wait(timeout=60)
            headers = {"Content-Type": "application/json"}
            return send(base, "POST", "/gateway/v1/authz/check", body, headers)

        with ThreadPoolExecutor(max_workers=CHECKS) as pool:
            answers = list(pool.map(one_check, range(CHECKS)))
        admitted = [answer for answer in answers if answer["allowed"]]
        assert len(admitted) == LIMIT
        # Each admitted check saw a different count: remaining LIMIT-1 down to 0.
        remaining = sorted(answer["rate_limits"][0]["remaining"] for answer in admitted)
        assert remaining == list(range(LIMIT))
        assert all(a["blocked_rule"] == f"{LIMIT}/3600s" for a in answers if not a["allowed"])
        machines = {
            decode(answer["request_id"].removeprefix("req_")).machine_id for answer in answers
        }
        assert len(machines) >= 2, "the checks were all answered by one worker"
        # And every check that reached the permission step was audited once.
        logs = "/api-auth/apps/race/audit/logs?limit=1000&start_date=2026-05-05T09:00:00Z"
        request = urllib.request.Request(base + logs, headers=AUTH)
        with urllib.request.urlopen(request, timeout=60) as response:
            rows = json.loads(response.read())["data"]
        assert sorted(row["request_id"] for row in rows) == sorted(a["request_id"] for a in answers)
        assert sum(row["outcome"] == "VALID" for row in rows) == LIMIT
        # The clock moved through the admin API moves for every worker: an hour
        # later the rule's next window admits LIMIT checks again.
        moved = send(base, "POST", "/__admin/clock", {"advance_seconds": 3600}, AUTH)
        assert moved == {"now": "2026-05-05T11:00:00Z"}
        later = [one_after(base, body) for _ in range(LIMIT + 1)]
        assert [answer["allowed"] for answer in later] == [True] * LIMIT + [False]


def one_after(base: str, body: dict[str, Any]) -> dict[str, Any]:
    return send(base, "POST", "/gateway/v1/authz/check", body, {"Content-Type": "application/json"})
