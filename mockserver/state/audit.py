"""The audit: one row per gateway check that reached the permission step.

The rows live in the state's database, beside the keys, and every worker
sees the same rows. A check that was answered is never missing from the
audit: on PostgreSQL its row is written before the answer, in a statement
of its own after the counts (counters.py); on SQLite it is written before
the answer too, with the counts and under the same lock, to a file of rows
that wait (waiting_rows.py says why), and the waiting rows go to the
database 64 at a time, and before anything reads the audit. The table is
bounded: it never holds more than ``size`` rows, and the first written go
first; a size of 0 turns the audit off (the benchmark compares the gateway
both ways).

Once full, the oldest rows go in batches (:func:`trim_batch`, 1% of the
size) rather than one per check: deleting one old row changed two more
B-tree pages far from the newest, which a worker must read again after
another worker's write. On SQLite, a counted transaction with a full audit's
row took about 170 us of CPU with two processes taking turns, against 245
one row at a time (scratch runs of 4,000 each, noisy machine). So a full
audit holds between 99% and 100% of its size. Whether a batch is due is
asked of the rows themselves (is one older than the newest ``size``?), not of
the row number, so a number skipped by a failed PostgreSQL transaction, or a
trim done elsewhere (the demo history's), never lets the bound slip.

Time is kept as integer microseconds since the Unix epoch (``at_us``), which
orders and buckets exactly; the row as it is answered is kept as JSON.
"""

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mockserver.contract.jsontext import from_json, to_json
from mockserver.state.counters import namespace_of
from mockserver.state.database import Connection, Database
from mockserver.state.waiting_rows import WaitingRows

AuditRow = dict[str, Any]

_TABLES = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    app_slug TEXT NOT NULL,
    key_id TEXT NOT NULL,
    key_name TEXT NOT NULL,
    at_us INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    allowed INTEGER NOT NULL,
    blocked_by_rule TEXT,
    path TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_newest ON audit (app_slug, at_us DESC, request_id DESC);
"""
_INSERT = (
    "INSERT INTO audit (app_slug, key_id, key_name, at_us, request_id, allowed,"
    " blocked_by_rule, path, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# A batch is due when the oldest row is ``size`` older than the one just
# added (the audit then holds one row too many). Both engines ask it of
# min(seq), one step down the primary key: compared, not looked for (an
# EXISTS of the rows past the size was planned by PostgreSQL as a scan of
# the whole table, about 1.5 ms of its CPU a check at a few thousand rows).
_OLDEST = "SELECT min(seq) FROM audit"
# PostgreSQL: the row and the trim as one statement, its own transaction
# (Database.statement_writes): atomic with no BEGIN or COMMIT. The
# comparison names no column of the deleted rows, so PostgreSQL decides it
# once, before scanning: the DELETE costs nothing until a batch is due.
# The DELETE does not see the row the INSERT adds, only older ones.
_INSERT_AND_TRIM = (
    f"WITH added AS ({_INSERT} RETURNING seq)"
    " DELETE FROM audit WHERE seq <= (SELECT seq FROM added) - ?"
    f" AND ({_OLDEST}) <= (SELECT seq FROM added) - ?"
)
# Waiting rows (SQLite) go to the database this many at a time: 64 in one
# transaction cost 4.5 us a row with two workers writing, 16 cost 6.5, and
# 256 cost 3.8 (scratch runs of 40,000 rows, 2026-12-04).
BATCH = 64
PERMISSION_DENIED = "permission_denied"
DAY_US = 86_400_000_000


@dataclass(frozen=True)
class Filter:
    """Which rows of one app a query reads: ``since_us`` and ``until_us``
    (both inclusive, None for unbounded) and, when given, one key's only."""

    app_slug: str
    since_us: int | None
    until_us: int | None
    key_id: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        parts, values = ["app_slug = ?"], [self.app_slug]
        for clause, value in (
            ("at_us >= ?", self.since_us),
            ("at_us <= ?", self.until_us),
            ("key_id = ?", self.key_id),
        ):
            if value is not None:
                parts.append(clause)
                values.append(value)
        return " AND ".join(parts), values


@dataclass(frozen=True)
class Position:
    """A place in the newest-first order: rows strictly after it come next.
    ``request_id`` None means every row of ``at_us`` is behind."""

    at_us: int
    request_id: str | None


@dataclass(frozen=True)
class Counted:
    total: int
    allowed: int


class AuditLog:
    """The audit rows of every app, shared by all worker processes."""

    def __init__(self, database: Database, size: int) -> None:
        self._db = database
        self.size = size
        # The newest row a trim keeps, counted back from the row just added.
        self._kept = size - trim_batch(size) + 1
        self._one_statement = database.statement_writes
        self._db.connection().executescript(_TABLES)
        # A SQLite state's rows wait beside it (waiting_rows.py).
        self._waiting: WaitingRows | None = None
        if not self._one_statement and size:
            self._waiting = WaitingRows(Path(f"{database.path}.audit"))
            owner = namespace_of(database)
            with database.write_lock():
                self._waiting.belong_to(owner)

    # --- writing ---------------------------------------------------------------

    def write(self, db: Connection, row: AuditRow, at_us: int) -> None:
        """Add ``row``. On PostgreSQL, with ``db``: a statement of its own,
        which drops the first-written batch when there are more than
        :attr:`size` rows. On SQLite ``db`` is under the writers' lock, with
        no transaction open: the row waits (waiting_rows.py), and a batch of
        waiting rows is added when one is due. A size of 0 keeps none."""
        if not self.size:
            return
        if self._waiting is None:
            db.execute(_INSERT_AND_TRIM, (*_values(row, at_us), self._kept, self.size))
            return
        body = to_json(row)
        if not self._waiting.add(at_us, body):  # no room: the waiting rows go, with it
            self._waiting.move_to(db, self._insert, also=(at_us, body))
        elif self._waiting.rows_waiting >= BATCH:
            # The row is kept already: when its batch cannot go now, the
            # rows wait for the next write or read, and the check stands.
            with contextlib.suppress(sqlite3.Error):
                self._waiting.move_to(db, self._insert)

    def _insert(self, db: Connection, rows: list[tuple[int, bytes]]) -> None:
        """Add rows (their instant, their JSON) in the caller's transaction;
        when that makes more than :attr:`size`, drop the first-written batch.
        A row that is not JSON (a file torn by a machine's crash) is left out."""
        values = []
        for at_us, body in rows:
            try:
                values.append(_values(from_json(body), at_us, body))
            except (ValueError, KeyError, TypeError):
                continue
        db.executemany(_INSERT, values)
        (newest,) = db.execute("SELECT max(seq) FROM audit").fetchone()
        if newest > self.size and db.execute(_OLDEST).fetchone()[0] <= newest - self.size:
            db.execute("DELETE FROM audit WHERE seq <= ?", (newest - self._kept,))

    def settle(self) -> None:
        """Add the waiting rows now: a read after this sees every check
        answered before it, whichever worker served it (and a snapshot
        copies them)."""
        if self._waiting is not None and self._waiting.rows_waiting:
            with self._db.write_lock() as db:
                self._waiting.move_to(db, self._insert)

    def _reader(self) -> Connection:
        """The connection to read with, once the waiting rows are added."""
        self.settle()
        return self._db.connection()

    def add(self, row: AuditRow, at_us: int) -> None:
        """Add ``row`` in a write of its own (a check that counted nothing)."""
        with self._db.write_lock() as db:
            self.write(db, row, at_us)

    def forget_waiting(self) -> None:
        """Drop the waiting rows, under the writers' lock (a snapshot is put back)."""
        if self._waiting is not None:
            self._waiting.forget()

    def write_many(self, rows: Iterable[tuple[AuditRow, int]]) -> None:
        """Add rows in a transaction of their own (the demo history)."""
        if not self.size:
            return
        with self._db.transaction() as db:
            db.executemany(_INSERT, (_values(row, at_us) for row, at_us in rows))
            (newest,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM audit").fetchone()
            db.execute("DELETE FROM audit WHERE seq <= ?", (newest - self.size,))

    def clear(self) -> None:
        with self._db.transaction() as db:
            db.execute("DELETE FROM audit")
            self.forget_waiting()

    # --- reading ---------------------------------------------------------------

    def position_of(self, app_slug: str, request_id: str) -> int | None:
        """The exact instant of a row, which a millisecond cursor only approximates."""
        found = (
            self._reader()
            .execute(
                "SELECT at_us FROM audit WHERE app_slug = ? AND request_id = ?",
                (app_slug, request_id),
            )
            .fetchone()
        )
        return None if found is None else int(found[0])

    def page(
        self,
        rows: Filter,
        *,
        allowed: bool | None,
        after: Position | None,
        offset: int,
        limit: int,
    ) -> tuple[list[AuditRow], bool]:
        """Up to ``limit`` rows newest first, and whether more follow."""
        where, values = rows.where()
        if allowed is not None:
            where += " AND allowed = ?"
            values.append(int(allowed))
        if after is not None and after.request_id is None:
            where += " AND at_us < ?"
            values.append(after.at_us)
        elif after is not None:
            where += " AND (at_us < ? OR (at_us = ? AND request_id < ?))"
            values += [after.at_us, after.at_us, after.request_id]
        found = (
            self._reader()
            .execute(
                f"SELECT body FROM audit WHERE {where}"
                " ORDER BY at_us DESC, request_id DESC LIMIT ? OFFSET ?",
                (*values, limit + 1, 0 if after is not None else offset),
            )
            .fetchall()
        )
        return [json.loads(body) for (body,) in found[:limit]], len(found) > limit

    def _one_row(self, sql: str, values: Iterable[Any]) -> tuple[Any, ...]:
        return tuple(self._reader().execute(sql, tuple(values)).fetchone())

    def counted(self, rows: Filter) -> Counted:
        where, values = rows.where()
        total, allowed = self._one_row(
            f"SELECT COUNT(*), COALESCE(SUM(allowed), 0) FROM audit WHERE {where}", values
        )
        return Counted(int(total), int(allowed))

    def distinct_keys(self, rows: Filter) -> int:
        where, values = rows.where()
        sql = f"SELECT COUNT(DISTINCT key_id) FROM audit WHERE {where}"
        return int(self._one_row(sql, values)[0])

    def top(self, rows: Filter, group: str, limit: int, *, blocked_by: str = "") -> list[Any]:
        """The most frequent values of ``group`` (key, path or blocking rule),
        most rows first (ties in the group's order), with their counts.

        ``blocked_by`` narrows to blocked rows: ``"any"`` those with a rule,
        ``"rate_limit"`` those blocked by a rate-limit rule.
        """
        columns = {
            "key": "key_id, MAX(key_name)",
            "path": "path",
            "rule": "blocked_by_rule",
        }[group]
        where, values = rows.where()
        where += _BLOCKED_BY[blocked_by]
        group_by = columns.split(",")[0]
        return (
            self._reader()
            .execute(
                f"SELECT {columns}, COUNT(*) AS n FROM audit WHERE {where}"
                f" GROUP BY {group_by} ORDER BY n DESC, {group_by} LIMIT ?",
                (*values, limit),
            )
            .fetchall()
        )

    def count_blocked_by(self, rows: Filter, blocked_by: str) -> int:
        where, values = rows.where()
        sql = f"SELECT COUNT(*) FROM audit WHERE {where}{_BLOCKED_BY[blocked_by]}"
        return int(self._one_row(sql, values)[0])

    def buckets(
        self, rows: Filter, width_us: int, shift_us: int = 0
    ) -> Iterator[tuple[int, int, int]]:
        """(bucket start, rows, admitted rows) for each bucket of ``width_us``
        that holds rows, oldest first. Buckets start ``shift_us`` before the
        multiples of the width (weeks start on Sundays; the epoch was a Thursday)."""
        where, values = rows.where()
        found = self._reader().execute(
            f"SELECT at_us - (at_us + ?) % ? AS bucket, COUNT(*), SUM(allowed) FROM audit"
            f" WHERE {where} GROUP BY bucket ORDER BY bucket",
            (shift_us, width_us, *values),
        )
        for bucket, total, allowed in found:
            yield int(bucket), int(total), int(allowed)

    def count(self) -> int:
        return int(self._one_row("SELECT COUNT(*) FROM audit", ())[0])


_BLOCKED_BY = {
    "": "",
    "any": " AND allowed = 0 AND blocked_by_rule IS NOT NULL",
    "rate_limit": (
        f" AND allowed = 0 AND blocked_by_rule IS NOT NULL"
        f" AND blocked_by_rule != '{PERMISSION_DENIED}'"
    ),
}


def trim_batch(size: int) -> int:
    """How many rows a full audit of ``size`` drops at once: 1% (at least one,
    so a small audit, as the tests set, keeps exactly its size)."""
    return max(1, size // 100)


def _values(row: AuditRow, at_us: int, body: bytes | None = None) -> tuple[Any, ...]:
    return (
        row["app_slug"],
        row["key_id"],
        row["key_name"],
        at_us,
        row["request_id"],
        int(row["outcome"] == "VALID"),
        row["blocked_by_rule"],
        row["path"],
        (to_json(row) if body is None else body).decode("utf-8"),
    )
