"""Audit rows of a SQLite state that wait to be added to its database in a
batch (audit.py says when).

Why: on SQLite a transaction of its own for each gateway check's audit row
cost about 29 us of CPU a row with two workers writing, and a transaction
of 64 rows 4.5 us a row (2026-12-04); the row was the dearest part of a
check. So a check writes its row here, and the rows go to the database 64
at a time, or before anything reads the audit.

The rows wait in a file beside the state (``<state>.audit``), mapped into
every worker process. A check writes its row under the state's writers'
lock (database.py), with its counts (shared_counters.py), before it is
answered: from then on the row is in the file, whatever becomes of the
worker, and the next read of the audit by any worker adds it first. The file
outlives the server with the state (``--state``), and is read again by the
next server.

The file: a header (the batch's id, the bytes and the rows written), then
one record a row: its instant (microseconds), its length, the row as JSON.
A row's bytes are written before the header counts them, so a worker that
dies half way through a row leaves nothing of it. A batch is added in one
transaction that also records, in ``meta``, the batch's id and how many of
its bytes went: of a batch whose worker died after that commit and before
the file was emptied, the next adds only the rows written after them.
"""

import secrets
import struct
from collections.abc import Callable
from pathlib import Path

from mockserver.state.database import Connection, mapped_file

# What adds rows (instant, JSON) to the database, in the transaction given.
Insert = Callable[[Connection, list[tuple[int, bytes]]], None]

_HEADER = struct.Struct("<qqq")  # the batch's id, bytes in use, rows
# After it, the state's namespace (counters.namespace_of) the rows belong to.
_OWNER = struct.Struct("<q")
_OWNER_AT = 32
_HEADER_SIZE = 64
_RECORD = struct.Struct("<qI")  # the row's instant, its length
# Room for about a thousand rows of a usual size: a batch is due far sooner.
_SIZE = 1 << 20
# In ``meta``: the id of the last batch added, and how many of its bytes.
_BATCH_KEY = "audit_batch_added"
_BYTES_KEY = "audit_batch_bytes_added"


class WaitingRows:
    """The file of one state's waiting audit rows. Every method but
    :attr:`rows_waiting` is called under the state's writers' lock."""

    def __init__(self, path: Path) -> None:
        self._map = mapped_file(path, _SIZE)

    def belong_to(self, owner: int) -> None:
        """Drop rows another state left (its file deleted alone, and made
        anew): the file now holds ``owner``'s, the state's namespace."""
        if _OWNER.unpack_from(self._map, _OWNER_AT)[0] != owner:
            self.forget()
            _OWNER.pack_into(self._map, _OWNER_AT, owner)

    @property
    def rows_waiting(self) -> int:
        """How many rows wait (read without the lock, it may be a moment old)."""
        return int(_HEADER.unpack_from(self._map, 0)[2])

    def add(self, at_us: int, row: bytes) -> bool:
        """Keep ``row`` (JSON) made at ``at_us``; False when there is no room."""
        batch, used, rows = _HEADER.unpack_from(self._map, 0)
        offset = _HEADER_SIZE + used
        end = offset + _RECORD.size + len(row)
        if end > _SIZE:
            return False
        if not batch:  # a new file: its first batch gets an id too
            batch = secrets.randbits(62) | 1
        _RECORD.pack_into(self._map, offset, at_us, len(row))
        self._map[offset + _RECORD.size : end] = row
        _HEADER.pack_into(self._map, 0, batch, end - _HEADER_SIZE, rows + 1)
        return True

    def move_to(
        self, db: Connection, insert: Insert, also: tuple[int, bytes] | None = None
    ) -> None:
        """Add the waiting rows, and ``also`` (a row that found no room), to
        the database by ``insert`` (with ``db``, in the transaction this
        opens), and empty the file. Of a batch added before (its worker died
        before emptying the file), only the rows written after it went."""
        batch, used, _ = _HEADER.unpack_from(self._map, 0)
        if not used and also is None:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            rows = []
            if used:
                added = dict(
                    db.execute(
                        "SELECT key, value FROM meta WHERE key IN (?, ?)", (_BATCH_KEY, _BYTES_KEY)
                    ).fetchall()
                )
                done = int(added.get(_BYTES_KEY, 0)) if added.get(_BATCH_KEY) == batch else 0
                rows = self._rows(done, used)
                db.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?), (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (_BATCH_KEY, batch, _BYTES_KEY, used),
                )
            if also is not None:
                rows.append(also)
            if rows:
                insert(db, rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if used:
            self.forget()

    def _rows(self, start: int, used: int) -> list[tuple[int, bytes]]:
        """The rows written between bytes ``start`` and ``used``. A record
        that does not fit (a machine that crashed with the file half on
        disk) ends them."""
        rows, offset, end = [], _HEADER_SIZE + start, _HEADER_SIZE + used
        while offset + _RECORD.size <= end:
            at_us, length = _RECORD.unpack_from(self._map, offset)
            begin = offset + _RECORD.size
            if begin + length > end:
                break
            rows.append((at_us, self._map[begin : begin + length]))
            offset = begin + length
        return rows

    def forget(self) -> None:
        """Empty the file; the next batch has a new id."""
        _HEADER.pack_into(self._map, 0, secrets.randbits(62) | 1, 0, 0)
