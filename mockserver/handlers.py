"""What each operation does, as the real backend does it.

A handler receives the already-authenticated, already-validated request as a
:class:`Call` and returns the response body; the app sends it with the
operation's documented success status. Handlers raise :class:`ApiError` for the
business rules the schema cannot express. They know nothing of HTTP or of
field types: those belong to the app and to openapi.yaml.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mockserver.clock import Clock, format_timestamp
from mockserver.errors import ApiError
from mockserver.fixtures import Fixtures
from mockserver.ids import SnowflakeGenerator
from mockserver.store import SlugTaken, Store


@dataclass
class Context:
    """Everything a handler may consult or change."""

    fixtures: Fixtures
    store: Store
    ids: SnowflakeGenerator
    clock: Clock


@dataclass(frozen=True)
class Call:
    body: Any = None
    path_params: dict[str, str] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Context, Call], Any]


def _bad_request(message: str, field_name: str) -> ApiError:
    return ApiError.single(400, message, field=f"/{field_name}")


def _check_scope(ctx: Context, body: dict[str, Any]) -> str | None:
    """Apply the backend's user/organization/workspace rules, in its order.

    Returns the organization id the app belongs to, which is filled in from
    the workspace when only ``workspace_id`` is given.
    """
    user_id = body.get("user_id")
    organization_id = body.get("organization_id")
    workspace_id = body.get("workspace_id")
    directory = ctx.fixtures

    if user_id is not None:
        for name in ("permissions", "resources"):
            if body.get(name) is not None:
                raise _bad_request(
                    "permissions/resources cannot be set when user_id is attached", name
                )
    if workspace_id is not None:
        workspace = directory.workspaces.get(workspace_id)
        if workspace is None:
            raise _bad_request("workspace_id does not exist for this deployment", "workspace_id")
        if organization_id is not None and organization_id != workspace.organization_id:
            raise _bad_request("workspace_id does not belong to organization_id", "workspace_id")
        organization_id = workspace.organization_id
    if organization_id is not None and organization_id not in directory.organizations:
        raise _bad_request("organization_id does not exist for this deployment", "organization_id")
    if user_id is not None:
        user = directory.users.get(user_id)
        if user is None:
            raise _bad_request("user_id does not exist for this deployment", "user_id")
        if organization_id is not None and organization_id not in user.organization_ids:
            raise _bad_request("user_id is not a member of organization_id", "user_id")
        if workspace_id is not None and workspace_id not in user.workspace_ids:
            raise _bad_request("user_id is not a member of workspace_id", "user_id")
    elif organization_id is not None or workspace_id is not None:
        field_name = (
            "organization_id" if body.get("organization_id") is not None else "workspace_id"
        )
        raise _bad_request(
            "user_id is required when organization_id/workspace_id is provided", field_name
        )
    return organization_id


def _rate_limits(ctx: Context, scheme_slug: str | None) -> list[dict[str, Any]]:
    """The scheme's rules; an unknown scheme resolves to none, as in the backend."""
    scheme = ctx.fixtures.schemes.get(scheme_slug) if scheme_slug is not None else None
    return [dict(rule) for rule in scheme.rules] if scheme is not None else []


def create_api_auth_app(ctx: Context, call: Call) -> dict[str, Any]:
    body = call.body
    if not ctx.fixtures.deployment.may_create_api_auth_apps:
        raise ApiError.single(403, "API auth app creation requires Growth plan")
    organization_id = _check_scope(ctx, body)
    stamp = format_timestamp(ctx.clock.now())
    app = {
        "id": ctx.ids.next_id(),
        "deployment_id": ctx.fixtures.deployment.id,
        "user_id": body.get("user_id"),
        "organization_id": organization_id,
        "workspace_id": body.get("workspace_id"),
        "app_slug": body["app_slug"],
        "name": body["name"],
        "key_prefix": body["key_prefix"],
        "description": body.get("description"),
        "is_active": True,
        "permissions": body.get("permissions") or [],
        "resources": body.get("resources") or [],
        "rate_limit_scheme_slug": body.get("rate_limit_scheme_slug"),
        "rate_limits": _rate_limits(ctx, body.get("rate_limit_scheme_slug")),
        "created_at": stamp,
        "updated_at": stamp,
        "deleted_at": None,
    }
    try:
        ctx.store.insert_app(app)
    except SlugTaken:
        raise ApiError.single(409, "Resource already exists", field="/app_slug") from None
    return app


HANDLERS: dict[str, Handler] = {
    "createApiAuthApp": create_api_auth_app,
}
