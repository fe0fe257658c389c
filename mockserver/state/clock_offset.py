"""How far the admin API moved the server's clock, shared by every worker.

One row of the state's ``meta`` table, in microseconds. Read on every
request, so each thread keeps its last reading and looks again only when a
counted transaction ran since (database.py's change signal), as the store
does for the schemes: one memory read in the common case.
"""

from mockserver.state.database import Database, RequestSignal

KEY = "clock_offset_us"


def meta(db: Database) -> dict[str, int]:
    """The rows of the state's ``meta`` table (a handful), as this thread
    last read them, read again when the change signal moved or is odd.

    One query gives both numbers that requests look at, the clock's offset
    and the schemes' version. On PostgreSQL the signal is itself a row of
    ``meta`` (database.RequestSignal): the rows come with it, one round trip
    a request for all three.
    """
    changes = db.changes
    if isinstance(changes, RequestSignal):
        return changes.meta()
    signal = changes.read()  # before the query: see database.py
    cached = getattr(db.local, "meta", None)
    if cached is not None and cached[0] == signal and signal % 2 == 0:
        return cached[1]
    rows = {str(key): int(value) for key, value in db.connection().execute(_READ).fetchall()}
    db.local.meta = (signal, rows)
    return rows


_READ = "SELECT key, value FROM meta"


class ClockOffset:
    def __init__(self, db: Database) -> None:
        self._db = db

    def read(self) -> int:
        return meta(self._db).get(KEY, 0)

    def set(self, offset: int) -> None:
        with self._db.transaction(counted=True) as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (KEY, offset),
            )
