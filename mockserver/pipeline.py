"""The request pipeline, shared by the Wacht contract and the admin API.

Data flows one way, as in Prism: route (Flask's URL map, built from a spec's
paths) -> authenticate -> parse and validate the query and the body ->
handler -> serialize. Every failure along the way is an :class:`ApiError`,
and every error, including Flask's own 404/405/413, leaves as the documented
envelope. What a request was and what it got is then written to the journal.
"""

import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from mockserver.clock import format_timestamp
from mockserver.errors import ApiError
from mockserver.handlers import Call, Context, Handler
from mockserver.prefer import forced_response, read_preferences
from mockserver.rules import RuleBroken
from mockserver.spec import Operation, Spec
from mockserver.validation import parse_json_body, parse_query, validate_body

logger = logging.getLogger("mockserver")

Authenticator = Callable[[], None]

_PATH_PARAMETER = re.compile(r"\{([^}/]+)\}")
# application/json and any application/*+json, as the backend's JSON extractor.
_JSON_MEDIA_TYPE = re.compile(r"^application/([a-z0-9.!#$&^_-]+\+)?json$", re.IGNORECASE)
# Bodies kept in the journal are cut here; the journal is for reading, not replay.
JOURNAL_BODY_LIMIT = 64 * 1024
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key"})


def flask_rule(openapi_path: str) -> str:
    """``/apps/{app_slug}`` (OpenAPI) becomes ``/apps/<path:app_slug>`` (Werkzeug).

    A parameter that ends the path takes the ``path`` converter, so that a
    slug with an encoded slash (``a%2Fb``, which the server decodes before
    routing) still reaches its handler.
    """
    rule = _PATH_PARAMETER.sub(r"<\1>", openapi_path)
    return re.sub(r"<([^>:]+)>$", r"<path:\1>", rule)


def json_response(body: Any, status: int) -> Response:
    if body is None:
        return Response(status=status)
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status=status, mimetype="application/json")


def error_response(error: ApiError) -> Response:
    return json_response(error.envelope(), error.status)


def _read_raw_body() -> bytes:
    """The body, read once and kept for the journal; past the size limit a 413.

    With a Content-Length, Werkzeug refuses an oversize body before reading
    it. A chunked body has none, and Werkzeug would silently cut it at the
    limit, so one byte more than the limit is read here to tell.
    """
    if "raw_body" not in g:
        if request.content_length is not None:
            g.raw_body = request.get_data(cache=False)
        else:
            limit = current_app.config["MAX_CONTENT_LENGTH"]
            g.raw_body = request.environ["wsgi.input"].read(limit + 1)
            if len(g.raw_body) > limit:
                g.raw_body = b""
                raise RequestEntityTooLarge()
    return g.raw_body


def _read_json_body(operation: Operation) -> Any:
    if not _JSON_MEDIA_TYPE.match(request.mimetype or ""):
        got = f"got {request.content_type!r}" if request.content_type else "none was sent"
        raise ApiError.single(415, detail=f"Content-Type must be application/json; {got}.")
    body = parse_json_body(_read_raw_body())
    validate_body(operation, body)
    if operation.body_properties is not None:
        # Fields the contract does not know are ignored, as by the backend.
        body = {name: value for name, value in body.items() if name in operation.body_properties}
    return body


def success_status(operation: Operation) -> int:
    return min((s for s in operation.documented_statuses if 200 <= s < 300), default=200)


def make_view(
    operation: Operation,
    handler: Handler,
    context: Context,
    authenticate: Authenticator,
    spec: Spec,
) -> Callable[..., Response]:
    status = success_status(operation)

    def view(**path_params: str) -> Response:
        authenticate()
        preferences = read_preferences(request.headers.get("Prefer"), request.args)
        g.delay_ms = preferences.delay_ms
        if preferences.forces_response:
            # The spec's answer instead of the handler's: nothing is validated or changed.
            forced_status, forced_body = forced_response(operation, preferences, spec)
            response = json_response(forced_body, forced_status)
            response.headers["Preference-Applied"] = preferences.applied()
            return response
        query = parse_query(operation.query_parameters, request.args)
        body = _read_json_body(operation) if operation.body_validator is not None else None
        call = Call(body=body, path_params=path_params, query=query)
        try:
            result = handler(context, call)
        except RuleBroken as broken:
            raise ApiError.single(400, broken.message, field=f"/{broken.field}") from None
        response = result if isinstance(result, Response) else json_response(result, status)
        if preferences.delay_ms is not None:
            response.headers["Preference-Applied"] = preferences.applied()
        return response

    view.__name__ = operation.operation_id
    return view


def spec_methods(methods: Any) -> list[str]:
    """The methods a spec documents among those Werkzeug routes (it adds HEAD
    to every GET and would add OPTIONS), in a stable order."""
    return sorted(method for method in methods if method not in ("HEAD", "OPTIONS"))


def http_error(error: HTTPException) -> Response:
    """Werkzeug's own errors (404, 405, 413, ...) in the envelope."""
    status = error.code or 500
    response = error_response(ApiError.single(status))
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(spec_methods(error.valid_methods))
    return response


def unexpected_error(error: Exception) -> Response:
    logger.exception("unexpected error while serving %s %s", request.method, request.path)
    return error_response(ApiError.single(500))


# --- the journal ----------------------------------------------------------------------


def mask_secret(value: str) -> str:
    """``Bearer sk_test_mock`` becomes ``Bearer ••••mock``: recognisable, not usable."""
    scheme, _, secret = value.partition(" ") if " " in value else ("", "", value)
    hidden = "••••" + (secret[-4:] if len(secret) > 8 else "")
    return f"{scheme} {hidden}" if scheme else hidden


def _journal_body() -> str | None:
    """The body as text; the journal parses it only when someone reads it."""
    try:
        raw = _read_raw_body()
    except HTTPException:  # over the size limit: not read, not kept
        return None
    return raw[:JOURNAL_BODY_LIMIT].decode("utf-8", errors="replace") if raw else None


def journal_entry(response: Response, context: Context) -> dict[str, Any]:
    """What a request was and what it got, with secrets masked (``body`` as text)."""
    errors: list[Any] = []
    if response.status_code >= 400 and response.mimetype == "application/json":
        payload = response.get_json(silent=True)
        if isinstance(payload, dict) and isinstance(payload.get("errors"), list):
            errors = payload["errors"]
    rule = request.url_rule
    return {
        "time": format_timestamp(context.clock.now()),
        "method": request.method,
        "path": request.path,
        "query": request.args.to_dict(),
        "headers": {
            name: mask_secret(value) if name.lower() in SECRET_HEADERS else value
            for name, value in request.headers.items()
        },
        "body": _journal_body(),
        "status": response.status_code,
        "operation_id": rule.endpoint
        if rule is not None and rule.endpoint in context.operation_ids
        else None,
        "errors": errors,
        "duration_ms": round(
            (time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 3
        ),
    }


def start_timer() -> None:
    g.started = time.perf_counter()
