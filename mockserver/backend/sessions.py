"""Which session a request is in, and that session's :class:`Context`.

A request names its session with the ``X-Mockserver-Session`` header; none
means the default session, the server's own state. A named session is a
context of its own over a store of its own (state/sessions.py): the same
fixtures, journal and id source, its own store and whatever lives in it (apps,
schemes, keys, counters, audit) and its own clock (the server's, moved by the
offset kept in its store). The id source is shared on purpose: one
snowflake generator per process, with its machine id claimed in the default
state (and the default clock), so ids are unique across sessions as across
processes.
"""

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from mockserver.backend.handlers import Context
from mockserver.contract.errors import ApiError, Problem
from mockserver.state.database import Database
from mockserver.state.sessions import SESSION_HEADER, Sessions, TooManySessions

MAX_SESSIONS_OPTION = "--max-sessions"
SESSION_TTL_OPTION = "--session-ttl"
# A header value longer than this is cut in the message.
_SHOWN_NAME_LIMIT = 80
# A new session is a copy of a template seeded once (its demo audit history
# drawn as of the template's time, backend/demo.py): with a running clock it
# is seeded again once it is older than this, so that a session's history
# ends at most this long before the session began. Seeding takes 50 to 200
# ms (the history's rows), a copy 2 ms: a minute keeps nearly every creation
# a copy, and is well under the history's own spacing (250 checks a day, one
# every six minutes). With --freeze-time the template is never stale.
TEMPLATE_MAX_AGE_SECONDS = 60.0


def _seed(context: Context) -> None:
    # The template is a new file: only_if_new loads it all the same, and
    # leaves its counters alone (new too; in Redis, a key not worth a trip).
    context.load_fixtures(only_if_new=True)


class SessionContexts:
    """The default context and the named sessions' contexts of one worker."""

    def __init__(
        self,
        default: Context,
        root: Path,
        *,
        for_store: Callable[[Context, str, Path | str], Context],
        name_is_valid: Callable[[str], bool],
        ttl_seconds: float,
        max_sessions: int,
        durable: bool,
        clock_is_frozen: bool = False,
        database: Database | None = None,
    ) -> None:
        """``for_store(default, name, path)`` is the default context for session
        ``name``, with everything that lives in a store swapped for a store at ``path``."""
        self.default = replace(default, sessions=self)
        self._name_is_valid = name_is_valid
        self.registry: Sessions[Context] = Sessions(
            root,
            ttl_seconds=ttl_seconds,
            max_sessions=max_sessions,
            open_session=lambda name, path: for_store(self.default, name, path),
            seed=_seed,
            durable=durable,
            forget=default.journal.clear,
            template_max_age_seconds=None if clock_is_frozen else TEMPLATE_MAX_AGE_SECONDS,
            database=database,
        )

    def is_name(self, text: str) -> bool:
        """Whether ``text`` may name a session or a snapshot (admin_openapi.yaml's SessionName)."""
        return bool(self._name_is_valid(text))

    def named(self, header: str | None) -> str | None:
        """The session a request's header names (None: the default), or the 400."""
        if header is None:
            return None
        if not self.is_name(header):
            shown = header[:_SHOWN_NAME_LIMIT]
            raise ApiError(
                400,
                [
                    Problem(
                        "Invalid session name",
                        parameter=SESSION_HEADER,
                        detail=(
                            f"{shown!r} is no session name: use 1 to 64 letters, digits, "
                            "'-', '_' or '.'."
                        ),
                    )
                ],
            )
        return header

    def context(self, name: str | None) -> Context:
        """The context of session ``name``, made on first use (or the 429)."""
        if name is None:
            return self.default
        return self._made(lambda: self.registry.get(name))

    def reopened(self, name: str, gone: Context) -> Context:
        """Session ``name`` made afresh after another replica dropped it
        under a request served from ``gone`` (state/database.py's SessionGone)."""
        return self._made(lambda: self.registry.reopened(name, gone))

    def _made(self, look_up: Callable[[], Context]) -> Context:
        """A session's context, or the 429 when no more sessions may be made."""
        try:
            return look_up()
        except TooManySessions as full:
            raise ApiError(
                429,
                [
                    Problem(
                        "Too many sessions",
                        parameter=SESSION_HEADER,
                        detail=(
                            f"{full.limit} sessions are live, the most {MAX_SESSIONS_OPTION} "
                            "allows: drop one with DELETE /__admin/sessions/{name}, wait for "
                            f"idle ones to expire ({SESSION_TTL_OPTION}), or start the server "
                            f"with a larger {MAX_SESSIONS_OPTION}."
                        ),
                    )
                ],
            ) from None

    def snapshot_directory(self, name: str | None) -> Path:
        return self.registry.snapshot_directory(name)

    def close(self) -> None:
        self.registry.close()
