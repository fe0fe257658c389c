"""The Flask app factory: wires the spec, the fixtures, the store and the
pipeline together. Each concern lives in its own module; this one only
assembles them."""

import logging
import random
import time

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from mockserver.admin import ADMIN_HANDLERS, ADMIN_SPEC_PATH
from mockserver.auth import authenticate, authenticate_admin
from mockserver.clock import FrozenClock, SystemClock
from mockserver.config import MAX_BODY_BYTES, Settings
from mockserver.cors import CorsPolicy, install_cors
from mockserver.errors import ApiError
from mockserver.fixtures import load_fixtures
from mockserver.handlers import HANDLERS, Context, Handler
from mockserver.ids import MAX_MACHINE_ID, ProcessSnowflakes
from mockserver.journal import Journal
from mockserver.logs import RequestLog
from mockserver.pipeline import (
    Authenticator,
    error_response,
    flask_rule,
    http_error,
    journal_entry,
    make_view,
    spec_methods,
    start_timer,
    unexpected_error,
)
from mockserver.ratelimits import complete_rule
from mockserver.spec import Spec, SpecError, load_spec
from mockserver.store import Store
from mockserver.ui import is_ui_path, register_ui

ADMIN_PREFIX = "/__admin/"
logger = logging.getLogger("mockserver")


def machine_id_from(seed: int | None) -> int:
    """The snowflake machine id, drawn with Faker so ``--seed`` fixes it."""
    from faker import Faker  # imported here: only start-up pays for it

    fake = Faker()
    if seed is not None:
        fake.seed_instance(seed)
    return fake.random_int(0, MAX_MACHINE_ID)


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
        journal=Journal(settings.journal_path, settings.journal_size),
        operation_ids=frozenset(operation.operation_id for operation in spec.operations),
    )
    context.load_fixtures(only_if_new=True)
    return context


def _register(
    app: Flask,
    spec: Spec,
    handlers: dict[str, Handler],
    context: Context,
    authenticator: Authenticator,
) -> None:
    """One route per operation of ``spec``, bound to its handler by operationId."""
    for operation in spec.operations:
        handler = handlers.get(operation.operation_id)
        if handler is None:
            raise SpecError(f"{spec.source}: no handler for operationId {operation.operation_id!r}")
        app.add_url_rule(
            flask_rule(operation.path),
            endpoint=operation.operation_id,
            view_func=make_view(operation, handler, context, authenticator, spec),
            methods=[operation.method],
            # OPTIONS is answered by the CORS layer, not with Flask's default 200.
            provide_automatic_options=False,
        )


def create_app(settings: Settings | None = None) -> Flask:
    """Build the server for ``settings``.

    Raises SpecError, FixtureError or StoreError when the spec, the fixtures
    or the state cannot be served; nothing is half-started.
    """
    settings = settings or Settings()
    spec = load_spec(settings.spec_path)
    context = build_context(settings, spec)

    app = Flask("mockserver")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["mockserver"] = context
    app.extensions["mockserver.spec"] = spec

    def wacht_auth() -> None:
        authenticate(request.headers.get("Authorization"), context.fixtures.api_keys, context.clock)

    _register(app, spec, HANDLERS, context, wacht_auth)
    if settings.admin_enabled:

        def admin_auth() -> None:
            authenticate_admin(request.headers.get("Authorization"), settings.admin_token)

        _register(app, load_spec(ADMIN_SPEC_PATH), ADMIN_HANDLERS, context, admin_auth)

    register_ui(app, spec, context, settings)
    app.before_request(start_timer)
    request_log = RequestLog(settings.log_format)
    delays = random.Random(settings.seed)

    @app.after_request
    def finish(response: Response) -> Response:
        """Add the latency asked for, then journal and log the request.

        The tooling (admin API, docs, inspector) is not the API: it gets no
        latency and stays out of the journal and the log.
        """
        if request.path.startswith(ADMIN_PREFIX) or is_ui_path(request.path):
            return response
        delay_ms = g.get("delay_ms")
        if delay_ms is None and settings.delay_ms is not None:
            delay_ms = delays.randint(*settings.delay_ms)
        if delay_ms:
            time.sleep(delay_ms / 1000)
        try:
            entry = journal_entry(response, context)
            context.journal.record(entry)
            request_log.write(entry)
        except Exception:  # the journal must never cost a client its answer
            logger.exception("could not journal %s %s", request.method, request.path)
        return response

    def methods_for(path: str) -> list[str] | None:
        return spec_methods(app.url_map.bind("localhost").allowed_methods(path)) or None

    install_cors(app, CorsPolicy(frozenset(settings.cors_origins or ()) or None), methods_for)

    app.register_error_handler(ApiError, error_response)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected_error)
    return app
