"""The admin API (``/__admin/...``): readiness, the request journal, reset.

Described by its own OpenAPI document, ``admin_openapi.yaml``, served at
``/__admin/openapi.yaml`` and never mixed into the Wacht contract. Handlers
follow the same rules as the Wacht ones: no HTTP plumbing, no schema.
"""

from pathlib import Path
from typing import Any

from mockserver import __version__
from mockserver.backend.handlers import Call, Context, Document, Handler
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


def openapi_document(ctx: Context, call: Call) -> Document:
    return Document(ADMIN_SPEC_PATH.read_bytes(), "application/yaml")


ADMIN_HANDLERS: dict[str, Handler] = {
    "adminHealth": health,
    "adminListRequests": list_requests,
    "adminCountRequests": count_requests,
    "adminClearRequests": clear_requests,
    "adminReset": reset,
    "adminOpenApi": openapi_document,
}
