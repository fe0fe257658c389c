"""The admin API (``/__admin/...``): readiness, the request journal, reset,
sessions and snapshots.

Described by its own OpenAPI document, ``admin_openapi.yaml``, served at
``/__admin/openapi.yaml`` and never mixed into the Wacht contract. Handlers
follow the same rules as the Wacht ones: no HTTP plumbing, no schema.
Each acts on the session its request named (``ctx.session``; the pipeline
picked the context), except the listing and dropping of sessions.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

from mockserver import __version__
from mockserver.backend.clock import ShiftedClock, format_timestamp, parse_timestamp
from mockserver.backend.handlers import Call, Context, Document, Handler, Reply
from mockserver.backend.ids import require_id_time
from mockserver.contract.errors import UNAVAILABLE_RETRY_AFTER_S, ApiError
from mockserver.state import snapshots
from mockserver.state.journal import FILTERS

ADMIN_SPEC_PATH = Path(__file__).resolve().parent / "admin_openapi.yaml"


def _filters(ctx: Context, call: Call) -> dict[str, Any]:
    return {
        **{name: call.query.get(name) for name in FILTERS},
        "session": ctx.session,
        "all_sessions": call.query.get("all_sessions"),
    }


def health(ctx: Context, call: Call) -> dict[str, Any] | Reply:
    """Ready, or a 503 naming what the server needs and cannot reach (a load
    balancer's probe)."""
    missing = [*ctx.store.missing(), *ctx.counters.missing()]
    if missing:
        body = {"status": "unavailable", "version": __version__, "missing": missing}
        return Reply(503, body, headers=(("Retry-After", str(UNAVAILABLE_RETRY_AFTER_S)),))
    return {"status": "ok", "version": __version__}


def list_requests(ctx: Context, call: Call) -> dict[str, Any]:
    return {"requests": ctx.journal.entries(limit=call.query.get("limit"), **_filters(ctx, call))}


def count_requests(ctx: Context, call: Call) -> dict[str, Any]:
    return {"count": ctx.journal.count(**_filters(ctx, call))}


def clear_requests(ctx: Context, call: Call) -> None:
    ctx.journal.clear(ctx.session)


def reset(ctx: Context, call: Call) -> None:
    ctx.load_fixtures()
    ctx.journal.clear(ctx.session)


# --- sessions ----------------------------------------------------------------------


def list_sessions(ctx: Context, call: Call) -> dict[str, Any]:
    registry = ctx.sessions.registry
    return {
        "sessions": [
            {
                "name": session.name,
                "created_at": format_timestamp(session.created_at),
                "last_used_at": format_timestamp(session.last_used_at),
                "expires_at": format_timestamp(session.expires_at),
            }
            for session in registry.listing()
        ],
        "max_sessions": registry.max_sessions,
        "ttl_seconds": registry.ttl_seconds,
    }


def drop_session(ctx: Context, call: Call) -> None:
    name = call.path_params["name"]
    if not ctx.sessions.is_name(name) or not ctx.sessions.registry.drop(name):
        raise ApiError.single(404, f"No session named {name!r}")


# --- snapshots -----------------------------------------------------------------------


def _snapshots_of(ctx: Context) -> Any:
    return ctx.sessions.snapshot_directory(ctx.session)


def _no_snapshot(name: str) -> ApiError:
    return ApiError.single(404, f"No snapshot named {name!r} in this session")


def _snapshot_name(ctx: Context, call: Call) -> str:
    """The path's snapshot name; a path segment that is no name (``..``
    escaped into it) names no snapshot, and never a file elsewhere."""
    name = call.path_params["name"]
    if not ctx.sessions.is_name(name):
        raise _no_snapshot(name)
    return str(name)


def list_snapshots(ctx: Context, call: Call) -> dict[str, Any]:
    return {"snapshots": snapshots.listing(_snapshots_of(ctx), ctx.store)}


def save_snapshot(ctx: Context, call: Call) -> dict[str, Any]:
    return snapshots.save(ctx.store, _snapshots_of(ctx), call.body["name"], ctx.counters, ctx.audit)


def restore_snapshot(ctx: Context, call: Call) -> None:
    name = _snapshot_name(ctx, call)
    if not snapshots.restore(ctx.store, _snapshots_of(ctx), name, ctx.counters, ctx.audit):
        raise _no_snapshot(name)


def delete_snapshot(ctx: Context, call: Call) -> None:
    name = _snapshot_name(ctx, call)
    if not snapshots.delete(_snapshots_of(ctx), name, ctx.store):
        raise _no_snapshot(name)


def clock_now(ctx: Context, call: Call) -> dict[str, Any]:
    return {"now": ctx.now()}


def move_clock(ctx: Context, call: Call) -> dict[str, Any]:
    """Move the session's clock offset (shared by the workers, kept in the
    session's state) so that every worker reads the new instant in it."""
    clock = ctx.clock
    assert isinstance(clock, ShiftedClock), "the app factory shifts every clock"
    field = "/advance_seconds" if "advance_seconds" in call.body else "/now"
    try:
        if field == "/now":
            target = parse_timestamp(call.body["now"])
        else:
            target = clock.now() + timedelta(seconds=call.body["advance_seconds"])
        require_id_time(target)
    except OverflowError:
        raise ApiError.single(
            400, "advance_seconds moves the clock past any date", field=field
        ) from None
    except ValueError as error:
        raise ApiError.single(400, str(error), field=field) from None
    ctx.store.clock_offset.set(clock.offset_to(target))
    return {"now": format_timestamp(clock.now())}


def openapi_document(ctx: Context, call: Call) -> Document:
    return Document(ADMIN_SPEC_PATH.read_bytes(), "application/yaml")


ADMIN_HANDLERS: dict[str, Handler] = {
    "adminHealth": health,
    "adminListRequests": list_requests,
    "adminCountRequests": count_requests,
    "adminClearRequests": clear_requests,
    "adminReset": reset,
    "adminListSessions": list_sessions,
    "adminDropSession": drop_session,
    "adminListSnapshots": list_snapshots,
    "adminSaveSnapshot": save_snapshot,
    "adminRestoreSnapshot": restore_snapshot,
    "adminDeleteSnapshot": delete_snapshot,
    "adminOpenApi": openapi_document,
    "adminGetClock": clock_now,
    "adminMoveClock": move_clock,
}
