"""The key operations: list, create, revoke and rotate an app's API keys.

Each looks the app up by slug among non-deleted apps first (404 "API key app
not found"), then applies the backend's checks in the backend's order.
A secret is shown once, in the create or rotate answer; only its hash is kept.
"""

import random
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from mockserver.backend.apikeys import (
    Key,
    NotAMember,
    key_scope,
    make_secret,
    new_key,
    present_key,
    secret_hash,
)
from mockserver.backend.clock import format_timestamp, parse_timestamp
from mockserver.backend.context import Call, Context, Handler
from mockserver.backend.ids import EPOCH
from mockserver.contract.errors import ApiError, Problem
from mockserver.state.keys import SecretTaken

APP_NOT_FOUND = "API key app not found"
KEY_NOT_FOUND = "API key not found"
_MICROSECOND = timedelta(microseconds=1)


class SeededSecrets:
    """Secret bytes drawn from ``random.Random(seed)`` so that ``--seed`` repeats
    them. Each process mixes in its snowflake machine id (unique among the
    processes of one state), so two workers never draw the same secrets."""

    def __init__(self, seed: int, machine_id: Callable[[], int]) -> None:
        self._seed = seed
        self._machine_id = machine_id
        self._lock = threading.Lock()
        self._random: random.Random | None = None

    def __call__(self) -> bytes:
        with self._lock:
            if self._random is None:
                self._random = random.Random(f"{self._seed}/{self._machine_id()}")
            return self._random.randbytes(32)


def _micros(timestamp: str) -> int:
    return (parse_timestamp(timestamp) - EPOCH) // _MICROSECOND


def _app(ctx: Context, call: Call) -> dict[str, Any]:
    app = ctx.store.get_app(call.path_params["app_slug"])
    if app is None:
        raise ApiError.single(404, APP_NOT_FOUND)
    return app


def _key_id(call: Call) -> str:
    raw = call.path_params["key_id"]
    if not (raw.isascii() and raw.isdigit()) or int(raw) >= 1 << 63:
        raise ApiError(400, [Problem("Bad request", parameter="key_id")])
    return str(int(raw))


def _rules(ctx: Context, key: Key) -> list[dict[str, Any]]:
    slug = key["rate_limit_scheme_slug"]
    scheme = ctx.store.get_scheme(slug) if slug is not None else None
    return list(scheme["rules"]) if scheme is not None else []


def _scope(ctx: Context, app: dict[str, Any]) -> Any:
    try:
        return key_scope(ctx.fixtures, app)
    except NotAMember as refused:
        raise ApiError.single(400, str(refused)) from None


def _issue(
    ctx: Context, app: dict[str, Any], fields: dict[str, Any], drawn: tuple[str, bytes, str]
) -> tuple[Key, str, str]:
    """A new key of ``app``: (key, secret, its hash). ``drawn`` is its id, secret
    bytes and time, drawn before any transaction (a first id may claim a
    machine id in the store, which a transaction under way would block)."""
    key_id, random_bytes, now = drawn
    secret = make_secret(fields.get("key_prefix", app["key_prefix"]), random_bytes)
    key = new_key(app, fields, _scope(ctx, app), key_id=key_id, secret=secret, now=now)
    return key, secret, secret_hash(secret)


def _draw(ctx: Context) -> tuple[str, bytes, str]:
    return ctx.ids.next_id(), ctx.secret_bytes(), ctx.now()


def _with_secret(key: Key, secret: str) -> Key:
    return {**present_key(key, []), "secret": secret}


def list_api_keys(ctx: Context, call: Call) -> dict[str, Any]:
    app = _app(ctx, call)
    keys = ctx.store.keys.list(app["id"], include_inactive=call.query["include_inactive"])
    return {"keys": [present_key(key, _rules(ctx, key)) for key in keys]}


def _expires_at(body: dict[str, Any]) -> str | None:
    value = body.get("expires_at")
    if value is None:
        return None
    try:
        return format_timestamp(parse_timestamp(value))
    except ValueError as error:
        raise ApiError(422, [Problem(f"expires_at: {error}", field="/expires_at")]) from None


def create_api_key(ctx: Context, call: Call) -> dict[str, Any]:
    expires_at = _expires_at(call.body)
    app = _app(ctx, call)
    fields = {
        "name": call.body["name"],
        "permissions": call.body.get("permissions"),
        "metadata": call.body.get("metadata"),
        "expires_at": expires_at,
    }
    for _attempt in range(3):
        key, secret, hashed = _issue(ctx, app, fields, _draw(ctx))
        try:
            ctx.store.keys.insert(
                key, app_id=app["id"], secret_hash=hashed, created_us=_micros(key["created_at"])
            )
        except SecretTaken:  # only a repeated seed across state files gets here
            continue
        return _with_secret(key, secret)
    raise ApiError.single(500, detail="Could not draw an unused secret.")


def revoke_api_key(ctx: Context, call: Call) -> dict[str, Any]:
    key_id = _key_id(call)
    app = _app(ctx, call)
    now = ctx.now()

    def revoke(key: Key) -> Key:
        if not key["is_active"]:
            raise ApiError.single(404, "API key not found or already revoked")
        reason = call.body.get("reason")
        return {**key, "is_active": False, "revoked_at": now, "updated_at": now,
                "revoked_reason": reason}  # fmt: skip

    if ctx.store.keys.change(app["id"], key_id, revoke) is None:
        raise ApiError.single(404, KEY_NOT_FOUND)
    return {}


def rotate_api_key(ctx: Context, call: Call) -> dict[str, Any]:
    key_id = _key_id(call)
    app = _app(ctx, call)
    issued: dict[str, str] = {}
    drawn = _draw(ctx)

    def successor(old: Key) -> tuple[Key, Key, str, int]:
        if not old["is_active"]:
            raise ApiError.single(404, "API key not found or inactive")
        if not app["is_active"]:
            raise ApiError.single(404, "API key app not found or inactive")
        fields = {
            name: old[name]
            for name in (
                "name", "key_prefix", "permissions", "metadata", "expires_at",
                "rate_limit_scheme_slug",
            )
        }  # fmt: skip
        key, secret, hashed = _issue(ctx, app, fields, drawn)
        issued["secret"] = secret
        retired = {**old, "is_active": False, "revoked_at": key["created_at"],
                   "updated_at": key["created_at"], "revoked_reason": "Rotated"}  # fmt: skip
        return retired, key, hashed, _micros(key["created_at"])

    new = ctx.store.keys.replace(app["id"], key_id, successor)
    if new is None:
        raise ApiError.single(404, KEY_NOT_FOUND)
    return _with_secret(new, issued["secret"])


def health(ctx: Context, call: Call) -> dict[str, Any]:
    return {"status": "healthy", "timestamp": ctx.now()}


KEY_HANDLERS: dict[str, Handler] = {
    "listApiKeys": list_api_keys,
    "createApiKey": create_api_key,
    "revokeApiKey": revoke_api_key,
    "rotateApiKey": rotate_api_key,
    "getHealth": health,
}
