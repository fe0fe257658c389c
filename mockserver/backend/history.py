"""A demo audit history: the last days of gateway checks of the demo keys.

So that a console's usage screens have something to show on a fresh server,
the default fixtures ask for about a week of traffic before the server's
clock: mostly admitted checks, some blocked by a rate limit and some by
permissions, on a handful of paths, busier in working hours and on weekdays.
The rows are ordinary audit rows, written once when a new state is seeded.

Drawn with the standard library's ``random``, seeded from ``--seed``, so the
same seed and clock give the same history. Not with Faker: importing it
takes 220 to 350 ms, five times the 50 ms this may add to start-up; the few
addresses and user agents it would draw come from small tables here instead.
"""

import bisect
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mockserver.backend.audit import from_microseconds, microseconds
from mockserver.backend.clock import format_timestamp
from mockserver.backend.ids import EPOCH as SNOWFLAKE_EPOCH
from mockserver.backend.ids import TICK, compose
from mockserver.state.audit import DAY_US

# Share of checks per hour of the day (UTC), busiest in working hours.
_HOURLY = [1, 1, 1, 1, 1, 2, 3, 6, 9, 10, 10, 10, 8, 9, 10, 10, 9, 7, 5, 4, 3, 2, 2, 1]
_WEEKEND = 0.35  # a Saturday or Sunday, relative to a weekday
_BLOCKED_BY_RATE = 0.05
_BLOCKED_BY_PERMISSION = 0.03
_PATHS = [
    ("GET /v1/users", 30),
    ("GET /v1/orders", 22),
    ("POST /v1/orders", 12),
    ("GET /v1/invoices", 10),
    ("PATCH /v1/users/me", 6),
    ("DELETE /v1/sessions", 3),
]
_USER_AGENTS = [
    "python-requests/2.32.3",
    "axios/1.7.9",
    "node-fetch/3.3.2",
    "Go-http-client/2.0",
    "curl/8.11.1",
    "okhttp/4.12.0",
]
# Each key calls from a few addresses: its servers, not the whole internet.
_ADDRESSES_PER_KEY = 3
_HOUR_US = 3_600_000_000
_ONE_HOUR = timedelta(hours=1)
_TICK_US = TICK // timedelta(microseconds=1)


@dataclass(frozen=True)
class HistoryKey:
    """A demo key whose past checks are made up: its app and its rules' strings."""

    app_slug: str
    key_id: str
    key_name: str
    rules: Sequence[str]  # rule strings as the gateway writes them, e.g. "100/60s"
    limits: Sequence[int]  # max_requests of each rule, for ``remaining``


def _public_address(draw: random.Random) -> str:
    while True:
        first = draw.randint(11, 223)
        if first not in (100, 127, 169, 172, 192, 198, 203):  # no private or test ranges
            return f"{first}.{draw.randint(0, 255)}.{draw.randint(0, 255)}.{draw.randint(1, 254)}"


def _instants(draw: random.Random, now: datetime, days: int, per_day: int) -> list[int]:
    """Check times (microseconds) over ``days`` before ``now``, shaped like
    working traffic, oldest first."""
    end_us = microseconds(now)
    start_us = end_us - days * DAY_US
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
    hour_us = microseconds(hour)
    mean = per_day / sum(_HOURLY)
    instants = []
    while hour_us < end_us:
        weight = _HOURLY[hour.hour] * (_WEEKEND if hour.weekday() >= 5 else 1.0)
        expected = mean * weight
        # A Poisson-like spread around the expected count, never negative.
        count = max(0, round(draw.gauss(expected, math.sqrt(expected) or 1)))
        for _ in range(count):
            at_us = hour_us + int(draw.random() * _HOUR_US)
            if start_us <= at_us < end_us:
                instants.append(at_us)
        hour += _ONE_HOUR
        hour_us += _HOUR_US
    instants.sort()
    return instants


def _picker(draw: random.Random, items: Sequence[Any], weights: Sequence[float]) -> Any:
    """A weighted choice without ``random.choices``'s set-up on every call."""
    cumulative = list(itertools.accumulate(weights))
    total = cumulative[-1]
    return lambda: items[bisect.bisect(cumulative, draw.random() * total)]


def demo_history(
    keys: Sequence[HistoryKey],
    *,
    now: datetime,
    days: int,
    checks_per_day: int,
    deployment_id: str,
    machine_id: int,
    seed: int | None,
) -> Iterator[tuple[dict[str, Any], int]]:
    """Audit rows, oldest first, each with its instant in microseconds."""
    if not keys or days <= 0 or checks_per_day <= 0:
        return
    draw = random.Random(seed)
    addresses = {
        key.key_id: [_public_address(draw) for _ in range(_ADDRESSES_PER_KEY)] for key in keys
    }
    agents = {key.key_id: draw.choice(_USER_AGENTS) for key in keys}
    pick_key = _picker(draw, keys, [draw.uniform(0.5, 2.0) for _ in keys])
    pick_path = _picker(draw, *zip(*_PATHS, strict=True))
    first_us = microseconds(SNOWFLAKE_EPOCH)  # before it, no request id can exist
    for sequence, at_us in enumerate(_instants(draw, now, days, checks_per_day)):
        if at_us < first_us:
            continue
        key = pick_key()
        roll = draw.random()
        blocked_by = None
        if roll < _BLOCKED_BY_PERMISSION:
            blocked_by = "permission_denied"
        elif roll < _BLOCKED_BY_PERMISSION + _BLOCKED_BY_RATE and key.rules:
            blocked_by = key.rules[int(draw.random() * len(key.rules))]
        rate_limits = []
        if blocked_by != "permission_denied":
            for rule, limit in zip(key.rules, key.limits, strict=True):
                remaining = 0 if rule == blocked_by else int(draw.random() * limit)
                rate_limits.append({"rule": rule, "remaining": remaining, "limit": limit})
        ticks = (at_us - first_us) // _TICK_US
        row = {
            "request_id": f"req_{compose(ticks, sequence % 256, machine_id)}",
            "deployment_id": deployment_id,
            "app_slug": key.app_slug,
            "key_id": key.key_id,
            "key_name": key.key_name,
            "outcome": "VALID" if blocked_by is None else "BLOCKED",
            "blocked_by_rule": blocked_by,
            "client_ip": addresses[key.key_id][int(draw.random() * _ADDRESSES_PER_KEY)],
            "path": pick_path(),
            "user_agent": agents[key.key_id],
            "rate_limits": rate_limits,
            "timestamp": format_timestamp(from_microseconds(at_us)),
        }
        yield row, at_us
