"""The Flask app factory and the request pipeline.

Data flows one way, as in Prism: route (Flask's URL map, built from the spec's
paths) -> authenticate -> read and validate the body -> handler -> serialize.
Every failure along the way is an :class:`ApiError`, and every error, including
Flask's own 404/405/413, leaves as the documented envelope.
"""

import json
import logging
import re
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from mockserver.auth import authenticate
from mockserver.clock import FrozenClock, SystemClock
from mockserver.config import MAX_BODY_BYTES, Settings
from mockserver.errors import ApiError
from mockserver.fixtures import load_fixtures
from mockserver.handlers import HANDLERS, Call, Context, Handler
from mockserver.ids import MAX_MACHINE_ID, ProcessSnowflakes
from mockserver.ratelimits import complete_rule
from mockserver.rules import RuleBroken
from mockserver.spec import Operation, Spec, SpecError, load_spec
from mockserver.store import Store
from mockserver.validation import parse_json_body, parse_query, validate_body

logger = logging.getLogger("mockserver")

_PATH_PARAMETER = re.compile(r"\{([^}/]+)\}")
# application/json and any application/*+json, as the backend's JSON extractor.
_JSON_MEDIA_TYPE = re.compile(r"^application/([a-z0-9.!#$&^_-]+\+)?json$", re.IGNORECASE)


def flask_rule(openapi_path: str) -> str:
    """``/apps/{app_slug}`` (OpenAPI) becomes ``/apps/<path:app_slug>`` (Werkzeug).

    A parameter that ends the path takes the ``path`` converter, so that a
    slug with an encoded slash (``a%2Fb``, which the server decodes before
    routing) still reaches its handler.
    """
    rule = _PATH_PARAMETER.sub(r"<\1>", openapi_path)
    return re.sub(r"<([^>:]+)>$", r"<path:\1>", rule)


def machine_id_from(seed: int | None) -> int:
    """The snowflake machine id, drawn with Faker so ``--seed`` fixes it."""
    from faker import Faker  # imported here: only start-up pays for it

    fake = Faker()
    if seed is not None:
        fake.seed_instance(seed)
    return fake.random_int(0, MAX_MACHINE_ID)


def json_response(body: Any, status: int) -> Response:
    if body is None:
        return Response(status=status)
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status=status, mimetype="application/json")


def error_response(error: ApiError) -> Response:
    return json_response(error.envelope(), error.status)


def _read_json_body(operation: Operation) -> Any:
    content_type = request.mimetype
    if not _JSON_MEDIA_TYPE.match(content_type or ""):
        got = f"got {request.content_type!r}" if request.content_type else "none was sent"
        raise ApiError.single(415, detail=f"Content-Type must be application/json; {got}.")
    raw = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH
    body = parse_json_body(raw)
    validate_body(operation, body)
    if operation.body_properties is not None:
        # Fields the contract does not know are ignored, as by the backend.
        body = {name: value for name, value in body.items() if name in operation.body_properties}
    return body


def _success_status(operation: Operation) -> int:
    return min((s for s in operation.documented_statuses if 200 <= s < 300), default=200)


def _make_view(operation: Operation, handler: Handler, context: Context) -> Any:
    status = _success_status(operation)

    def view(**path_params: str) -> Response:
        authenticate(request.headers.get("Authorization"), context.fixtures.api_keys, context.clock)
        query = parse_query(operation.query_parameters, request.args)
        body = _read_json_body(operation) if operation.body_validator is not None else None
        call = Call(body=body, path_params=path_params, query=query)
        try:
            result = handler(context, call)
        except RuleBroken as broken:
            raise ApiError.single(400, broken.message, field=f"/{broken.field}") from None
        return json_response(result, status)

    view.__name__ = operation.operation_id
    return view


def _http_error(error: HTTPException) -> Response:
    """Werkzeug's own errors (404, 405, 413, ...) in the envelope."""
    status = error.code or 500
    response = error_response(ApiError.single(status))
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _unexpected_error(error: Exception) -> Response:
    logger.exception("unexpected error while serving %s %s", request.method, request.path)
    return error_response(ApiError.single(500))


def build_context(settings: Settings, spec: Spec) -> Context:
    """Load the fixtures, open the store (seeding a new one) and wire the rest."""
    clock = FrozenClock(settings.frozen_time) if settings.frozen_time else SystemClock()
    fixtures = load_fixtures(settings.fixtures_dir, spec)
    store = Store(settings.state_path)
    rule_schema = spec.document["components"]["schemas"]["RateLimitRule"]
    context = Context(
        fixtures=fixtures,
        store=store,
        ids=ProcessSnowflakes(clock, machine_id_from(settings.seed), store.claim_machine_id),
        clock=clock,
        complete_rule=lambda rule: complete_rule(rule, rule_schema),
    )
    context.load_fixtures(only_if_new=True)
    return context


def create_app(settings: Settings | None = None) -> Flask:
    """Build the server for ``settings``.

    Raises SpecError or FixtureError when the spec or the fixtures cannot be
    served; nothing is half-started.
    """
    settings = settings or Settings()
    spec = load_spec(settings.spec_path)
    context = build_context(settings, spec)

    app = Flask("mockserver")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["mockserver"] = context
    app.extensions["mockserver.spec"] = spec
    for operation in spec.operations:
        handler = HANDLERS.get(operation.operation_id)
        if handler is None:
            raise SpecError(f"{spec.source}: no handler for operationId {operation.operation_id!r}")
        app.add_url_rule(
            flask_rule(operation.path),
            endpoint=operation.operation_id,
            view_func=_make_view(operation, handler, context),
            methods=[operation.method],
            # OPTIONS is answered by the CORS layer, not with Flask's default 200.
            provide_automatic_options=False,
        )
    app.register_error_handler(ApiError, error_response)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app
