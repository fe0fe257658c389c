"""The admin API (``/__admin/...``): readiness, the request journal, reset.

Described by its own OpenAPI document, ``admin_openapi.yaml``, served at
``/__admin/openapi.yaml`` and never mixed into the Wacht contract. Handlers
follow the same rules as the Wacht ones: no HTTP plumbing, no schema.
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

from mockserver import __version__
from mockserver.backend.clock import ShiftedClock, format_timestamp, parse_timestamp
from mockserver.backend.handlers import Call, Context, Document, Handler
from mockserver.backend.ids import require_id_time
from mockserver.contract.errors import ApiError
from mockserver.state.journal import FILTERS

ADMIN_SPEC_PATH = Path(__file__).resolve().parent / "admin_openapi.yaml"


def _filters(call: Call) -> dict[str, Any]:
    return {name: call.query.get(name) for name in FILTERS}


def health(ctx: Context, call: Call) -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


def list_requests(ctx: Context, call: Call) -> dict[str, Any]:
    return {"requests": ctx.journal.entries(limit=call.query.get("limit"), **_filters(call))}


def count_requests(ctx: Context, call: Call) -> dict[str, Any]:
    return {"count": ctx.journal.count(**_filters(call))}


def clear_requests(ctx: Context, call: Call) -> None:
    ctx.journal.clear()


def reset(ctx: Context, call: Call) -> None:
    ctx.load_fixtures()
    ctx.journal.clear()


def clock_now(ctx: Context, call: Call) -> dict[str, Any]:
    return {"now": ctx.now()}


def move_clock(ctx: Context, call: Call) -> dict[str, Any]:
    """Move the shared clock offset so that every worker reads the new instant."""
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
    "adminOpenApi": openapi_document,
    "adminGetClock": clock_now,
    "adminMoveClock": move_clock,
}
