"""The gateway check (``POST /gateway/v1/authz/check``): may this key pass?

The steps of Wacht's gateway, in its order: the method, the resource, the
key's format, the key itself (active, its app active and not deleted), its
expiry, the required permissions, and the rate limits (counting.py). Steps
1-3 and 5 answer the error body, step 4 the plain text "Invalid API key";
permission and rate decisions are 200s with ``allowed: false``. It
authenticates no caller.
"""

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mockserver.backend.apikeys import Key, secret_format_problem, secret_hash
from mockserver.backend.audit import microseconds
from mockserver.backend.clock import format_timestamp, parse_timestamp
from mockserver.backend.context import Call, Context, Document, Handler, Reply
from mockserver.backend.counting import Decision, applicable_rules, evaluate, scoped
from mockserver.backend.permissions import permits
from mockserver.state.keys import Found

GATEWAY_PREFIX = "/gateway"
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
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
            rule.counter(scoped(rule.mode, app["id"], key["id"], client_ip, resource)),
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
    """The audit row of a check that counted nothing, in a write of its own."""
    ctx.audit.add(row, at_us)


def gateway_health(ctx: Context, call: Call) -> Document:
    return Document(b"OK", "text/plain; charset=utf-8")


GATEWAY_HANDLERS: dict[str, Handler] = {
    "checkAuthz": check_authz,
    "gatewayHealth": gateway_health,
}
