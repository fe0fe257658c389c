"""The request journal: what the server received and answered, for CI to assert on.

Entries live in a small SQLite file of their own, so that every worker
process writes to, and the admin API reads from, one journal. It is bounded:
past ``size`` entries the oldest are dropped, so a long run cannot exhaust
memory or disk. A size of 0 turns it off.
"""

import json
import sqlite3
from pathlib import Path
from typing import Any

from mockserver.contract.jsontext import to_json
from mockserver.state.database import SharedSqlite

# seq is an entry's id, which must never repeat within a journal. Without
# AUTOINCREMENT a new row gets the largest seq plus one, so the newest row is
# never deleted: trimming keeps the last ``size`` rows, and clearing keeps the
# newest one and hides it with everything older behind ``cleared.through``.
# That saves the sqlite_sequence update of every request: Journal.record
# 71 -> 63 us in one process, 10,840 -> 12,150 writes/s from two (medians of 9
# runs of 10,000 each).
_TABLES = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    operation_id TEXT,
    entry TEXT NOT NULL,
    body TEXT
);
-- One row; its key makes creating it safe when several workers start at once.
CREATE TABLE IF NOT EXISTS cleared (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    through INTEGER NOT NULL
);
INSERT OR IGNORE INTO cleared (one, through) VALUES (1, 0);
"""
# Trimming costs a DELETE; doing it every so many entries keeps it off most requests.
_TRIM_EVERY = 64
FILTERS = ("method", "path", "status", "operation_id")


def _parsed(body: str | None) -> Any:
    """The body as JSON when it is JSON, else the text."""
    if body is None:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return body


class Journal:
    def __init__(self, path: Path | None, size: int) -> None:
        self.size = size
        # A journal is not worth an fsync: its file never outlives the server.
        self._db = SharedSqlite(path, durable=False) if size > 0 else None
        if self._db is not None:
            self._db.connection().executescript(_TABLES)

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def record(self, entry: dict[str, Any]) -> None:
        """Keep an entry; its ``body`` is text, stored as is and parsed on reading."""
        if self._db is None:
            return
        rest = {name: value for name, value in entry.items() if name != "body"}
        with self._db.write_lock() as db:
            db.execute(
                "INSERT INTO journal (method, path, status, operation_id, entry, body)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    entry["method"],
                    entry["path"],
                    entry["status"],
                    entry["operation_id"],
                    to_json(rest).decode("utf-8"),
                    entry["body"],  # decoded from bytes: no lone surrogates
                ),
            )
            written = getattr(self._db.local, "written", 0) + 1
            self._db.local.written = written
            if written % _TRIM_EVERY == 0:
                self._trim(db)

    def _trim(self, db: sqlite3.Connection) -> None:
        db.execute(
            "DELETE FROM journal WHERE seq <= (SELECT max(seq) FROM journal) - ?", (self.size,)
        )

    def _where(self, filters: dict[str, Any]) -> tuple[str, list[Any]]:
        """The filters, within the last ``size`` entries (rows past that wait for
        the next trim, and must not be seen meanwhile) and after the last clear."""
        clauses = [
            "seq > (SELECT coalesce(max(seq), 0) FROM journal) - ?",
            "seq > (SELECT through FROM cleared)",
        ]
        params: list[Any] = [self.size]
        clauses += [f"{name} = ?" for name in FILTERS if filters.get(name) is not None]
        params += [filters[name] for name in FILTERS if filters.get(name) is not None]
        return " WHERE " + " AND ".join(clauses), params

    def entries(self, limit: int | None = None, **filters: Any) -> list[dict[str, Any]]:
        """The newest entries first, at most ``size`` of them, matching every filter."""
        if self._db is None:
            return []
        where, params = self._where(filters)
        limit = min(limit or self.size, self.size)
        rows = self._db.connection().execute(
            f"SELECT seq, entry, body FROM journal{where} ORDER BY seq DESC LIMIT ?",
            [*params, limit],
        )
        return [
            {"id": seq, **json.loads(entry), "body": _parsed(body)} for seq, entry, body in rows
        ]

    def count(self, **filters: Any) -> int:
        """How many kept entries match (never more than ``size``)."""
        if self._db is None:
            return 0
        where, params = self._where(filters)
        (count,) = (
            self._db.connection().execute(f"SELECT count(*) FROM journal{where}", params).fetchone()
        )
        return min(count, self.size)

    def clear(self) -> None:
        """Forget every entry, but keep the newest row, hidden, so that the next
        entry's seq (its id) follows it instead of starting again at 1."""
        if self._db is not None:
            with self._db.transaction() as db:
                db.execute(
                    "UPDATE cleared SET through = coalesce((SELECT max(seq) FROM journal), through)"
                )
                db.execute("DELETE FROM journal WHERE seq < (SELECT through FROM cleared)")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
