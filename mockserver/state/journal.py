"""The request journal: what the server received and answered, for CI to assert on.

Entries live in a small SQLite file of their own, so that every worker
process writes to, and the admin API reads from, one journal. It is bounded:
past ``size`` entries the oldest are dropped, so a long run cannot exhaust
memory or disk. A size of 0 turns it off.

One journal holds every session's requests (state/sessions.py), each row
naming its session ('' for the default one): it is read per session, or
whole by the inspector, and cleared per session.
"""

import itertools
import json
from pathlib import Path
from typing import Any

from mockserver.contract.jsontext import to_json
from mockserver.state.database import Connection, Database, SharedSqlite

# seq is an entry's id, which must never repeat within a journal. Without
# AUTOINCREMENT a new row gets the largest seq plus one, so the newest row is
# never deleted: trimming keeps the last ``size`` rows, and clearing a session
# keeps the newest row and hides it, with the session's older ones, behind
# that session's ``cleared.through``.
# That saves the sqlite_sequence update of every request: Journal.record
# 71 -> 63 us in one process, 10,840 -> 12,150 writes/s from two (medians of 9
# runs of 10,000 each).
_TABLES = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY,
    session TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    operation_id TEXT,
    entry TEXT NOT NULL,
    body TEXT
);
-- One row per session ever cleared.
CREATE TABLE IF NOT EXISTS cleared (
    session TEXT PRIMARY KEY,
    through INTEGER NOT NULL
);
"""
# Trimming costs a DELETE; doing it every so many entries (a process's own)
# keeps it off most requests. On PostgreSQL the DELETE costs about a
# millisecond and more whatever it drops (it walks past the index entries of
# rows dropped before and not yet vacuumed): pg_stat_statements under two
# replicas' creates put it at 1.1 ms a run, 17.6 us a request, every 64
# entries, and at 1.4 ms, 2.6 us a request, every 512 (2026-12-04). SQLite's
# journal measured the same either way. The table then holds up to 512 rows a
# process past ``size``, which no read shows (_where). The entries are counted
# by the Journal itself, not by a connection: one made anew (an idle timeout)
# starts no count again, which could have put the trim off for good.
_TRIM_EVERY = 512
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
    def __init__(self, path: Path | Database | None, size: int) -> None:
        """A file of its own at ``path``, or the tables of a shared database
        (PostgreSQL: every replica records into, and reads, one journal)."""
        self.size = size
        # This process's entries (next() is atomic: threads share it).
        self._entries = itertools.count(1)
        self._db: Database | None = None
        if size > 0:
            # A journal is not worth an fsync: its file never outlives the server.
            shared = path is not None and not isinstance(path, Path)
            self._db = path if shared else SharedSqlite(path, durable=False)  # type: ignore[assignment]
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
                "INSERT INTO journal (session, method, path, status, operation_id, entry, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.get("session") or "",
                    entry["method"],
                    entry["path"],
                    entry["status"],
                    entry["operation_id"],
                    to_json(rest).decode("utf-8"),
                    entry["body"],  # decoded from bytes: no lone surrogates
                ),
            )
            if next(self._entries) % _TRIM_EVERY == 0:
                self._trim(db)

    def _trim(self, db: Connection) -> None:
        db.execute(
            "DELETE FROM journal WHERE seq <= (SELECT max(seq) FROM journal) - ?", (self.size,)
        )

    def _where(self, filters: dict[str, Any]) -> tuple[str, list[Any]]:
        """The filters, within the last ``size`` entries (rows past that wait for
        the next trim, and must not be seen meanwhile) and after the last clear
        of their session. ``session`` (None: the default one) unless ``all_sessions``."""
        clauses = [
            "seq > (SELECT coalesce(max(seq), 0) FROM journal) - ?",
            "seq > coalesce((SELECT through FROM cleared WHERE cleared.session ="
            " journal.session), 0)",
        ]
        params: list[Any] = [self.size]
        if not filters.get("all_sessions"):
            clauses.append("session = ?")
            params.append(filters.get("session") or "")
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

    def clear(self, session: str | None = None) -> None:
        """Forget every entry of ``session`` (None: the default one), but keep
        the newest row of all, hidden, so that the next entry's seq (its id)
        follows it instead of starting again."""
        if self._db is not None:
            name = session or ""
            with self._db.transaction() as db:
                db.execute(
                    "INSERT INTO cleared (session, through)"
                    " VALUES (?, (SELECT coalesce(max(seq), 0) FROM journal))"
                    " ON CONFLICT (session) DO UPDATE SET through = excluded.through",
                    (name,),
                )
                db.execute(
                    "DELETE FROM journal"
                    " WHERE session = ? AND seq < (SELECT max(seq) FROM journal)",
                    (name,),
                )

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
