"""How a request is counted on rate-limit rules: which rules of a scheme apply
to it, the counters they count on, and the decision (the gateway check's
``rate_limits``, ``retry_after``, headers), for the gateway check
(gateway.py) and the management API's own limited keys alike.

Every applicable rule is evaluated, in priority order, with no short
circuit: a rule that admits the request counts it even when another blocks
it; a blocking rule does not count it. Counters live in memory a SQLite
state's workers share (state/shared_counters.py), in a PostgreSQL state
(state/counters.py) or in Redis (state/redis_counters.py), and are exact
across worker processes and servers.
"""

import hashlib
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mockserver.backend.context import Context
from mockserver.backend.fixtures import ApiKey
from mockserver.backend.windows import (
    Window,
    epoch_ms,
    rule_string,
    window_at,
    window_ms,
    window_name,
)
from mockserver.contract.errors import ApiError, Problem
from mockserver.state.counters import Outcome, Tally

# Used when the key and its app name no scheme, or one that does not exist.
BUILT_IN_RULE = {
    "unit": "minute",
    "duration": 1,
    "max_requests": 1000,
    "mode": "per_app",
    "endpoints": ["*"],
    "priority": 0,
}


def scoped(mode: str, app_id: str, key_id: str, client_ip: str, resource: str) -> str:
    if mode == "per_key":
        return f"key:{key_id}|{resource}"
    if mode == "per_key_and_ip":
        return f"key:{key_id}|{client_ip}|{resource}"
    if mode == "per_app_and_ip":
        return f"app:{app_id}|{client_ip}"
    return f"app:{app_id}"


@dataclass(frozen=True, slots=True)
class Rule:
    """A scheme's rule as a check uses it: what each check would otherwise
    work out again from the rule's dict (its string, its window, the names of
    its counter and headers) is worked out once per version of the scheme."""

    position: int
    limit: int
    mode: str
    endpoints: frozenset[str] | None  # None: every resource ("*")
    string: str  # "100/60s", as the gateway names the rule
    length_ms: int
    calendar_month: bool
    # A counter's name is "{scheme}#{position}|{scope}@{string}": these are its two ends.
    counter_head: str
    counter_tail: str
    limit_header: str
    remaining_header: str
    reset_header: str

    @classmethod
    def of(cls, scheme_name: str, position: int, rule: dict[str, Any]) -> "Rule":
        endpoints = rule.get("endpoints") or ["*"]
        string = rule_string(rule)
        window = window_name(rule)
        return cls(
            position=position,
            limit=rule["max_requests"],
            mode=rule.get("mode", "per_app"),
            endpoints=None if "*" in endpoints else frozenset(endpoints),
            string=string,
            length_ms=window_ms(rule),
            calendar_month=rule["unit"] == "calendar_month",
            counter_head=f"{scheme_name}#{position}|",
            counter_tail=f"@{string}",
            limit_header=f"x-ratelimit-{window}-limit",
            remaining_header=f"x-ratelimit-{window}-remaining",
            reset_header=f"x-ratelimit-{window}-reset",
        )

    def counter(self, scope: str) -> str:
        return self.counter_head + scope + self.counter_tail

    def applies_to(self, resource: str) -> bool:
        return self.endpoints is None or resource in self.endpoints

    def window(self, now_ms: int, now: datetime) -> Window:
        if self.calendar_month:
            return window_at({"unit": "calendar_month"}, now)
        start_ms = now_ms - now_ms % self.length_ms
        return Window(start_ms, start_ms + self.length_ms)


_BUILT_IN = [Rule.of("built-in", 0, BUILT_IN_RULE)]
# Each scheme's rules as Rules, stably sorted by priority ascending, by the
# identity of the scheme's rules list: the store hands out the same list
# until the scheme changes (store.py's cache), so a changed scheme is a new
# list and is worked out again. The list is kept with its Rules, so that its
# id cannot be reused while the entry lives; schemes are few (the bound only
# stops old versions piling up).
_COMPILED: dict[int, tuple[list[dict[str, Any]], list[Rule]]] = {}
_COMPILED_MAX = 256


def scheme_rules(ctx: Context, slug: str | None) -> tuple[str, list[Rule]]:
    """The scheme's name for counters and all its Rules in priority order
    (the built-in rule when the slug names no scheme)."""
    scheme = ctx.store.get_scheme(slug) if slug is not None else None
    if scheme is None:
        return "built-in", _BUILT_IN
    rules = scheme["rules"]
    compiled = _COMPILED.get(id(rules))
    if compiled is None or compiled[0] is not rules:
        name = f"scheme:{scheme['id']}"
        ordered = sorted(enumerate(rules), key=lambda item: item[1].get("priority", 0))
        compiled = (rules, [Rule.of(name, position, rule) for position, rule in ordered])
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[id(rules)] = compiled
    return f"scheme:{scheme['id']}", compiled[1]


def applicable_rules(ctx: Context, slug: str | None, resource: str) -> tuple[str, list[Rule]]:
    """The scheme's name for counters and its rules that apply to ``resource``,
    stably sorted by priority ascending."""
    name, rules = scheme_rules(ctx, slug)
    return name, [rule for rule in rules if rule.applies_to(resource)]


@dataclass(slots=True)  # made on every check: not frozen, which costs 4x
class Decision:
    rate_limits: list[dict[str, Any]]
    blocked_rule: str | None
    retry_after: int | None
    headers: dict[str, str]


# Writes a check's audit row with the connection given (None: no audit row).
Recorder = Callable[[sqlite3.Connection, "Decision"], None]


def evaluate(
    ctx: Context,
    counted: list[tuple[Rule, str]],
    now: datetime,
    record: Recorder | None = None,
) -> Decision:
    """Count the request on every rule that admits it, in one step of the
    counters' store with the check's audit row (``record``). Everything
    but the counting and the audit row is done before or after that step:
    the other workers may wait for it."""
    now_ms = epoch_ms(now)
    windows = [rule.window(now_ms, now) for rule, _ in counted]
    tallies = [
        Tally(name, window.start_ms, rule.limit, window.end_ms - window.start_ms)
        for (rule, name), window in zip(counted, windows, strict=True)
    ]
    decided: list[Decision] = []

    def decide(db: sqlite3.Connection, outcomes: list[Outcome]) -> None:
        decided.append(_decision(counted, windows, outcomes, now_ms))
        if record is not None:
            record(db, decided[0])

    if record is None:
        outcomes = ctx.counters.take(tallies)
        return _decision(counted, windows, outcomes, now_ms)
    ctx.counters.take(tallies, decide)
    return decided[0]


def _decision(
    counted: list[tuple[Rule, str]],
    windows: list[Window],
    outcomes: list[Outcome],
    now_ms: int,
) -> Decision:
    rate_limits, headers = [], {}
    blocked_rule, waits = None, []
    for (rule, _), window, outcome in zip(counted, windows, outcomes, strict=True):
        limit = rule.limit
        remaining = limit - outcome.count if outcome.admitted else 0
        rate_limits.append({"rule": rule.string, "remaining": remaining, "limit": limit})
        headers[rule.limit_header] = str(limit)
        headers[rule.remaining_header] = str(remaining)
        if not outcome.admitted:
            blocked_rule = blocked_rule or rule.string
            waits.append((rule.reset_header, window.end_ms - now_ms))
    retry_after = min(wait for _, wait in waits) if waits else None
    for reset_header, _ in waits:
        headers[reset_header] = str(retry_after)
    return Decision(rate_limits, blocked_rule, retry_after, headers)


def limit_management_call(ctx: Context, key: ApiKey, path: str) -> None:
    """The management API's own rate limit: a fixture key naming a scheme is
    limited like a gateway check of that key (mode per_key); over the limit
    is a 429 saying, in whole seconds rounded up, when to retry."""
    if key.rate_limit_scheme_slug is None:
        return
    scheme_name, rules = applicable_rules(ctx, key.rate_limit_scheme_slug, path)
    if scheme_name == "built-in" or not rules:
        return
    # The counter names the key by a hash: the bearer key is a secret.
    key_name = hashlib.sha256(key.key.encode("utf-8")).hexdigest()[:16]
    counted = [(rule, rule.counter(f"management:{key_name}|{path}")) for rule in rules]
    decision = evaluate(ctx, counted, ctx.clock.now())
    if decision.retry_after is not None:
        seconds = math.ceil(decision.retry_after / 1000)
        raise ApiError(
            429,
            [Problem(f"Rate limit exceeded. Retry after {seconds} seconds")],
            headers={"Retry-After": str(seconds)},
        )
