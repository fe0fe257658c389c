"""What each operation does, as the real backend does it.

A handler receives the already-authenticated, already-validated request as a
:class:`Call` and returns the response body; the app sends it with the
operation's documented success status (``None`` means no body). Handlers raise
:class:`ApiError` or :class:`RuleBroken` for the business rules the schema
cannot express. They know nothing of HTTP or of field types: those belong to
the app and to openapi.yaml.
"""

from typing import Any

from mockserver.backend.context import Call, Context, Document, Handler, IdSource, Reply
from mockserver.backend.keys import KEY_HANDLERS
from mockserver.backend.ratelimits import rule_problems
from mockserver.backend.records import new_app, present_app, present_scheme
from mockserver.backend.rules import check_create_scope, check_update_scope
from mockserver.contract.errors import ApiError, Problem
from mockserver.state.store import SchemeInUse, SlugTaken

APP_NOT_FOUND = "API key app not found"
SCHEME_NOT_FOUND = "Rate limit scheme not found"


def _changes(body: dict[str, Any]) -> dict[str, Any]:
    """A PATCH body's fields that change something: null means keep."""
    return {name: value for name, value in body.items() if value is not None}


# --- apps -------------------------------------------------------------------------


def _present(ctx: Context, app: dict[str, Any]) -> dict[str, Any]:
    slug = app["rate_limit_scheme_slug"]
    scheme = ctx.store.get_scheme(slug) if slug is not None else None
    return present_app(app, {slug: scheme} if scheme is not None else {})


def create_api_auth_app(ctx: Context, call: Call) -> dict[str, Any]:
    if not ctx.fixtures.deployment.may_create_api_auth_apps:
        raise ApiError.single(403, "API auth app creation requires Growth plan")
    body = call.body
    scope = check_create_scope(ctx.fixtures, body)
    app = new_app(
        {**body, "is_active": True, "updated_at": None},
        scope,
        app_id=ctx.ids.next_id(),
        deployment_id=ctx.fixtures.deployment.id,
        now=ctx.now(),
    )
    try:
        ctx.store.insert_app(app)
    except SlugTaken:
        raise ApiError.single(409, "Resource already exists", field="/app_slug") from None
    return _present(ctx, app)


def list_api_auth_apps(ctx: Context, call: Call) -> dict[str, Any]:
    limit, offset = call.query["limit"], call.query["offset"]
    page = ctx.store.list_apps(
        limit=limit,
        offset=offset,
        search=call.query["search"],
        include_inactive=call.query["include_inactive"],
    )
    schemes = {scheme["slug"]: scheme for scheme in ctx.store.list_schemes()}
    return {
        "data": [present_app(app, schemes) for app in page.apps],
        "has_more": page.has_more,
        "limit": limit,
        "offset": offset,
    }


def get_api_auth_app(ctx: Context, call: Call) -> dict[str, Any]:
    app = ctx.store.get_app(call.path_params["app_slug"])
    if app is None:
        raise ApiError.single(404, APP_NOT_FOUND)
    return _present(ctx, app)


def update_api_auth_app(ctx: Context, call: Call) -> dict[str, Any]:
    changes = _changes(call.body)

    def change(app: dict[str, Any]) -> dict[str, Any]:
        scope = check_update_scope(ctx.fixtures, app, changes)
        return {
            **app,
            **changes,
            "organization_id": scope.organization_id,
            "workspace_id": scope.workspace_id,
            "updated_at": ctx.now(),
        }

    app = ctx.store.update_app(call.path_params["app_slug"], change)
    if app is None:
        raise ApiError.single(404, APP_NOT_FOUND)
    return _present(ctx, app)


def delete_api_auth_app(ctx: Context, call: Call) -> dict[str, Any]:
    deleted_at = ctx.now()
    app = ctx.store.update_app(
        call.path_params["app_slug"], lambda app: {**app, "deleted_at": deleted_at}
    )
    if app is None:
        raise ApiError.single(404, APP_NOT_FOUND)
    return {}


# --- rate-limit schemes -------------------------------------------------------------


def _rules_problems(rules: list[dict[str, Any]]) -> list[Problem]:
    if not rules:
        return [Problem("Rate limit scheme must include at least one rule", field="/rules")]
    return [
        Problem(message, field=f"/rules/{index}/duration")
        for index, rule in enumerate(rules)
        for message in rule_problems(rule)
    ]


def list_rate_limit_schemes(ctx: Context, call: Call) -> dict[str, Any]:
    deployment_id = ctx.fixtures.deployment.id
    schemes = [present_scheme(scheme, deployment_id) for scheme in ctx.store.list_schemes()]
    return {"schemes": schemes, "total": len(schemes)}


def create_rate_limit_scheme(ctx: Context, call: Call) -> dict[str, Any]:
    slug, name = call.body["slug"].strip(), call.body["name"].strip()
    problems = []
    if not slug:
        problems.append(Problem("Scheme slug is required", field="/slug"))
    if not name:
        problems.append(Problem("Scheme name is required", field="/name"))
    problems += _rules_problems(call.body["rules"])
    if problems:
        raise ApiError(400, problems)
    now = ctx.now()
    scheme = {
        "id": ctx.ids.next_id(),
        "slug": slug,
        "name": name,
        "description": call.body.get("description"),
        "rules": [ctx.complete_rule(rule) for rule in call.body["rules"]],
        "created_at": now,
        "updated_at": now,
    }
    try:
        ctx.store.insert_scheme(scheme)
    except SlugTaken:
        raise ApiError.single(
            409, f"Rate limit scheme '{slug}' already exists", field="/slug"
        ) from None
    return present_scheme(scheme, ctx.fixtures.deployment.id)


def get_rate_limit_scheme(ctx: Context, call: Call) -> dict[str, Any]:
    scheme = ctx.store.get_scheme(call.path_params["slug"])
    if scheme is None:
        raise ApiError.single(404, SCHEME_NOT_FOUND)
    return present_scheme(scheme, ctx.fixtures.deployment.id)


def update_rate_limit_scheme(ctx: Context, call: Call) -> dict[str, Any]:
    changes = _changes(call.body)
    problems = []
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        if not changes["name"]:
            problems.append(Problem("Scheme name cannot be empty", field="/name"))
    if "rules" in changes:
        problems += _rules_problems(changes["rules"])
        changes["rules"] = [ctx.complete_rule(rule) for rule in changes["rules"]]
    if problems:
        raise ApiError(400, problems)
    updated_at = ctx.now()
    scheme = ctx.store.update_scheme(
        call.path_params["slug"], lambda scheme: {**scheme, **changes, "updated_at": updated_at}
    )
    if scheme is None:
        raise ApiError.single(404, SCHEME_NOT_FOUND)
    return present_scheme(scheme, ctx.fixtures.deployment.id)


def delete_rate_limit_scheme(ctx: Context, call: Call) -> None:
    try:
        deleted = ctx.store.delete_scheme(call.path_params["slug"])
    except SchemeInUse:
        raise ApiError.single(
            400, "Cannot delete rate limit scheme while it is assigned to API auth apps"
        ) from None
    if not deleted:
        raise ApiError.single(404, SCHEME_NOT_FOUND)


HANDLERS: dict[str, Handler] = {
    "createApiAuthApp": create_api_auth_app,
    "listApiAuthApps": list_api_auth_apps,
    "getApiAuthApp": get_api_auth_app,
    "updateApiAuthApp": update_api_auth_app,
    "deleteApiAuthApp": delete_api_auth_app,
    "listRateLimitSchemes": list_rate_limit_schemes,
    "createRateLimitScheme": create_rate_limit_scheme,
    "getRateLimitScheme": get_rate_limit_scheme,
    "updateRateLimitScheme": update_rate_limit_scheme,
    "deleteRateLimitScheme": delete_rate_limit_scheme,
    **KEY_HANDLERS,
}
# Re-exported: the admin API and the app factory import them from here.
__all__ = ["HANDLERS", "Call", "Context", "Document", "Handler", "IdSource", "Reply"]
