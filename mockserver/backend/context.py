"""What a handler is given and may give back: the context, the call, the answer.

Kept apart from the handlers so that the operations of each family (apps and
schemes in handlers.py, keys in keys.py, the gateway in gateway.py) share one
vocabulary without importing each other.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mockserver.backend.clock import Clock, format_timestamp
from mockserver.backend.fixtures import Fixtures
from mockserver.state.audit import AuditLog
from mockserver.state.counters import CounterStore
from mockserver.state.journal import Journal
from mockserver.state.store import Store

SECRET_BYTES = 32


class IdSource(Protocol):
    def next_id(self) -> str: ...


def _random_secret_bytes() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


@dataclass
class Context:
    """Everything a handler may consult or change."""

    fixtures: Fixtures
    store: Store
    ids: IdSource
    clock: Clock
    # Fills in a rate-limit rule's defaults, as openapi.yaml's RateLimitRule gives them.
    complete_rule: Callable[[dict[str, Any]], dict[str, Any]]
    journal: Journal
    audit: AuditLog
    # The rate-limit counters: the store's own (beside a SQLite state, in a
    # PostgreSQL one), or Redis's (``serve --redis``, state/redis_counters.py).
    counters: CounterStore
    # The 32 random bytes of a new key's secret (seeded by --seed: keys.py).
    secret_bytes: Callable[[], bytes] = field(default=_random_secret_bytes)
    # Runs after the fixtures were loaded into the state (the demo audit
    # history, backend/demo.py, wired by the app factory).
    after_load: "Callable[[Context], None] | None" = None
    # The session this context serves (None: the default one), and every
    # session of the server (backend/sessions.py; None when not wired).
    session: str | None = None
    sessions: Any = None

    def now(self) -> str:
        return format_timestamp(self.clock.now())

    def load_fixtures(self, *, only_if_new: bool = False) -> bool:
        """Back to the fixtures: every app, scheme and key made since is
        forgotten, and every rate-limit counter.

        With ``only_if_new``, only a state that never held anything is loaded.
        """
        schemes = [scheme.record() for scheme in self.fixtures.schemes.values()]
        if not only_if_new and not self.counters.in_state:
            # First: when Redis cannot be reached, the reset changes nothing.
            # (A new state's counters are new too: nothing to clear.)
            self.counters.clear()
        loaded = self.store.load(
            schemes, self.fixtures.apps, self.fixtures.app_keys, only_if_new=only_if_new
        )
        if loaded:
            self.audit.clear()
            if self.after_load is not None:
                self.after_load(self)
        return loaded


@dataclass(frozen=True)
class Call:
    body: Any = None
    path_params: dict[str, str] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    # A request header by name (None when absent): only the gateway reads the
    # caller's context from them.
    header: Callable[[str], str | None] = lambda name: None
    # The address the request came from, as the server saw it.
    peer: str | None = None


@dataclass(frozen=True)
class Document:
    """An answer that is a file rather than JSON (the admin API's own spec)."""

    content: bytes
    media_type: str
    # None: the operation's documented success status.
    status: int | None = None


@dataclass(frozen=True)
class Reply:
    """A JSON answer with a status of its own: the gateway answers its refusals
    with a body that is not the error envelope."""

    status: int
    payload: Any
    # The decision in a few words, shown on the inspector's row (the gateway's
    # check: allowed, or the reason and the blocking rule).
    decision: dict[str, Any] | None = None
    # Headers the answer carries besides (a 503's Retry-After).
    headers: tuple[tuple[str, str], ...] = ()


# Returns the JSON body (None: no body), a Document or a Reply.
Handler = Callable[[Context, Call], Any]
