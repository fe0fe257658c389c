"""The API key record: its secret, its scope, and how the API shows it.

Shared by the key operations (keys.py), the gateway (gateway.py) and the
fixture loader, which makes demo keys by the same rules as a create.
"""

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from mockserver.backend.clock import parse_timestamp

Key = dict[str, Any]

SECRET_BODY_LENGTH = 43  # 32 bytes in URL-safe base64 without padding
# The gateway's format check: at least 46 bytes, the last 43 from this alphabet.
MIN_SECRET_BYTES = 46
_SECRET_BODY = re.compile(r"[A-Za-z0-9_-]{43}")
SUFFIX_LENGTH = 8
NOT_A_MEMBER = "user is not a member of the org"
# Fields the API omits when they are null (the live backend's serde skips them).
OMITTED_WHEN_NULL = (
    "rate_limit_scheme_slug",
    "owner_user_id",
    "organization_id",
    "workspace_id",
    "organization_membership_id",
    "workspace_membership_id",
)


def make_secret(key_prefix: str, random_bytes: bytes) -> str:
    """``{key_prefix}_{43 characters}``: the bytes in URL-safe base64, unpadded."""
    body = base64.urlsafe_b64encode(random_bytes).rstrip(b"=").decode("ascii")
    return f"{key_prefix}_{body}"


def secret_hash(secret: str) -> str:
    """What is stored instead of the secret: its SHA-256, lower-case hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_format_problem(secret: str) -> str | None:
    """Why the gateway's format check refuses this secret (None if it passes)."""
    value = secret.strip()
    if len(value.encode("utf-8")) < MIN_SECRET_BYTES:
        return f"a secret has at least {MIN_SECRET_BYTES} bytes"
    if not _SECRET_BODY.fullmatch(value[-SECRET_BODY_LENGTH:]):
        return f"the last {SECRET_BODY_LENGTH} characters of a secret must be A-Z a-z 0-9 _ or -"
    return None


class NotAMember(ValueError):
    """The app's user is not a member of its organization or workspace."""


class _Membership(Protocol):
    id: str
    role_permissions: tuple[str, ...]


class _Member(Protocol):
    organization_memberships: Mapping[str, _Membership]
    workspace_memberships: Mapping[str, _Membership]


class Members(Protocol):
    users: Mapping[str, Any]


@dataclass(frozen=True)
class KeyScope:
    """Who a key acts for, resolved from its app's user, organization and workspace."""

    owner_user_id: str | None = None
    organization_id: str | None = None
    workspace_id: str | None = None
    organization_membership_id: str | None = None
    workspace_membership_id: str | None = None
    org_role_permissions: tuple[str, ...] = ()
    workspace_role_permissions: tuple[str, ...] = ()


def key_scope(directory: Members, app: Mapping[str, Any]) -> KeyScope:
    """The scope a new key of ``app`` gets; NotAMember when the app's user is
    not a member of its organization or workspace (one message for both)."""
    user_id = app["user_id"]
    organization_id, workspace_id = app["organization_id"], app["workspace_id"]
    if user_id is None:
        return KeyScope(None, organization_id, workspace_id)
    user: _Member | None = directory.users.get(user_id)
    org_membership = ws_membership = None
    if organization_id is not None:
        org_membership = user.organization_memberships.get(organization_id) if user else None
        if org_membership is None:
            raise NotAMember(NOT_A_MEMBER)
    if workspace_id is not None:
        ws_membership = user.workspace_memberships.get(workspace_id) if user else None
        if ws_membership is None:
            raise NotAMember(NOT_A_MEMBER)
    return KeyScope(
        owner_user_id=user_id,
        organization_id=organization_id,
        workspace_id=workspace_id,
        organization_membership_id=org_membership.id if org_membership else None,
        workspace_membership_id=ws_membership.id if ws_membership else None,
        org_role_permissions=org_membership.role_permissions if org_membership else (),
        workspace_role_permissions=ws_membership.role_permissions if ws_membership else (),
    )


def new_key(
    app: Mapping[str, Any],
    fields: Mapping[str, Any],
    scope: KeyScope,
    *,
    key_id: str,
    secret: str,
    now: str,
) -> Key:
    """A key as stored, in the field order of the API (without ``rate_limits``,
    resolved from the scheme when shown, and without the secret)."""
    return {
        "id": key_id,
        "deployment_id": app["deployment_id"],
        "app_slug": app["app_slug"],
        "name": fields["name"],
        "key_prefix": fields.get("key_prefix", app["key_prefix"]),
        "key_suffix": secret[-SUFFIX_LENGTH:],
        "permissions": list(fields.get("permissions") or []),
        "metadata": {} if fields.get("metadata") is None else fields["metadata"],
        "rate_limit_scheme_slug": fields.get(
            "rate_limit_scheme_slug", app["rate_limit_scheme_slug"]
        ),
        "owner_user_id": scope.owner_user_id,
        "organization_id": scope.organization_id,
        "workspace_id": scope.workspace_id,
        "organization_membership_id": scope.organization_membership_id,
        "workspace_membership_id": scope.workspace_membership_id,
        "org_role_permissions": list(scope.org_role_permissions),
        "workspace_role_permissions": list(scope.workspace_role_permissions),
        "expires_at": fields.get("expires_at"),
        "last_used_at": None,
        "is_active": True,
        "created_at": now,
        "updated_at": now,
        "revoked_at": None,
        "revoked_reason": None,
    }


def present_key(key: Key, rate_limits: list[dict[str, Any]]) -> Key:
    """The key as the API sends it: ``rate_limits`` after ``metadata``, and the
    fields the backend skips when null left out."""
    presented: Key = {}
    for name, value in key.items():
        if value is None and name in OMITTED_WHEN_NULL:
            continue
        presented[name] = value
        if name == "metadata":
            presented["rate_limits"] = rate_limits
    return presented


def is_expired(key: Mapping[str, Any], now: datetime) -> bool:
    expires_at = key["expires_at"]
    return expires_at is not None and parse_timestamp(expires_at) <= now
