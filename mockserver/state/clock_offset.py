"""How far the admin API moved the server's clock, shared by every worker.

One row of the state's ``meta`` table, in microseconds. Read on every
request, so each thread keeps its last reading and looks again only when a
counted transaction ran since (database.py's change signal), as the store
does for the schemes: one memory read in the common case.
"""

from mockserver.state.database import Database

KEY = "clock_offset_us"


class ClockOffset:
    def __init__(self, db: Database) -> None:
        self._db = db

    def read(self) -> int:
        signal = self._db.changes.read()
        cached = getattr(self._db.local, "clock_offset", None)
        if cached is not None and cached[0] == signal and signal % 2 == 0:
            return int(cached[1])
        row = (
            self._db.connection().execute("SELECT value FROM meta WHERE key = ?", (KEY,)).fetchone()
        )
        offset = 0 if row is None else int(row[0])
        self._db.local.clock_offset = (signal, offset)
        return offset

    def set(self, offset: int) -> None:
        with self._db.transaction(counted=True) as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (KEY, offset),
            )
