"""Rate-limit counters in memory that every worker process of one machine
shares: the counters of a SQLite state (counters.py has the interface).

Why not rows of the state's database, as on PostgreSQL: on SQLite every
write takes its turn on one lock, and a worker must read again what another
worker's write changed. Counting in the database cost a gateway check about
a fifth of its time (two workers on two cores, 2026-12-04: 198 us of CPU a
check, 165 with the counting taken out). Here a check's counting is a few
reads and writes of mapped memory under a lock of its own.

The counters are a table of fixed slots in a file beside the state
(``<state>.counters``), mapped into each process. A slot holds the first 16
bytes of the counter name's BLAKE2b digest, the start of the counter's
window, the count in it and the end of the window. The table is open
addressing with linear probing. Before a new counter takes a slot, a sweep
empties the next few slots whose window has ended, moving back the slots
behind each (so that no lookup stops short): ended windows never fill the
table. Every take runs under the state's writers' lock (database.py), with
the check's audit row: however many workers check at once, a rule of L per
window admits exactly L in that window, and a check is counted if and only
if its audit row was written. The file outlives the server with the state
(``--state``); a session's state has its own.

A process killed while it held the lock leaves what it was doing half
done: a slot half written, or the slots it was moving back doubled, and the
number of slots in use off (the next sweep of the whole table counts them
anew), or a check counted whose audit row it had not written: a count or
two off in one window.
"""

import hashlib
import os
import struct
from pathlib import Path

from mockserver.state.counters import (
    CounterRow,
    CountersUnavailable,
    Outcome,
    StateWithCounters,
    Tally,
    Then,
)
from mockserver.state.database import Database, mapped_file

# A slot: digest, window start (ms), count, window end (ms).
_SLOT = struct.Struct("<16sqqq")
_VALUES = struct.Struct("<qqq")
_DIGEST = 16
_EMPTY = bytes(_DIGEST)
# 2**17 slots of 40 bytes: a 5 MiB sparse file, of which only the pages in
# use take memory. At most three quarters are used, so that probes stay short.
SLOTS = 1 << 17
_MOST = SLOTS * 3 // 4
_MASK = SLOTS - 1
# Slots the sweep looks at before a new counter takes one: the whole table
# every 16,384 new counters.
_SWEEP = 8
# The header: the sweep's position, the number of slots in use, and when (the
# checks' clock, ms) the whole table was last swept.
_HEADER = struct.Struct("<qqq")
# The whole table is swept (when it looks full) at most once a second of the
# checks' clock: a sweep of it takes about 30 ms, under the writers' lock,
# and while the clock stands still no window ends.
_WHOLE_SWEEP_EVERY_MS = 1000
# After it, the state's namespace (counters.namespace_of) the table belongs to.
_OWNER = struct.Struct("<q")
_OWNER_AT = 32
_HEADER_SIZE = 64
_SIZE = _HEADER_SIZE + SLOTS * _SLOT.size
# A restored counter's window is not known (a snapshot keeps its start only):
# it is kept this long, or until a check counts on it again.
_RESTORED_MS = 400 * 86_400_000
# What a 503 says when the table is full (counters.py's CountersUnavailable).
SHARED_MEMORY = "The rate-limit counters"
FULL = f"are full ({_MOST:,} counters whose window has not ended)"


def _digest(name: str) -> bytes:
    return hashlib.blake2b(name.encode("utf-8"), digest_size=_DIGEST).digest()


def _name_digest(name: str) -> bytes:
    """A row's name as rows() gives it (the digest in hex), or a counter's name."""
    if len(name) == 2 * _DIGEST:
        try:
            return bytes.fromhex(name)
        except ValueError:
            pass
    return _digest(name)


def _home(digest: bytes) -> int:
    return int.from_bytes(digest[:8], "little") & _MASK


class SharedCounters:
    """A SQLite state's counters, in a file mapped into every worker."""

    in_state = False

    def __init__(self, path: Path, database: Database, owner: int) -> None:
        """``path``: the counters' file; ``database``: the state's, where a
        check's audit row is written; ``owner``: the state's namespace. A
        file left by another state (its file deleted alone, and made anew)
        holds none of this one's counters: it is emptied."""
        self._path = path
        self._database = database
        self._owner = owner
        self._map = mapped_file(path, _SIZE)
        if _OWNER.unpack_from(self._map, _OWNER_AT)[0] != owner:
            with database.write_lock():
                if _OWNER.unpack_from(self._map, _OWNER_AT)[0] != owner:
                    self._zero()

    # --- slots -----------------------------------------------------------------

    def _find(self, digest: bytes) -> int:
        """The slot of ``digest``, or the empty slot where it would go."""
        table = self._map
        index = _home(digest)
        for _ in range(SLOTS):
            offset = _HEADER_SIZE + index * _SLOT.size
            held = table[offset : offset + _DIGEST]
            if held in (digest, _EMPTY):
                return offset
            index = (index + 1) & _MASK
        # No empty slot at all (only a count of slots in use gone wrong, a
        # worker killed half way, lets the table fill up).
        raise CountersUnavailable(SHARED_MEMORY, condition=FULL)

    def _header(self) -> tuple[int, int, int]:
        return _HEADER.unpack_from(self._map, 0)  # type: ignore[return-value]

    def _sweep(self, now_ms: int) -> None:
        """Empty the slots among the next few whose window ended by ``now_ms``;
        the whole table when it looks full (then ``used`` is counted anew,
        so that a count a killed worker left wrong is put right)."""
        sweep, used, whole_at = self._header()
        whole = used >= _MOST and now_ms >= whole_at + _WHOLE_SWEEP_EVERY_MS
        slots = SLOTS if whole else _SWEEP
        table = self._map
        step = 0
        while step < slots:
            index = (sweep + step) & _MASK
            offset = _HEADER_SIZE + index * _SLOT.size
            digest, _, _, end = _SLOT.unpack_from(table, offset)
            if digest != _EMPTY and end <= now_ms:
                self._empty(index)
                used -= 1
                _HEADER.pack_into(table, 0, sweep, used, whole_at)
                continue  # the slot moved back into ``index`` is looked at too
            step += 1
        if whole:
            used = sum(
                table[offset : offset + _DIGEST] != _EMPTY
                for offset in range(_HEADER_SIZE, _SIZE, _SLOT.size)
            )
            whole_at = now_ms
        _HEADER.pack_into(table, 0, (sweep + slots) & _MASK, used, whole_at)

    def _empty(self, index: int) -> None:
        """Empty slot ``index``, moving back each slot after it that a lookup
        would otherwise no longer reach (deletion by backward shift)."""
        table = self._map
        while True:
            following = index
            while True:
                following = (following + 1) & _MASK
                offset = _HEADER_SIZE + following * _SLOT.size
                digest = table[offset : offset + _DIGEST]
                if digest == _EMPTY:
                    start = _HEADER_SIZE + index * _SLOT.size
                    table[start : start + _SLOT.size] = bytes(_SLOT.size)
                    return
                # The slot may move back to ``index`` unless its home lies
                # after ``index`` (cyclically, up to ``following``).
                home = _home(digest)
                if (following - home) & _MASK >= (following - index) & _MASK:
                    break
            start = _HEADER_SIZE + index * _SLOT.size
            table[start : start + _SLOT.size] = table[offset : offset + _SLOT.size]
            index = following

    # --- the interface ---------------------------------------------------------

    def take(self, tallies: list[Tally], then: Then | None = None) -> list[Outcome]:
        """See CounterStore.take. The counts and ``then`` (the check's audit
        row, audit.py) under the state's writers' lock, as one step, with no
        transaction open: when ``then`` fails, the counts are taken back
        before any other writer sees them. One lock, not one of the
        counters' own beside it: two locks taken in turn by two workers
        measured no faster than counting in SQLite."""
        with self._database.write_lock() as db:
            outcomes: list[Outcome] = []
            try:
                for tally in tallies:
                    outcomes.append(self._count(tally, tallies))
                if then is not None:
                    then(db, outcomes)
            except BaseException:  # a full table, or ``then``: nothing stays counted
                self._give_back(tallies, outcomes)
                raise
        return outcomes

    def _count(self, tally: Tally, tallies: list[Tally]) -> Outcome:
        """Count on ``tally``'s counter, one of ``tallies`` (the check's)."""
        digest = _digest(tally.name)
        offset = self._find(digest)
        table = self._map
        start = tally.window_start
        if table[offset : offset + _DIGEST] == _EMPTY:
            if tally.limit <= 0:
                return Outcome(False, 0)
            # A new counter: the sweep makes room first. The latest start
            # of the check's windows is the nearest instant known to be past.
            self._sweep(max(each.window_start for each in tallies))
            return self._start(self._find(digest), digest, tally)
        held_start, count, _ = _VALUES.unpack_from(table, offset + _DIGEST)
        if held_start != start:  # a window of before (or, the clock moved back, after)
            count = 0
        if count >= tally.limit:
            return Outcome(False, count)
        _VALUES.pack_into(table, offset + _DIGEST, start, count + 1, start + tally.window_ms)
        return Outcome(True, count + 1)

    def _start(self, offset: int, digest: bytes, tally: Tally) -> Outcome:
        """A new counter at ``offset`` (empty), counting one request."""
        sweep, used, whole_at = self._header()
        if used >= _MOST:
            raise CountersUnavailable(SHARED_MEMORY, condition=FULL)
        start = tally.window_start
        self._put(offset, digest, start, 1, start + tally.window_ms)
        _HEADER.pack_into(self._map, 0, sweep, used + 1, whole_at)
        return Outcome(True, 1)

    def _put(self, offset: int, digest: bytes, start: int, count: int, end: int) -> None:
        """Fill the empty slot at ``offset``; the digest last, since a slot
        is in use once its digest is there."""
        _VALUES.pack_into(self._map, offset + _DIGEST, start, count, end)
        self._map[offset : offset + _DIGEST] = digest

    def _give_back(self, tallies: list[Tally], outcomes: list[Outcome]) -> None:
        """Uncount what was just counted, still under the lock."""
        for tally, outcome in zip(tallies, outcomes, strict=False):  # those counted
            digest = _digest(tally.name)
            offset = self._find(digest)
            if not outcome.admitted or self._map[offset : offset + _DIGEST] != digest:
                continue
            start, count, end = _VALUES.unpack_from(self._map, offset + _DIGEST)
            if start == tally.window_start and count > 0:
                _VALUES.pack_into(self._map, offset + _DIGEST, start, count - 1, end)

    def clear(self) -> None:
        with self._database.write_lock():
            self._zero()

    def _zero(self) -> None:
        """Every slot empty, under the lock. Cut to nothing and grown again,
        the file stays sparse (written over with zeros, all 5 MiB would be
        on disk and in memory); every mapping of it reads the zeros."""
        os.truncate(self._path, 0)
        os.truncate(self._path, _SIZE)
        _OWNER.pack_into(self._map, _OWNER_AT, self._owner)

    @staticmethod
    def row_name(name: str) -> str:
        """What rows() calls the counter ``name``: the digest of its name in
        hex, as only the digest is kept (replace() takes either)."""
        return _digest(name).hex()

    def rows(self) -> list[CounterRow]:
        """Every counter in use, named as row_name() says."""
        rows = []
        with self._database.write_lock():
            for offset in range(_HEADER_SIZE, _SIZE, _SLOT.size):
                if self._map[offset : offset + _DIGEST] != _EMPTY:
                    digest, start, count, _ = _SLOT.unpack_from(self._map, offset)
                    rows.append(CounterRow(digest.hex(), start, count))
        return sorted(rows, key=lambda row: row.name)

    def replace(self, rows: list[CounterRow]) -> None:
        if len(rows) > _MOST:  # before anything changed
            raise CountersUnavailable(SHARED_MEMORY, condition=FULL)
        with self._database.write_lock():
            self._zero()
            for row in rows:
                digest = _name_digest(row.name)
                end = row.window_start + _RESTORED_MS
                self._put(self._find(digest), digest, row.window_start, row.count, end)
            _HEADER.pack_into(self._map, 0, 0, len(rows), 0)

    def missing(self) -> list[str]:
        return []

    def for_session(self, key: str, store: StateWithCounters) -> "SharedCounters":
        return store.counters  # type: ignore[return-value]  # the session's own file
