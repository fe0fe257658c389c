"""The app factory: wires the spec, the fixtures, the store and the pipeline
together. Each concern lives in its own module; this one only assembles them.

The app is a Flask app whose WSGI entry is the pipeline (pipeline.py): the
pipeline serves every operation of the specs, Flask the pages for people.
"""

from dataclasses import replace
from pathlib import Path

from flask import Flask

from mockserver.backend.clock import FrozenClock, ShiftedClock, SystemClock
from mockserver.backend.demo import seed_history
from mockserver.backend.fixtures import load_fixtures
from mockserver.backend.gateway import GATEWAY_HANDLERS, GATEWAY_PREFIX, limit_management_call
from mockserver.backend.handlers import Context
from mockserver.backend.ids import MAX_MACHINE_ID, ProcessSnowflakes
from mockserver.backend.keys import SeededSecrets
from mockserver.backend.operations import OPERATIONS
from mockserver.backend.ratelimits import complete_rule
from mockserver.backend.sessions import SessionContexts
from mockserver.config import Settings
from mockserver.contract.resources import gateway_spec_path
from mockserver.contract.spec import Spec, load_spec
from mockserver.http.auth import authenticate, authenticate_admin
from mockserver.http.cors import CorsPolicy
from mockserver.http.pipeline import Pages, Pipeline
from mockserver.http.router import Admission, Router, spec_methods
from mockserver.state.audit import AuditLog
from mockserver.state.journal import Journal
from mockserver.state.store import Store
from mockserver.tooling.admin import ADMIN_HANDLERS, ADMIN_SPEC_PATH
from mockserver.tooling.pages import is_page_call, is_ui_path, register_ui


def machine_id_from(seed: int | None) -> int:
    """The snowflake machine id, drawn with Faker so ``--seed`` fixes it."""
    from faker import Faker  # imported here: only start-up pays for it

    fake = Faker()
    if seed is not None:
        fake.seed_instance(seed)
    return fake.random_int(0, MAX_MACHINE_ID)


def build_context(settings: Settings, spec: Spec) -> Context:
    """Load the fixtures, open the store (seeding a new one) and wire the rest."""
    base_clock = FrozenClock(settings.frozen_time) if settings.frozen_time else SystemClock()
    fixtures = load_fixtures(settings.fixtures_dir, spec)
    store = Store(settings.state_path, durable=not settings.state_is_temporary)
    # Moved by POST /__admin/clock, for every worker: the offset is shared state.
    clock = ShiftedClock(base_clock, store.clock_offset.read)
    rule_schema = spec.component_schema("RateLimitRule")
    ids = ProcessSnowflakes(clock, machine_id_from(settings.seed), store.claim_machine_id)
    context = Context(
        fixtures=fixtures,
        store=store,
        ids=ids,
        clock=clock,
        complete_rule=lambda rule: complete_rule(rule, rule_schema),
        journal=Journal(settings.journal_path, settings.journal_size),
        audit=AuditLog(store.database, settings.audit_size),
    )
    if settings.seed is not None:
        context.secret_bytes = SeededSecrets(settings.seed, ids.machine_id)
    context.after_load = lambda ctx: seed_history(ctx, settings.seed, ids.machine_id())
    context.load_fixtures(only_if_new=True)
    return context


def session_context(default: Context, name: str, path: Path, settings: Settings) -> Context:
    """The context of session ``name``: the default one with everything that
    lives in the store's database (the audit too) over the store at ``path``."""
    store = Store(path, durable=not settings.state_is_temporary, made_here=True)
    # The session's clock: the server's, moved by the session's own offset.
    assert isinstance(default.clock, ShiftedClock)
    return replace(
        default,
        store=store,
        audit=AuditLog(store.database, settings.audit_size),
        clock=ShiftedClock(default.clock.base, store.clock_offset.read),
        session=name,
    )


def build_sessions(settings: Settings, context: Context, admin_spec: Spec) -> SessionContexts:
    """The named sessions, kept in a folder beside the state (so with --state
    they, and the snapshots, outlive a restart; a temporary state takes them along)."""
    name_schema = admin_spec.component_validator("SessionName")
    return SessionContexts(
        context,
        Path(f"{context.store.path}.sessions"),
        for_store=lambda default, name, path: session_context(default, name, path, settings),
        name_is_valid=name_schema.is_valid,
        ttl_seconds=settings.session_ttl_seconds,
        max_sessions=settings.max_sessions,
        durable=not settings.state_is_temporary,
        clock_is_frozen=settings.frozen_time is not None,
    )


def create_app(settings: Settings | None = None) -> Flask:
    """Build the server for ``settings``.

    Raises SpecError, FixtureError or StoreError when the spec, the fixtures
    or the state cannot be served; nothing is half-started.
    """
    settings = settings or Settings()
    spec = load_spec(settings.spec_path)
    # Loaded even with --no-admin: it names what a session name may be.
    admin_spec = load_spec(ADMIN_SPEC_PATH)
    sessions = build_sessions(settings, build_context(settings, spec), admin_spec)
    context = sessions.default

    router = Router()
    keys, clock = context.fixtures.api_keys, context.clock

    def management_caller(header: str | None, path: str) -> Admission:
        key = authenticate(header, keys, clock)
        # Counted in the request's session: its counters are its own.
        return lambda session: limit_management_call(session, key, path)

    router.add(spec, OPERATIONS, management_caller)
    # The gateway authenticates no caller; its refusals of a body are plain text.
    router.add(
        load_spec(gateway_spec_path()),
        GATEWAY_HANDLERS,
        lambda header, path: None,
        prefix=GATEWAY_PREFIX,
        plain_refusals=True,
    )
    if settings.admin_enabled:
        token = settings.admin_token
        router.add(
            admin_spec, ADMIN_HANDLERS, lambda header, path: authenticate_admin(header, token)
        )

    app = Flask("mockserver")
    app.extensions["mockserver"] = context
    app.extensions["mockserver.sessions"] = sessions
    app.extensions["mockserver.contract.spec"] = spec
    register_ui(app, spec, context, settings)
    cors = CorsPolicy(frozenset(settings.cors_origins or ()) or None)

    def page_methods(path: str) -> list[str] | None:
        return spec_methods(app.url_map.bind("localhost").allowed_methods(path)) or None

    # Flask's documented way to put WSGI in front of it; Flask stays the app.
    app.wsgi_app = Pipeline(  # type: ignore[method-assign]
        router,
        sessions,
        settings,
        cors,
        Pages(app.wsgi_app, is_ui_path, page_methods, is_page_call),
    )
    return app
