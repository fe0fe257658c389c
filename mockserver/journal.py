"""The request journal: what the server received and answered, for CI to assert on.

Entries live in a small SQLite file of their own, so that every worker
process writes to, and the admin API reads from, one journal. It is bounded:
past ``size`` entries the oldest are dropped, so a long run cannot exhaust
memory or disk. A size of 0 turns it off.
"""

import fcntl
import json
import os
import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any

_TABLE = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    operation_id TEXT,
    entry TEXT NOT NULL
);
"""
# Trimming costs a DELETE; doing it every so many entries keeps it off most requests.
_TRIM_EVERY = 64
FILTERS = ("method", "path", "status", "operation_id")


class Journal:
    def __init__(self, path: Path | None, size: int) -> None:
        self.size = size
        self._temporary = None
        if path is None and size > 0:
            self._temporary = tempfile.TemporaryDirectory(prefix="mockserver-journal-")
            path = Path(self._temporary.name) / "journal.sqlite3"
        self.path = path
        self._local = threading.local()
        if self.enabled:
            self._connection().executescript(_TABLE)

    @property
    def enabled(self) -> bool:
        return self.size > 0 and self.path is not None

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != os.getpid():
            assert self.path is not None
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=OFF")  # a journal is not worth an fsync
            self._local.connection, self._local.pid = connection, os.getpid()
            self._local.lock_file = open(f"{self.path}.lock", "a")  # noqa: SIM115
            self._local.written = 0
        return connection

    def record(self, entry: dict[str, Any]) -> None:
        if not self.enabled:
            return
        db = self._connection()
        fcntl.flock(self._local.lock_file, fcntl.LOCK_EX)
        try:
            db.execute(
                "INSERT INTO journal (method, path, status, operation_id, entry)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    entry["method"],
                    entry["path"],
                    entry["status"],
                    entry["operation_id"],
                    # ASCII escapes keep any string storable, lone surrogates included.
                    json.dumps(entry, separators=(",", ":")),
                ),
            )
            self._local.written += 1
            if self._local.written % _TRIM_EVERY == 0:
                self._trim(db)
        finally:
            fcntl.flock(self._local.lock_file, fcntl.LOCK_UN)

    def _trim(self, db: sqlite3.Connection) -> None:
        db.execute(
            "DELETE FROM journal WHERE seq <= (SELECT max(seq) FROM journal) - ?", (self.size,)
        )

    @staticmethod
    def _where(filters: dict[str, Any]) -> tuple[str, list[Any]]:
        clauses = [f"{name} = ?" for name in FILTERS if filters.get(name) is not None]
        params = [filters[name] for name in FILTERS if filters.get(name) is not None]
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def entries(self, limit: int | None = None, **filters: Any) -> list[dict[str, Any]]:
        """The newest entries first, at most ``size`` of them, matching every filter."""
        if not self.enabled:
            return []
        where, params = self._where(filters)
        limit = min(limit or self.size, self.size)
        rows = self._connection().execute(
            f"SELECT seq, entry FROM journal{where} ORDER BY seq DESC LIMIT ?", [*params, limit]
        )
        return [{"id": seq, **json.loads(entry)} for seq, entry in rows]

    def count(self, **filters: Any) -> int:
        return len(self.entries(**filters))

    def clear(self) -> None:
        if self.enabled:
            self._connection().execute("DELETE FROM journal")

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.lock_file.close()
            self._local.connection = None
        if self._temporary is not None:
            self._temporary.cleanup()
