"""The app factory: wires the spec, the fixtures, the store and the pipeline
together. Each concern lives in its own module; this one only assembles them.

The app is a Flask app whose WSGI entry is the pipeline (pipeline.py): the
pipeline serves every operation of the specs, Flask the pages for people.
A worker of ``mockserver serve`` runs the same pipeline with the pages built
on the first request for one (:func:`create_worker_app`): importing Flask and
building its routes took a third of a worker's start-up.
"""

import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mockserver.backend.clock import ShiftedClock
from mockserver.backend.counting import limit_management_call
from mockserver.backend.gateway import GATEWAY_HANDLERS, GATEWAY_PREFIX
from mockserver.backend.handlers import Context
from mockserver.backend.operations import OPERATIONS
from mockserver.backend.sessions import SessionContexts
from mockserver.config import Settings
from mockserver.contract.spec import Spec
from mockserver.http.auth import authenticate, authenticate_admin, authorize
from mockserver.http.cors import CorsPolicy
from mockserver.http.pipeline import Pages, Pipeline
from mockserver.http.router import Admission, Router, spec_methods
from mockserver.serving.context import Loaded, build_context, load, machine_id_from
from mockserver.state.audit import AuditLog
from mockserver.state.database import schema_of
from mockserver.state.store import Store
from mockserver.tooling.admin import ADMIN_HANDLERS
from mockserver.tooling.ui_paths import is_page_call, is_ui_path

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["Loaded", "build_context", "create_app", "create_worker_app", "load", "machine_id_from"]

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _router(settings: Settings, loaded: Loaded, context: Context) -> Router:
    router = Router()
    keys, clock = context.fixtures.api_keys, context.clock

    def management_caller(header: str | None, method: str, path: str) -> Admission:
        # The backend's order: the key (401), its permissions (403), its limit (429).
        key = authenticate(header, keys, clock)
        authorize(key, method)
        # Counted in the request's session: its counters are its own.
        return lambda session: limit_management_call(session, key, path)

    router.add(loaded.spec, OPERATIONS, management_caller)
    # The gateway authenticates no caller; its refusals of a body are plain text.
    router.add(
        loaded.gateway_spec,
        GATEWAY_HANDLERS,
        lambda header, method, path: None,
        prefix=GATEWAY_PREFIX,
        plain_refusals=True,
    )
    if settings.admin_enabled:
        token = settings.admin_token
        router.add(
            loaded.admin_spec,
            ADMIN_HANDLERS,
            lambda header, method, path: authenticate_admin(header, token),
        )
    return router


def session_context(default: Context, name: str, path: Path | str, settings: Settings) -> Context:
    """The context of session ``name``: the default one with everything that
    lives in the store's database (the audit too) over the store at ``path``."""
    store = Store(path, durable=not settings.state_is_temporary, made_here=True)
    # The session's clock: the server's, moved by the session's own offset.
    assert isinstance(default.clock, ShiftedClock)
    return replace(
        default,
        store=store,
        audit=AuditLog(store.database, settings.audit_size),
        # The file's (or PostgreSQL schema's) name names the session's
        # incarnation: a session made again under the same name never meets
        # its predecessor's counters.
        counters=default.counters.for_session(
            path.stem if isinstance(path, Path) else schema_of(path), store
        ),
        clock=ShiftedClock(default.clock.base, store.clock_offset.read),
        session=name,
    )


def _sessions_root(settings: Settings, context: Context) -> Path:
    """Beside an SQLite state. A PostgreSQL state keeps its sessions and
    their snapshots in the database: the folder is named (the registry's
    paths are under it) but nothing is ever written there."""
    if not context.store.is_shared:
        return Path(f"{context.store.path}.sessions")
    return Path(tempfile.gettempdir()) / "mockserver-sessions-in-postgresql"


def build_sessions(settings: Settings, loaded: Loaded) -> SessionContexts:
    """The default session and the named ones, kept in a folder beside the
    state (so with --state they, and the snapshots, outlive a restart; a
    temporary state takes them along)."""
    context = build_context(settings, loaded.spec, loaded.fixtures)
    # The admin API's document names what a session name may be (even with --no-admin).
    name_schema = loaded.admin_spec.component_validator("SessionName")
    return SessionContexts(
        context,
        _sessions_root(settings, context),
        for_store=lambda default, name, path: session_context(default, name, path, settings),
        name_is_valid=name_schema.is_valid,
        ttl_seconds=settings.session_ttl_seconds,
        max_sessions=settings.max_sessions,
        durable=not settings.state_is_temporary,
        clock_is_frozen=settings.frozen_time is not None,
        # A PostgreSQL state keeps the sessions too, for every replica.
        database=context.store.database if context.store.is_shared else None,
    )


def _cors(settings: Settings) -> CorsPolicy:
    return CorsPolicy(frozenset(settings.cors_origins or ()) or None)


def _pages_app(settings: Settings, spec: Spec, sessions: SessionContexts) -> "Flask":
    from flask import Flask

    from mockserver.tooling.pages import register_ui

    context = sessions.default
    app = Flask("mockserver")
    app.extensions["mockserver"] = context
    app.extensions["mockserver.sessions"] = sessions
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
    or the state cannot be served, DatabaseUnavailable when a PostgreSQL
    state cannot be reached, RedisUrlError for a ``redis_url`` that is no
    Redis URL (or without redis-py); nothing is half-started. A Redis that
    does not answer is not waited for: the counters answer 503 until it does.
    """
    settings = settings or Settings()
    loaded = load(settings)
    sessions = build_sessions(settings, loaded)
    router = _router(settings, loaded, sessions.default)
    app = _pages_app(settings, loaded.spec, sessions)
    pages = Pages(app.wsgi_app, is_ui_path, _page_methods(app), is_page_call)
    # Flask's documented way to put WSGI in front of it; Flask stays the app.
    app.wsgi_app = Pipeline(router, sessions, settings, _cors(settings), pages)  # type: ignore[method-assign]
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
    sessions = build_sessions(settings, loaded)
    pages = _PagesOnFirstUse(lambda: _pages_app(settings, loaded.spec, sessions))
    return Pipeline(
        _router(settings, loaded, sessions.default),
        sessions,
        settings,
        _cors(settings),
        Pages(pages, is_ui_path, pages.methods, is_page_call),
    )
