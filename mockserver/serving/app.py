"""The app factory: wires the spec, the fixtures, the store and the pipeline
together. Each concern lives in its own module; this one only assembles them.

The app is a Flask app whose WSGI entry is the pipeline (pipeline.py): the
pipeline serves every operation of the specs, Flask the pages for people.
A worker of ``mockserver serve`` runs the same pipeline with the pages built
on the first request for one (:func:`create_worker_app`): importing Flask and
building its routes took a third of a worker's start-up.
"""

import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mockserver.backend.clock import FrozenClock, SystemClock
from mockserver.backend.fixtures import Fixtures, load_fixtures
from mockserver.backend.handlers import Context
from mockserver.backend.ids import MAX_MACHINE_ID, ProcessSnowflakes
from mockserver.backend.operations import OPERATIONS
from mockserver.backend.ratelimits import complete_rule
from mockserver.config import Settings
from mockserver.contract.spec import Spec, load_spec
from mockserver.http.auth import authenticate, authenticate_admin
from mockserver.http.cors import CorsPolicy
from mockserver.http.pipeline import Pages, Pipeline
from mockserver.http.router import Router, spec_methods
from mockserver.state.audit import AuditLog
from mockserver.state.journal import Journal
from mockserver.state.store import Store
from mockserver.tooling.admin import ADMIN_HANDLERS, ADMIN_SPEC_PATH
from mockserver.tooling.ui_paths import is_ui_path

if TYPE_CHECKING:
    from flask import Flask

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def machine_id_from(seed: int | None) -> int:
    """The snowflake machine id; ``--seed`` fixes it.

    Drawn the way Faker's ``random_int`` draws it (``Random(seed).randrange``),
    so a seed gives the machine id it always gave, without importing Faker at
    start-up (a fifth of a second of every worker's, measured).
    """
    draw = random.Random(seed) if seed is not None else random.SystemRandom()
    return draw.randrange(MAX_MACHINE_ID + 1)


@dataclass(frozen=True)
class Loaded:
    """What the settings are checked against, read once: the Wacht spec, the
    admin API's spec (None with ``--no-admin``) and the fixtures."""

    spec: Spec
    admin_spec: Spec | None
    fixtures: Fixtures


def load(settings: Settings) -> Loaded:
    """Read and check the spec and the fixtures: SpecError or FixtureError."""
    spec = load_spec(settings.spec_path)
    admin_spec = load_spec(ADMIN_SPEC_PATH) if settings.admin_enabled else None
    return Loaded(spec, admin_spec, load_fixtures(settings.fixtures_dir, spec))


def build_context(settings: Settings, spec: Spec, fixtures: Fixtures | None = None) -> Context:
    """Load the fixtures (unless given), open the store (seeding a new one)
    and wire the rest."""
    clock = FrozenClock(settings.frozen_time) if settings.frozen_time else SystemClock()
    fixtures = fixtures or load_fixtures(settings.fixtures_dir, spec)
    store = Store(settings.state_path, durable=not settings.state_is_temporary)
    rule_schema = spec.component_schema("RateLimitRule")
    context = Context(
        fixtures=fixtures,
        store=store,
        ids=ProcessSnowflakes(clock, machine_id_from(settings.seed), store.claim_machine_id),
        clock=clock,
        complete_rule=lambda rule: complete_rule(rule, rule_schema),
        journal=Journal(settings.journal_path, settings.journal_size),
        audit=AuditLog(store.database, settings.audit_size),
    )
    context.load_fixtures(only_if_new=True)
    return context


def _router(settings: Settings, loaded: Loaded, context: Context) -> Router:
    router = Router()
    keys, clock = context.fixtures.api_keys, context.clock
    router.add(loaded.spec, OPERATIONS, lambda header: authenticate(header, keys, clock))
    if loaded.admin_spec is not None:
        token = settings.admin_token
        router.add(
            loaded.admin_spec, ADMIN_HANDLERS, lambda header: authenticate_admin(header, token)
        )
    return router


def _cors(settings: Settings) -> CorsPolicy:
    return CorsPolicy(frozenset(settings.cors_origins or ()) or None)


def _pages_app(settings: Settings, spec: Spec, context: Context) -> "Flask":
    from flask import Flask

    from mockserver.tooling.pages import register_ui

    app = Flask("mockserver")
    app.extensions["mockserver"] = context
    app.extensions["mockserver.contract.spec"] = spec
    register_ui(app, spec, context, settings)
    return app


def _page_methods(app: "Flask") -> Callable[[str], list[str] | None]:
    def page_methods(path: str) -> list[str] | None:
        return spec_methods(app.url_map.bind("localhost").allowed_methods(path)) or None

    return page_methods


def create_app(settings: Settings | None = None) -> "Flask":
    """Build the server for ``settings``.

    Raises SpecError, FixtureError or StoreError when the spec, the fixtures
    or the state cannot be served; nothing is half-started.
    """
    settings = settings or Settings()
    loaded = load(settings)
    context = build_context(settings, loaded.spec, loaded.fixtures)
    router = _router(settings, loaded, context)
    app = _pages_app(settings, loaded.spec, context)
    pages = Pages(app.wsgi_app, is_ui_path, _page_methods(app))
    # Flask's documented way to put WSGI in front of it; Flask stays the app.
    app.wsgi_app = Pipeline(router, context, settings, _cors(settings), pages)  # type: ignore[method-assign]
    return app


class _PagesOnFirstUse:
    """The Flask app of the pages, built when a page is first asked for."""

    def __init__(self, build: Callable[[], "Flask"]) -> None:
        self._build = build
        self._app: Flask | None = None
        self._lock = threading.Lock()

    def _flask(self) -> "Flask":
        with self._lock:  # with --delay, requests run in several threads
            if self._app is None:
                self._app = self._build()
            return self._app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self._flask().wsgi_app(environ, start_response)

    def methods(self, path: str) -> list[str] | None:
        return _page_methods(self._flask())(path)


def create_worker_app(settings: Settings, loaded: Loaded | None = None) -> Pipeline:
    """The same server as :func:`create_app`, as a plain WSGI app whose pages
    (and Flask) are built on first use; from ``loaded`` when the settings check
    already read it (serving/boot.py)."""
    loaded = loaded or load(settings)
    context = build_context(settings, loaded.spec, loaded.fixtures)
    pages = _PagesOnFirstUse(lambda: _pages_app(settings, loaded.spec, context))
    return Pipeline(
        _router(settings, loaded, context),
        context,
        settings,
        _cors(settings),
        Pages(pages, is_ui_path, pages.methods),
    )
