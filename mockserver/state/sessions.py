"""Sessions: a world of its own for each name a client sends (``X-Mockserver-Session``).

Each named session is a Store over a SQLite file of its own, so that every
table of the state, whoever adds it, is per session without knowing of
sessions; requests of different sessions share no lock. The default session
(no header) is the server's own state, as without sessions.

Which sessions exist lives in a small registry, one more SQLite file shared
by every worker: a session's name, its incarnation (a number never reused,
which names its file, so that a session dropped and made again never meets
its predecessor's file) and when it was last used. Each worker keeps its open
sessions in a small LRU cache, so a request of a known session reads one
number in shared memory (the registry's change counter, database.py) and
touches the registry at most every ``touch_every`` seconds to say that the
session is in use. Creating, dropping and sweeping are counted transactions:
the counter moves and every worker checks its cache against the registry
before its next request, so a dropped session is never served again.

Sessions idle for longer than the TTL are dropped (when the next session is
made, or the sessions are listed, and never served meanwhile); at most
``max_sessions`` live at once, one more is :class:`TooManySessions`. Dropping
removes the session's file and its snapshots (snapshots.py).

A new session is a copy of a template: a file seeded once per worker (and
per reload), copied whole. Opening and seeding a new SQLite file took
7.5 ms; copying the template and opening the copy takes about 1.5 ms.
"""

import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Generic, TypeVar

from mockserver.state.database import (
    Connection,
    Database,
    SharedSqlite,
    in_schema,
    schema_of,
)

SESSION_HEADER = "X-Mockserver-Session"
# Snapshots of the default session; a session's name cannot be it (no "@").
_DEFAULT_SNAPSHOTS = "@default"
_CACHE_SIZE = 32
# On PostgreSQL each open session holds a connection per thread, and a
# server's connections are few (100 by default, for every replica and worker
# together): a worker keeps fewer sessions open there.
_SHARED_CACHE_SIZE = 8
_US = 1_000_000

_TABLES = """
CREATE TABLE IF NOT EXISTS sessions (
    name TEXT PRIMARY KEY,
    incarnation INTEGER NOT NULL UNIQUE,
    created_us INTEGER NOT NULL,
    used_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS incarnations (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    last INTEGER NOT NULL
);
INSERT OR IGNORE INTO incarnations (one, last) VALUES (1, 0);
"""

T = TypeVar("T")


class TooManySessions(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"at most {limit} sessions")


@dataclass(frozen=True)
class SessionInfo:
    name: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime


@dataclass
class _Open(Generic[T]):
    incarnation: int
    value: T
    touched: float


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


def _instant(us: int) -> datetime:
    return datetime.fromtimestamp(us / _US, UTC)


class Sessions(Generic[T]):
    """The named sessions of one state, as one worker process sees them.

    ``open_session(name, path)`` opens a session's file (new or not) as a T;
    ``seed(value)`` fills a new one (from the fixtures). Both run while the
    registry is locked, so that no other worker sees a session half made.
    """

    def __init__(
        self,
        root: Path,
        *,
        ttl_seconds: float,
        max_sessions: int,
        open_session: Callable[[str, Path], T],
        seed: Callable[[T], None],
        durable: bool = True,
        clock: Callable[[], float] = time.time,
        forget: Callable[[str], None] = lambda name: None,
        template_max_age_seconds: float | None = None,
        database: Database | None = None,
    ) -> None:
        """``template_max_age_seconds``: a new session is a copy of a seeded
        template, and what the seeding wrote as of its time (the demo audit
        history) is that old in the copy; past this age (wall time, as the
        TTL) the template is seeded again. None: never (a frozen clock)."""
        self.root = root
        # A PostgreSQL state (replicas): the registry is tables of that
        # database, and each session a schema of it, seeded when made (no
        # file to copy); every replica sees the same sessions.
        self._shared = database
        self._template_max_age = template_max_age_seconds
        self._template_made = 0.0
        # Told the name of each session dropped or expired (its journal entries go).
        self._forget = forget
        self._durable = durable
        self.ttl_seconds = ttl_seconds
        self.max_sessions = max_sessions
        self._open_session = open_session
        self._seed = seed
        self._clock = clock
        # Long enough to keep the registry's lock off nearly every request,
        # short enough that a session in use is never taken for idle.
        self._touch_every = min(1.0, ttl_seconds / 4)
        self._cache: OrderedDict[str, _Open[T]] = OrderedDict()
        self._lock = threading.Lock()
        self._signal = -1
        self._template: Path | None = None

    @cached_property
    def _db(self) -> SharedSqlite:
        """The registry, made on first use: a server whose clients name no
        session writes nothing beside its state."""
        if self._shared is not None:
            self._shared.connection().executescript(_TABLES)
            return self._shared
        (self.root / "sessions").mkdir(parents=True, exist_ok=True)
        database = SharedSqlite(self.root / "registry.sqlite3", durable=self._durable)
        database.connection().executescript(_TABLES)
        return database

    def _exists(self) -> bool:
        return (
            self._shared is not None
            or "_db" in self.__dict__
            or (self.root / "registry.sqlite3").exists()
        )

    # --- where things are ------------------------------------------------------

    def _path(self, name: str, incarnation: int) -> Path | str:
        """Where the session's store is: its file, or its PostgreSQL schema."""
        if self._shared is not None:
            return in_schema(self._shared.url, f"session_{incarnation}")  # type: ignore[attr-defined]
        # The incarnation first: a name may hold dots, and "." or "..".
        return self.root / "sessions" / f"{incarnation}-{name}.sqlite3"

    def snapshot_directory(self, name: str | None) -> Path:
        """Where the snapshots of session ``name`` (None: the default) are kept."""
        folder = _DEFAULT_SNAPSHOTS if name is None else f"session-{name}"
        return self.root / "snapshots" / folder

    # --- serving -----------------------------------------------------------------

    def get(self, name: str) -> T:
        """Session ``name``, made from the fixtures if it does not exist
        (TooManySessions when it cannot be)."""
        signal = self._db.changes.read()  # before the registry is read: see database.py
        now = self._clock()
        with self._lock:
            if signal != self._signal or signal % 2:
                self._forget_dropped()
                self._signal = signal
            entry = self._cache.get(name)
            if entry is not None and now - entry.touched < self._touch_every:
                self._cache.move_to_end(name)
                return entry.value
            incarnation = self._touch(name, now)
            if incarnation is None:
                incarnation, value = self._create(name, now)
                entry = _Open(incarnation, value, now)
            elif entry is None or entry.incarnation != incarnation:
                opened = self._opened(name, incarnation)
                if opened is None:  # dropped meanwhile by another replica
                    incarnation, opened = self._create(name, now)
                entry = _Open(incarnation, opened, now)
            entry.touched = now
            self._cache[name] = entry
            self._cache.move_to_end(name)
            while len(self._cache) > (_CACHE_SIZE if self._shared is None else _SHARED_CACHE_SIZE):
                # Its connections close as the last request using it lets go.
                self._cache.popitem(last=False)
            return entry.value

    def _opened(self, name: str, incarnation: int) -> T | None:
        """An existing session opened, or None when another worker or
        replica dropped it between the registry's look and the opening.
        Opening a file or a schema makes it where it is missing (as for a
        new session), so such a session would come back empty, unseeded and
        in no registry, never removed: the registry is asked again once it
        is open (a drop deletes the row before the file or schema)."""
        path = self._path(name, incarnation)
        value = self._open_session(name, path)
        row = (
            self._db.connection()
            .execute(
                "SELECT 1 FROM sessions WHERE name = ? AND incarnation = ?", (name, incarnation)
            )
            .fetchone()
        )
        if row is None:
            self._remove_files(path)
            return None
        return value

    def reopened(self, name: str, gone: T) -> T:
        """Session ``name`` again, after a request found the tables of
        ``gone`` (its open session) dropped by another replica or worker:
        forgotten here, then looked up as :meth:`get` does, which makes it
        afresh (the drop deleted its registry row before its tables)."""
        with self._lock:
            entry = self._cache.get(name)
            if entry is not None and entry.value is gone:
                del self._cache[name]
        return self.get(name)

    def _forget_dropped(self) -> None:
        live = dict(self._db.connection().execute("SELECT name, incarnation FROM sessions"))
        gone = [name for name, entry in self._cache.items() if live.get(name) != entry.incarnation]
        for name in gone:
            del self._cache[name]

    def _touch(self, name: str, now: float) -> int | None:
        """Mark the session used; its incarnation, or None if it is gone or expired."""
        with self._db.write_lock() as db:
            row = db.execute(
                "UPDATE sessions SET used_us = ? WHERE name = ? AND used_us >= ?"
                " RETURNING incarnation",
                (int(now * _US), name, self._idle_since(now)),
            ).fetchone()
        return None if row is None else int(row[0])

    def _idle_since(self, now: float) -> int:
        """Sessions last used before this (microseconds) have expired."""
        return int((now - self.ttl_seconds) * _US)

    def _create(self, name: str, now: float) -> tuple[int, T]:
        now_us = int(now * _US)
        expired: list[tuple[str, int]] = []
        path: Path | str | None = None
        try:
            with self._db.transaction(counted=True) as db:
                row = db.execute(
                    "SELECT incarnation, used_us FROM sessions WHERE name = ?", (name,)
                ).fetchone()
                if row is not None and row[1] >= self._idle_since(now):
                    # Another worker made it meanwhile.
                    db.execute("UPDATE sessions SET used_us = ? WHERE name = ?", (now_us, name))
                    return int(row[0]), self._open_session(name, self._path(name, int(row[0])))
                expired = self._sweep(db, now)
                (live,) = db.execute("SELECT count(*) FROM sessions").fetchone()
                if live >= self.max_sessions:
                    raise TooManySessions(self.max_sessions)
                (incarnation,) = db.execute(
                    "UPDATE incarnations SET last = last + 1 RETURNING last"
                ).fetchone()
                path = self._path(name, incarnation)
                if isinstance(path, Path):
                    shutil.copyfile(self._seeded_template(), path)
                    value = self._open_session(name, path)
                else:  # a schema: seeded in place
                    value = self._open_session(name, path)
                    self._seed(value)
                db.execute(
                    "INSERT INTO sessions (name, incarnation, created_us, used_us)"
                    " VALUES (?, ?, ?, ?)",
                    (name, incarnation, now_us, now_us),
                )
        except BaseException:
            if path is not None:
                self._remove_files(path)
            raise
        finally:
            for gone, gone_incarnation in expired:
                self._remove(gone, gone_incarnation)
        return int(incarnation), value

    def _seeded_template(self) -> Path:
        """This worker's seeded file that new sessions are copies of."""
        stale = (
            self._template_max_age is not None
            and self._clock() - self._template_made > self._template_max_age
        )
        if stale and self._template is not None:
            # Called with the registry locked (get): no copy of it is under way.
            self._remove_files(self._template)
            self._template = None
        if self._template is None or not self._template.exists():
            self._template_made = self._clock()
            path = self.root / "templates" / f"{os.getpid()}-{uuid.uuid4().hex}.sqlite3"
            path.parent.mkdir(exist_ok=True)
            self._remove_orphaned_templates(path.parent)
            self._seed(self._open_session("@template", path))
            # Everything into the main file, so that copying it alone is enough.
            with sqlite3.connect(path) as checkpoint:
                checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            checkpoint.close()
            self._template = path
        return self._template

    def _remove_orphaned_templates(self, folder: Path) -> None:
        """Templates of workers that died without closing (killed): a --state
        folder would collect one per such start."""
        for template in folder.glob("*.sqlite3"):
            pid = template.name.partition("-")[0]
            if pid.isdigit() and not _is_running(int(pid)):
                self._remove_files(template)

    def _sweep(self, db: Connection, now: float) -> list[tuple[str, int]]:
        """Delete the expired sessions' rows (in the caller's transaction)."""
        rows = db.execute(
            "DELETE FROM sessions WHERE used_us < ? RETURNING name, incarnation",
            (self._idle_since(now),),
        )
        return [(str(name), int(incarnation)) for name, incarnation in rows.fetchall()]

    # --- the admin API -------------------------------------------------------------

    def listing(self) -> list[SessionInfo]:
        """The live sessions, the most recently made first (expired ones are dropped)."""
        if not self._exists():
            return []
        now = self._clock()
        db = self._db.connection()
        if db.execute(
            "SELECT 1 FROM sessions WHERE used_us < ? LIMIT 1", (self._idle_since(now),)
        ).fetchone():
            with self._db.transaction(counted=True) as db:
                expired = self._sweep(db, now)
            for name, incarnation in expired:
                self._remove(name, incarnation)
        rows = db.execute(
            "SELECT name, created_us, used_us FROM sessions ORDER BY created_us DESC, name"
        ).fetchall()
        ttl_us = int(self.ttl_seconds * _US)
        return [
            SessionInfo(name, _instant(created), _instant(used), _instant(used + ttl_us))
            for name, created, used in rows
        ]

    def each_live(self) -> list[tuple[str, T]]:
        """Every live session, opened without counting as a use (--watch
        puts fixture edits into each)."""
        if not self._exists():
            return []
        rows = self._db.connection().execute(
            "SELECT name, incarnation FROM sessions WHERE used_us >= ? ORDER BY name",
            (self._idle_since(self._clock()),),
        )
        opened = []
        for name, incarnation in rows.fetchall():
            with self._lock:
                entry = self._cache.get(name)
            if entry is not None and entry.incarnation == incarnation:
                opened.append((name, entry.value))
            else:
                opened.append((name, self._open_session(name, self._path(name, incarnation))))
        return opened

    def drop(self, name: str) -> bool:
        """Drop session ``name`` with its snapshots; False if there is none."""
        if not self._exists():
            return False
        with self._db.transaction(counted=True) as db:
            row = db.execute(
                "DELETE FROM sessions WHERE name = ? RETURNING incarnation", (name,)
            ).fetchone()
        with self._lock:
            self._cache.pop(name, None)
        if row is None:
            return False
        self._remove(name, int(row[0]))
        return True

    def _remove(self, name: str, incarnation: int) -> None:
        self._remove_files(self._path(name, incarnation))
        shutil.rmtree(self.snapshot_directory(name), ignore_errors=True)
        self._forget(name)

    def _remove_files(self, path: Path | str) -> None:
        if not isinstance(path, Path):
            schema = schema_of(path)
            self._shared.drop_schema(schema)  # type: ignore[union-attr]
            return
        # Workers that still hold it open finish on the unlinked file.
        for file in path.parent.glob(f"{path.name}*"):
            file.unlink(missing_ok=True)

    def close(self) -> None:
        if self._template is not None:
            self._remove_files(self._template)
        if "_db" in self.__dict__:
            self._db.close()
