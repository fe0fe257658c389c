"""Rate-limit counters, exact across every worker process.

One row per counter holds the start of its current window and the count in
it. A check reads and bumps all of its counters in one IMMEDIATE
transaction under the writers' lock (database.py), so however many workers
check at once, a rule of L per window admits exactly L in that window.
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
        was counted and what was recorded commit together or not at all."""
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
