"""Bearer-key authentication against the fixture keys, with the backend's messages."""

import hmac

from mockserver.backend.clock import Clock
from mockserver.backend.fixtures import ApiKey
from mockserver.contract.errors import ApiError

BEARER_PREFIX = "Bearer "


def authenticate(header: str | None, keys: dict[str, ApiKey], clock: Clock) -> ApiKey:
    """Return the key named by an ``Authorization`` header, or raise a 401."""
    if header is None or not header.startswith(BEARER_PREFIX):
        raise ApiError.single(
            401,
            "Authorization header must be Bearer token",
            detail="Send 'Authorization: Bearer <api key>'.",
        )
    key = keys.get(header[len(BEARER_PREFIX) :].strip())
    if key is None:
        raise ApiError.single(
            401, "Authentication failed", detail="The bearer key is not a key of this deployment."
        )
    if key.expires_at is not None and key.expires_at <= clock.now():
        raise ApiError.single(401, "Authentication failed", detail="The bearer key has expired.")
    return key


# The methods that only read; every other one writes. The backend's gateway
# grants its machine callers "read" and "write" by the same split.
_READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PERMISSION_DENIED = "Permission denied for this resource"


def required_permission(method: str) -> str:
    """The permission a management call of ``method`` needs."""
    return "read" if method.upper() in _READING_METHODS else "write"


def authorize(key: ApiKey, method: str) -> None:
    """Raise the backend's 403 unless the key's permissions allow ``method``.

    Run after the key is authenticated and before its rate limit, as the
    gateway checks permissions before it counts: a refused call uses none of
    the key's limit. A key without ``permissions`` may make every call.
    """
    if key.permissions is None:
        return
    needed = required_permission(method)
    if needed not in key.permissions:
        raise ApiError.single(
            403,
            PERMISSION_DENIED,
            detail=f"This call needs the {needed!r} permission; the key has "
            f"{sorted(key.permissions) or 'none'}.",
        )


def authenticate_admin(header: str | None, token: str | None) -> None:
    """The admin API is open unless a token was set; then it must be the bearer.

    Compared in constant time, so that how long a refusal takes tells a
    caller on the network nothing about how much of a guess was right.
    """
    if token is None:
        return
    sent = (header or "").encode("utf-8", "surrogateescape")
    expected = f"{BEARER_PREFIX}{token}".encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(sent, expected):
        raise ApiError.single(
            401, "Admin token required", detail="Send 'Authorization: Bearer <admin token>'."
        )
