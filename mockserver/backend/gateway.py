"""The gateway check (``POST /gateway/v1/authz/check``): may this key pass?

The steps of Wacht's gateway, in its order: the method, the resource, the
key's format, the key itself (active, its app active and not deleted), its
expiry, the required permissions, and the rate limits. Steps 1-3 and 5 answer
the error body, step 4 the plain text "Invalid API key"; permission and rate
decisions are 200s with ``allowed: false``. It authenticates no caller.

Every applicable rule is evaluated, in priority order, with no short
circuit: a rule that admits the request counts it even when another blocks
it; a blocking rule does not count it. Counters live in the shared state
(state/counters.py) or in Redis (state/redis_counters.py) and are exact
across worker processes and servers.
"""

import hashlib
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mockserver.backend.apikeys import Key, secret_format_problem, secret_hash
from mockserver.backend.audit import microseconds
from mockserver.backend.clock import format_timestamp, parse_timestamp
from mockserver.backend.context import Call, Context, Document, Handler, Reply
from mockserver.backend.fixtures import ApiKey
from mockserver.backend.permissions import permits
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
from mockserver.state.keys import Found

GATEWAY_PREFIX = "/gateway"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# Used when the key and its app name no scheme, or one that does not exist.
BUILT_IN_RULE = {
    "unit": "minute",
    "duration": 1,
    "max_requests": 1000,
    "mode": "per_app",
    "endpoints": ["*"],
    "priority": 0,
}
INVALID_KEY = Document(b"Invalid API key", "text/plain; charset=utf-8", status=401)
_IDENTITY_HEADERS = (
    ("organization_id", "x-wacht-organization-id"),
    ("workspace_id", "x-wacht-workspace-id"),
    ("organization_membership_id", "x-wacht-organization-membership-id"),
    ("workspace_membership_id", "x-wacht-workspace-membership-id"),
)


def error_body(request_id: str) -> dict[str, Any]:
    """The gateway's refusal: it never says why."""
    return {
        "request_id": request_id,
        "allowed": False,
        "reason": None,
        "blocked_rule": None,
        "identity": None,
        "permissions": [],
        "metadata": None,
        "rate_limits": [],
        "retry_after": None,
        "headers": {},
    }


def normalize_resource(resource: str) -> str:
    """Trimmed, cut at the first ``#`` then the first ``?``, with a leading ``/``
    ('' when nothing is left)."""
    path = resource.strip().split("#", 1)[0].split("?", 1)[0].strip()
    if not path:
        return ""
    return path if path.startswith("/") else "/" + path


def _scoped(mode: str, app_id: str, key_id: str, client_ip: str, resource: str) -> str:
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


@dataclass(frozen=True)
class Decision:
    rate_limits: list[dict[str, Any]]
    blocked_rule: str | None
    retry_after: int | None
    headers: dict[str, str]


# Writes a check's audit row in the transaction given (None: no audit row).
Recorder = Callable[[sqlite3.Connection, "Decision"], None]


def evaluate(
    ctx: Context,
    counted: list[tuple[Rule, str]],
    now: datetime,
    record: Recorder | None = None,
) -> Decision:
    """Count the request on every rule that admits it, in one transaction,
    which also holds the check's audit row (``record``). Everything but the
    counting and the audit row is done before or after that transaction:
    the other workers wait for it."""
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


def _caller(call: Call, body: dict[str, Any]) -> tuple[str, str]:
    client_ip = body.get("client_ip") or call.header("X-Original-Client-Ip") or call.peer or ""
    user_agent = (
        body.get("user_agent")
        or call.header("X-Original-User-Agent")
        or call.header("User-Agent")
        or "unknown"
    )
    return client_ip, user_agent


def _identity(key: Key) -> dict[str, Any]:
    return {
        "key_id": key["id"],
        "deployment_id": key["deployment_id"],
        "app_slug": key["app_slug"],
        "key_name": key["name"],
        "owner_user_id": key.get("owner_user_id"),
        "organization_id": key.get("organization_id"),
        "workspace_id": key.get("workspace_id"),
        "organization_membership_id": key.get("organization_membership_id"),
        "workspace_membership_id": key.get("workspace_membership_id"),
    }


def _key_headers(key: Key, permissions: list[str]) -> dict[str, str]:
    headers = {
        "x-wacht-key-id": key["id"],
        "x-wacht-deployment-id": key["deployment_id"],
        "x-wacht-app-slug": key["app_slug"],
        "x-wacht-key-name": key["name"],
    }
    for field, header in _IDENTITY_HEADERS:
        if key.get(field) is not None:
            headers[header] = key[field]
    if permissions:
        headers["x-wacht-permissions"] = ",".join(permissions)
    metadata = key["metadata"]
    if isinstance(metadata, dict):
        pairs = [f"{name}={value}" for name, value in metadata.items() if isinstance(value, str)]
        if pairs:
            headers["x-wacht-metadata"] = ",".join(pairs)
    return headers


@dataclass(frozen=True, slots=True)
class KeyView:
    """What every check of one key works out from the key and its app, worked
    out once and kept with them (``Found.memo``, forgotten when either
    changes). Its dicts and list go into answers as they are: never changed."""

    usable: bool  # the key active, its app active and not deleted
    expires: datetime | None
    permissions: list[str]
    identity: dict[str, Any]
    headers: dict[str, str]
    scheme_slug: str | None

    @classmethod
    def of(cls, found: Found) -> "KeyView":
        key, app = found.key, found.app
        permissions = sorted(
            {*key["permissions"], *key["org_role_permissions"], *key["workspace_role_permissions"]}
        )
        expires_at = key["expires_at"]
        return cls(
            usable=bool(key["is_active"] and app["is_active"] and app["deleted_at"] is None),
            expires=None if expires_at is None else parse_timestamp(expires_at),
            permissions=permissions,
            identity=_identity(key),
            headers=_key_headers(key, permissions),
            scheme_slug=key.get("rate_limit_scheme_slug") or app["rate_limit_scheme_slug"],
        )


def check_authz(ctx: Context, call: Call) -> Any:
    body = call.body
    request_id = f"req_{ctx.ids.next_id()}"
    method = body["method"].strip().upper()
    if method not in METHODS:
        return _refusal(400, request_id, "unknown method")
    resource = normalize_resource(body["resource"])
    if not resource:
        return _refusal(400, request_id, "empty resource")
    principal = body["principal"]
    value = principal["value"].strip()
    # oauth_access_token principals are out of scope: answered as a token the
    # gateway does not know.
    if principal["type"] != "api_key" or secret_format_problem(value) is not None:
        return _refusal(401, request_id, "malformed key")
    found = ctx.store.keys.find(secret_hash(value))
    if found is None:
        return INVALID_KEY
    view: KeyView = found.memo or KeyView.of(found)
    found.memo = view
    if not view.usable:
        return INVALID_KEY
    now = ctx.clock.now()
    if view.expires is not None and view.expires <= now:
        return _refusal(401, request_id, "expired key")
    key, app = found.key, found.app
    client_ip, user_agent = _caller(call, body)
    permissions = view.permissions
    answer = {
        "request_id": request_id,
        "allowed": True,
        "reason": None,
        "blocked_rule": None,
        "identity": view.identity,
        "permissions": permissions,
        "metadata": key["metadata"],
        "rate_limits": [],
        "retry_after": None,
        "headers": dict(view.headers),  # a check adds its own
    }
    audit_row = {
        "request_id": request_id,
        "deployment_id": key["deployment_id"],
        "app_slug": key["app_slug"],
        "key_id": key["id"],
        "key_name": key["name"],
        "outcome": "VALID",
        "blocked_by_rule": None,
        "client_ip": client_ip,
        "path": f"{method} {resource}",
        "user_agent": user_agent,
        "rate_limits": [],
        "timestamp": format_timestamp(now),
    }
    at_us = microseconds(now)
    if not permits(permissions, body.get("required_permissions") or []):
        answer.update(allowed=False, reason="permission_denied", blocked_rule="permission_denied")
        answer["headers"]["x-wacht-permission-denied"] = "true"
        audit_row.update(outcome="BLOCKED", blocked_by_rule="permission_denied")
        _write_audit(ctx, audit_row, at_us)
        return _decided(answer)
    _, rules = applicable_rules(ctx, view.scheme_slug, resource)
    if not rules:
        _write_audit(ctx, audit_row, at_us)
        return _decided(answer)
    counted = [
        (
            rule,
            rule.counter(_scoped(rule.mode, app["id"], key["id"], client_ip, resource)),
        )
        for rule in rules
    ]

    def record(db: sqlite3.Connection, decision: Decision) -> None:
        blocked = decision.blocked_rule
        audit_row.update(
            outcome="VALID" if blocked is None else "BLOCKED",
            blocked_by_rule=blocked,
            rate_limits=decision.rate_limits,
        )
        ctx.audit.write(db, audit_row, at_us)

    decision = evaluate(ctx, counted, now, record)
    answer["rate_limits"] = decision.rate_limits
    answer["headers"].update(decision.headers)
    if decision.blocked_rule is not None:
        answer.update(
            allowed=False,
            reason="rate_limited",
            blocked_rule=decision.blocked_rule,
            retry_after=decision.retry_after,
        )
    return _decided(answer)


def _refusal(status: int, request_id: str, why: str) -> Reply:
    """The error body (which never says why); the inspector's row does."""
    return Reply(status, error_body(request_id), {"allowed": False, "reason": why})


def _decided(answer: dict[str, Any]) -> Reply:
    summary = {"allowed": answer["allowed"]}
    if not answer["allowed"]:
        summary.update(reason=answer["reason"], blocked_rule=answer["blocked_rule"])
    return Reply(200, answer, summary)


def _write_audit(ctx: Context, row: dict[str, Any], at_us: int) -> None:
    """The audit row of a check that counted nothing, in a transaction of its own."""
    with ctx.store.database.transaction() as db:
        ctx.audit.write(db, row, at_us)


def gateway_health(ctx: Context, call: Call) -> Document:
    return Document(b"OK", "text/plain; charset=utf-8")


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


GATEWAY_HANDLERS: dict[str, Handler] = {
    "checkAuthz": check_authz,
    "gatewayHealth": gateway_health,
}
