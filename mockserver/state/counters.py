"""Rate-limit counters, exact across every worker process: the interface, and
the counters kept in the state's SQLite database.

A check reads and bumps all of its counters at once (:meth:`CounterStore.take`):
however many workers, or servers sharing one store, check at once, a rule
of L per window admits exactly L in that window. A counter seen in a later
(or, after the clock was moved back, another) window starts again from zero.
Two stores keep them: :class:`Counters`, here, in the state's database (the
default), and ``RedisCounters`` (redis_counters.py, ``serve --redis``) in
Redis, shared by servers that share one state elsewhere.

In SQLite one row per counter holds the start of its current window and the
count in it, read and bumped in one IMMEDIATE transaction under the
writers' lock (database.py), which also holds the check's audit row.
"""

import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mockserver.state.database import SharedSqlite

TABLES = """
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count INTEGER NOT NULL
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Tally:
    """One counter to look at: its name, the window it is in now, its limit.
    ``window_ms``, the window's length, tells a store that forgets (Redis)
    how long the counter is worth keeping."""

    name: str
    window_start: int
    limit: int
    window_ms: int = 0


@dataclass(frozen=True)
class Outcome:
    admitted: bool
    # The count in the window after this request (unchanged when refused).
    count: int


@dataclass(frozen=True)
class CounterRow:
    """A counter as snapshots keep it: the columns of the ``counters`` table."""

    name: str
    window_start: int
    count: int


# What runs with a check's outcomes, in a transaction of the state's database
# (the check's audit row): see CounterStore.take.
Then = Callable[[sqlite3.Connection, list[Outcome]], None]


class CountersUnavailable(Exception):
    """The counters' store cannot be reached: nothing was counted."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"{what} cannot be reached")


class StateWithCounters(Protocol):
    """What a session's counters are made from: its store (store.py)."""

    @property
    def counters(self) -> "CounterStore": ...

    @property
    def database(self) -> SharedSqlite: ...


class CounterStore(Protocol):
    """Where a state's rate-limit counters live."""

    # Whether the counters are rows of the state's own database, so that a
    # copy of the database (a snapshot) holds them, and a reset of it clears them.
    in_state: bool

    def take(self, tallies: list[Tally], then: Then | None = None) -> list[Outcome]:
        """Count one request on every tally that still admits it, all at
        once; a tally at its limit refuses it and is not counted. Every tally
        is looked at, whatever the others say. ``then`` runs with the
        outcomes in a transaction of the state's database (the check's audit
        row); when it fails, nothing stays counted. CountersUnavailable when
        the store cannot be reached: then nothing was counted."""
        ...

    def clear(self) -> None:
        """Forget every counter (a reset)."""
        ...

    def rows(self) -> list[CounterRow]:
        """Every counter, for a snapshot."""
        ...

    def replace(self, rows: list[CounterRow]) -> None:
        """Every counter becomes one of ``rows`` (a snapshot put back), at once."""
        ...

    def missing(self) -> list[str]:
        """What the counters need and cannot reach now (for the health check)."""
        ...

    def for_session(self, key: str, store: StateWithCounters) -> "CounterStore":
        """The counters of a session (``key`` names it for good, ``store``
        is its state): where these are, apart from the server's own."""
        ...


def namespace_of(db: SharedSqlite) -> int:
    """A random number drawn once per state and kept in its ``meta`` table,
    which names the state's counters outside it: servers sharing the state
    share it. The first to ask draws it; one that asks at the same time
    finds it there (plain SQL that PostgreSQL speaks too)."""
    with db.transaction() as connection:
        connection.execute(
            "INSERT INTO meta (key, value) VALUES ('counters_namespace', ?)"
            " ON CONFLICT (key) DO NOTHING",
            (secrets.randbits(62),),
        )
        row = connection.execute(
            "SELECT value FROM meta WHERE key = 'counters_namespace'"
        ).fetchone()
    return int(row[0])


class Counters:
    """The counters as rows of the state's SQLite database."""

    in_state = True

    def __init__(self, db: SharedSqlite) -> None:
        self._db = db

    def take(self, tallies: list[Tally], then: Then | None = None) -> list[Outcome]:
        """See CounterStore.take: one transaction holds the counts and ``then``,
        so they commit together or not at all."""
        outcomes: list[Outcome] = []
        with self._db.transaction() as db:
            for tally in tallies:
                row = db.execute(
                    "SELECT window_start, count FROM counters WHERE name = ?", (tally.name,)
                ).fetchone()
                count = row[1] if row is not None and row[0] == tally.window_start else 0
                if count >= tally.limit:
                    outcomes.append(Outcome(False, count))
                    continue
                db.execute(
                    "INSERT INTO counters (name, window_start, count) VALUES (?, ?, ?)"
                    " ON CONFLICT (name) DO UPDATE SET"
                    " window_start = excluded.window_start, count = excluded.count",
                    (tally.name, tally.window_start, count + 1),
                )
                outcomes.append(Outcome(True, count + 1))
            if then is not None:
                then(db, outcomes)
        return outcomes

    def clear(self) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM counters")

    def rows(self) -> list[CounterRow]:
        return read_rows(self._db.connection())

    def replace(self, rows: list[CounterRow]) -> None:
        with self._db.transaction() as db:
            write_rows(db, rows)

    def missing(self) -> list[str]:
        return []

    def for_session(self, key: str, store: StateWithCounters) -> CounterStore:
        return store.counters  # the session's own database


def read_rows(db: sqlite3.Connection) -> list[CounterRow]:
    """The ``counters`` table of a database (the state's, or a snapshot's)."""
    return [
        CounterRow(str(name), int(start), int(count))
        for name, start, count in db.execute(
            "SELECT name, window_start, count FROM counters ORDER BY name"
        )
    ]


def write_rows(db: sqlite3.Connection, rows: list[CounterRow]) -> None:
    """Replace the ``counters`` table's rows (in the caller's transaction)."""
    db.execute("DELETE FROM counters")
    db.executemany(
        "INSERT INTO counters (name, window_start, count) VALUES (?, ?, ?)",
        [(row.name, row.window_start, row.count) for row in rows],
    )
