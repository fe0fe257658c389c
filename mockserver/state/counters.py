"""Rate-limit counters, exact across every worker process.

One row per counter holds the start of its current window and the count in
it. A check reads and bumps all of its counters in one IMMEDIATE
transaction: under the writers' lock on SQLite (database.py); on
PostgreSQL each counting statement is atomic and locks the counter's row to
the end of the transaction. So however many workers and replicas check at
once, a rule of L per window admits exactly L in that window.
A counter seen in a later (or, after the clock was moved back, another)
window starts again from zero.
"""

from collections.abc import Callable
from dataclasses import dataclass

from mockserver.state.database import Connection, Database

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


@dataclass(frozen=True)
class Tally:
    """One counter to look at: its name, the window it is in now, its limit."""

    name: str
    window_start: int
    limit: int


@dataclass(frozen=True)
class Outcome:
    admitted: bool
    # The count in the window after this request (unchanged when refused).
    count: int


class Counters:
    def __init__(self, db: Database) -> None:
        self._db = db

    def take(
        self,
        tallies: list[Tally],
        then: Callable[[Connection, list[Outcome]], None] | None = None,
    ) -> list[Outcome]:
        """Count one request on every tally that still admits it, in one
        transaction; a tally at its limit refuses it and is not counted.
        Every tally is looked at, whatever the others say. ``then`` runs in
        the same transaction with the outcomes (the check's audit row): what
        was counted and what was recorded commit together or not at all.

        Not exclusive: on PostgreSQL checks of other counters run beside it
        (each statement locks the counter's row, and the rows are taken in
        the order of their names, so two checks never wait on each other in
        a circle); SQLite's writers take turns all the same."""
        outcome_of: dict[int, Outcome] = {}
        with self._db.transaction(exclusive=False) as db:
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
            outcomes = [outcome_of[index] for index in range(len(tallies))]
            if then is not None:
                then(db, outcomes)
        return outcomes
