"""Rate-limit counters, exact across every worker process: the interface, and
the counters kept as rows of a PostgreSQL state.

A check reads and bumps all of its counters at once (:meth:`CounterStore.take`):
however many workers, replicas or servers sharing one store check at once,
a rule of L per window admits exactly L in that window. A counter seen in a
later (or, after the clock was moved back, another) window starts again from
zero. Three stores keep them: ``SharedCounters`` (shared_counters.py) in
memory that a SQLite state's workers share, the default on one machine;
:class:`Counters`, here, in a PostgreSQL state's database, which its
replicas share; and ``RedisCounters`` (redis_counters.py, ``serve
--redis``) in Redis, shared by servers that share one state elsewhere.

In the PostgreSQL database one row per counter holds the start of its
current window and the count in it. Each counter is one statement, atomic,
which locks the counter's row while it runs, and the audit row follows in
a statement of its own (Counters.take says why). A SQLite state keeps the
same table, empty, for its snapshots to carry counters in (snapshots.py).
"""

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mockserver.state.database import Connection, Database, Unavailable

TABLES = """
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count INTEGER NOT NULL
) WITHOUT ROWID;
"""


# Counts one request on a counter: a new counter starts at 1, one of an
# earlier window starts again at 1, one of this window goes up by one unless
# it is at the limit (then nothing is written and no row comes back). One
# statement where a read and a write took two (a round trip less on
# PostgreSQL); the writers' lock still makes it one step of the check.
_COUNT = (
    "INSERT INTO counters (name, window_start, count) VALUES (?, ?, 1)"
    " ON CONFLICT (name) DO UPDATE SET"
    " window_start = excluded.window_start,"
    " count = CASE WHEN counters.window_start = excluded.window_start"
    " THEN counters.count + 1 ELSE 1 END"
    " WHERE counters.window_start != excluded.window_start OR counters.count < ?"
    " RETURNING count"
)


# Tally and Outcome are made on every gateway check: slotted, not frozen
# (a frozen dataclass's __init__ took 1.9 us here, a slotted one 0.4). Neither
# is changed once made.
@dataclass(slots=True)
class Tally:
    """One counter to look at: its name, the window it is in now, its limit,
    and the window's length, which tells a store that forgets (Redis, the
    shared counters' sweep) how long the counter is worth keeping."""

    name: str
    window_start: int
    limit: int
    window_ms: int


@dataclass(slots=True)
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


# What runs with a check's outcomes, under the state's writers' lock (the
# check's audit row, which it writes whole or not at all): see CounterStore.take.
Then = Callable[[Connection, list[Outcome]], None]


class CountersUnavailable(Unavailable):
    """The counters' store (``what``) cannot be reached: nothing was counted."""


class StateWithCounters(Protocol):
    """What a session's counters are made from: its store (store.py)."""

    @property
    def counters(self) -> "CounterStore": ...

    @property
    def database(self) -> Database: ...


class CounterStore(Protocol):
    """Where a state's rate-limit counters live."""

    # Whether the counters are rows of the state's own database, so that a
    # copy of the database (a snapshot) holds them, and a reset of it clears them.
    in_state: bool

    def take(self, tallies: list[Tally], then: Then | None = None) -> list[Outcome]:
        """Count one request on every tally that still admits it, all at
        once; a tally at its limit refuses it and is not counted. Every tally
        is looked at, whatever the others say. ``then`` runs with the
        outcomes under the state's writers' lock, with no transaction open
        (the check's audit row: it writes whole or not at all); when it
        fails, nothing stays counted. CountersUnavailable when the store
        cannot be reached: then nothing was counted."""
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


def namespace_of(db: Database) -> int:
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
    """The counters as rows of a PostgreSQL state's own database."""

    in_state = True

    def __init__(self, db: Database) -> None:
        self._db = db

    def take(
        self,
        tallies: list[Tally],
        then: Then | None = None,
    ) -> list[Outcome]:
        """See CounterStore.take. The counts come first, each counter one
        statement that locks its row only while it runs, and then ``then``,
        as with Redis (redis_counters.py): when ``then`` fails, the counts
        are taken back. A transaction holding the counter's row until the
        audit row was written kept every other check of that key waiting
        for a round trip and the check's Python in between; two replicas
        checking one key spent about 180 us a check waiting for the row."""
        # One counter (nearly every check): its statement is its own transaction.
        one = len(tallies) == 1
        with self._db.write_lock() if one else self._db.transaction(exclusive=False) as db:
            outcomes = _count(db, tallies)
        if then is not None:
            record_or_give_back(
                self._db, then, outcomes, lambda: self._give_back(tallies, outcomes)
            )
        return outcomes

    def _give_back(self, tallies: list[Tally], outcomes: list[Outcome]) -> None:
        """Uncount what ``take`` counted (its ``then`` failed)."""
        with self._db.transaction(exclusive=False) as db:
            for tally, outcome in zip(tallies, outcomes, strict=True):
                if outcome.admitted:
                    db.execute(
                        "UPDATE counters SET count = count - 1"
                        " WHERE name = ? AND window_start = ? AND count > 0",
                        (tally.name, tally.window_start),
                    )

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


def record_or_give_back(
    database: Database,
    then: Then,
    outcomes: list[Outcome],
    give_back: Callable[[], None],
) -> None:
    """``then`` (the check's audit row) after counts already committed, in a
    write of its own under the writers' lock (on PostgreSQL a statement
    that reads nothing another writer changes, so checks need not take
    turns across replicas for it; on SQLite a row that waits, audit.py). When
    it fails, ``give_back`` uncounts them and its error is raised; a
    counters' store lost meanwhile keeps the counts (the write's own error
    says more), and so does a write that may have been done (its
    connection lost before its answer): its audit row may be there, and a
    row without its count would be worse. For the state's counters on
    PostgreSQL and for Redis's."""
    try:
        with database.write_lock() as db:
            then(db, outcomes)
    except BaseException as failure:
        if not (isinstance(failure, Unavailable) and failure.maybe_done):
            with contextlib.suppress(Unavailable):
                give_back()
        raise


def _count(db: Connection, tallies: list[Tally]) -> list[Outcome]:
    """Count one request on every tally that admits it (see CounterStore.take),
    in the order of the counters' names: two checks that lock the same rows
    take them in one order, so they never wait on each other in a circle."""
    outcome_of: dict[int, Outcome] = {}
    for index in sorted(range(len(tallies)), key=lambda i: tallies[i].name):
        tally = tallies[index]
        # One statement counts the request unless the window is full:
        # a row comes back only when it was counted.
        counted = (
            db.execute(_COUNT, (tally.name, tally.window_start, tally.limit)).fetchone()
            if tally.limit > 0
            else None
        )
        if counted is not None:
            outcome_of[index] = Outcome(True, int(counted[0]))
            continue
        row = db.execute(
            "SELECT window_start, count FROM counters WHERE name = ?", (tally.name,)
        ).fetchone()
        count = row[1] if row is not None and row[0] == tally.window_start else 0
        outcome_of[index] = Outcome(False, count)
    return [outcome_of[index] for index in range(len(tallies))]


def read_rows(db: Connection) -> list[CounterRow]:
    """The ``counters`` table of a database (the state's, or a snapshot's)."""
    return [
        CounterRow(str(name), int(start), int(count))
        for name, start, count in db.execute(
            "SELECT name, window_start, count FROM counters ORDER BY name"
        )
    ]


def write_rows(db: Connection, rows: list[CounterRow]) -> None:
    """Replace the ``counters`` table's rows (in the caller's transaction)."""
    db.execute("DELETE FROM counters")
    db.executemany(
        "INSERT INTO counters (name, window_start, count) VALUES (?, ?, ?)",
        [(row.name, row.window_start, row.count) for row in rows],
    )
