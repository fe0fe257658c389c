"""The shapes of apps and schemes: as stored, and as the API sends them.

An app is stored without ``rate_limits``: they are resolved from its scheme
whenever the app is sent, so a scheme changed through the API is what every
app that names it shows from that moment on.
"""

from collections.abc import Mapping
from typing import Any

from mockserver.backend.rules import Scope

App = dict[str, Any]
Scheme = dict[str, Any]


def new_app(
    fields: Mapping[str, Any], scope: Scope, *, app_id: str, deployment_id: str, now: str
) -> App:
    """A new app from a create body (or a fixture entry), in the seed page's field order.

    ``description`` absent means null; ``permissions``/``resources`` null or
    absent mean []; a new app is active and not deleted.
    """
    return {
        "id": app_id,
        "deployment_id": deployment_id,
        "user_id": scope.user_id,
        "organization_id": scope.organization_id,
        "workspace_id": scope.workspace_id,
        "app_slug": fields["app_slug"],
        "name": fields["name"],
        "key_prefix": fields["key_prefix"],
        "description": fields.get("description"),
        "is_active": fields.get("is_active", True),
        "permissions": fields.get("permissions") or [],
        "resources": fields.get("resources") or [],
        "rate_limit_scheme_slug": fields.get("rate_limit_scheme_slug"),
        "created_at": now,
        "updated_at": fields.get("updated_at") or now,
        "deleted_at": None,
    }


def present_app(app: App, schemes: Mapping[str, Scheme]) -> App:
    """The app as the API sends it: ``rate_limits`` (the scheme's rules, or []
    for no scheme or an unknown one) right after ``rate_limit_scheme_slug``."""
    presented: App = {}
    for key, value in app.items():
        presented[key] = value
        if key == "rate_limit_scheme_slug":
            scheme = schemes.get(value) if value is not None else None
            presented["rate_limits"] = list(scheme["rules"]) if scheme is not None else []
    return presented


def present_scheme(scheme: Scheme, deployment_id: str) -> Scheme:
    """The scheme as the API sends it, in the contract's field order."""
    return {
        "id": scheme["id"],
        "deployment_id": deployment_id,
        "slug": scheme["slug"],
        "name": scheme["name"],
        "description": scheme["description"],
        "rules": scheme["rules"],
        "created_at": scheme["created_at"],
        "updated_at": scheme["updated_at"],
    }
