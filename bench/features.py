"""What the loads of later features need from a running mockserver, made through its API.

Each helper either sets up what its load needs (a key past its limit, an
admitted key) or raises ``Unavailable`` with what the server answered, so
that a load whose endpoints do not exist yet is skipped with a note rather
than failing the run. Everything is made through the public API, with the
dev key, on a fresh server: nothing here depends on the fixtures' secrets.
"""

from __future__ import annotations

import http.client
import json
import statistics
import time
from dataclasses import dataclass
from typing import Any

from bench.base import API_KEY, HOST

# The key past its limit may pass this many checks a day (a fixed UTC-aligned
# window): the warm-up uses them up, and the run counts that it got exactly these.
LIMITED_MAX_REQUESTS = 100
# Far more than a run can send: every check is admitted, and still counted.
ADMITTED_MAX_REQUESTS = 1_000_000_000
SESSION_HEADER = "X-Mockserver-Session"
SESSION_COST_SAMPLES = 30


class Unavailable(Exception):
    """The server lacks what a load needs: the load is skipped, with this note."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # parsed JSON, else the text
    seconds: float


def call(
    port: int,
    method: str,
    path: str,
    body: object = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request with the dev key on a new connection, timed from send to last byte."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    sent = {"Authorization": f"Bearer {API_KEY}", **(headers or {})}
    payload = None
    if body is not None:
        payload = json.dumps(body)
        sent["Content-Type"] = "application/json"
    try:
        started = time.perf_counter()
        connection.request(method, path, body=payload, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        seconds = time.perf_counter() - started
    finally:
        connection.close()
    text = raw.decode(errors="replace")
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = text
    return Answer(response.status, parsed, seconds)


def _expect_200(answer: Answer, what: str) -> Any:
    if answer.status != 200:
        raise Unavailable(f"{what} answered {answer.status}: {str(answer.body)[:160]}")
    return answer.body


def gateway_key(port: int, kind: str) -> str:
    """A new key's secret on a new app whose one rule admits every check ("admitted")
    or LIMITED_MAX_REQUESTS a day ("limited")."""
    health = call(port, "GET", "/gateway/health")
    if health.status != 200:
        raise Unavailable(f"GET /gateway/health answered {health.status}: no gateway yet")
    limit = ADMITTED_MAX_REQUESTS if kind == "admitted" else LIMITED_MAX_REQUESTS
    scheme = f"bench-{kind}"
    rule = {"unit": "day", "duration": 1, "max_requests": limit, "mode": "per_key"}
    _expect_200(
        call(
            port,
            "POST",
            "/api-auth/rate-limit-schemes",
            {"slug": scheme, "name": f"Benchmark {kind}", "rules": [rule]},
        ),
        "POST /api-auth/rate-limit-schemes",
    )
    app = f"bench-gateway-{kind}"
    _expect_200(
        call(
            port,
            "POST",
            "/api-auth/apps",
            {
                "app_slug": app,
                "name": f"Benchmark gateway {kind}",
                "key_prefix": "sk_live",
                "rate_limit_scheme_slug": scheme,
                "permissions": ["invoices:read"],
            },
        ),
        "POST /api-auth/apps",
    )
    key = _expect_200(
        call(
            port,
            "POST",
            f"/api-auth/apps/{app}/keys",
            {"name": f"Benchmark {kind} key", "permissions": ["invoices:read"]},
        ),
        f"POST /api-auth/apps/{app}/keys",
    )
    secret = key.get("secret") if isinstance(key, dict) else None
    if not isinstance(secret, str):
        raise Unavailable(f"the new key shows no secret: {str(key)[:160]}")
    return secret


def require_sessions(port: int) -> None:
    """Sessions exist when the admin API lists them."""
    answer = call(port, "GET", "/__admin/sessions")
    if answer.status != 200:
        raise Unavailable(f"GET /__admin/sessions answered {answer.status}: no sessions yet")


@dataclass(frozen=True)
class SessionCost:
    new_ms: float  # median of a first request in a new session
    existing_ms: float  # median of the same request in a session that exists

    @property
    def cost_ms(self) -> float:
        return self.new_ms - self.existing_ms


def session_cost(port: int, existing: str, tag: str) -> SessionCost:
    """Alternately: the same small read in a new session, then in ``existing``.

    The difference of the medians is what making a session (from the
    fixtures, on first use) adds to the request that makes it.
    """
    new, old = [], []
    for n in range(SESSION_COST_SAMPLES):
        for name, into in ((f"{tag}-cost-{n}", new), (existing, old)):
            answer = call(port, "GET", "/api-auth/apps?limit=1", headers={SESSION_HEADER: name})
            _expect_200(answer, f"GET /api-auth/apps in session {name}")
            into.append(answer.seconds * 1000)
    return SessionCost(statistics.median(new), statistics.median(old))
