"""One SQLite file shared by every thread and worker process.

Both the state (store.py) and the request journal (journal.py) live in such
a file. sqlite3 connections must not cross threads and must never be
inherited through fork, so each thread of each process opens its own.
Writers queue on an flock of a file beside the database: the kernel wakes
the next writer the moment the lock is free, where SQLite's own busy handler
polls with sleeps of up to 100 ms, which showed as a 250 ms p99 under load
with two worker processes.

A durable file (a ``--state`` the user named, kept for demo environments)
runs with ``synchronous=NORMAL``: WAL commits are not synced, checkpoints
are, so an OS crash or power loss can lose the last commits but never
corrupts the file. A file that is deleted when the server stops (a temporary
state, the journal) runs with ``synchronous=OFF``: no fsync at all, which an
application crash survives too; only an OS crash could corrupt it, and no
later start reads it. Store.insert_app on ext4, 10,000 inserts a process,
medians of 9 runs: one process 120 us a write with NORMAL, 87 us with OFF;
two processes 7,300 writes/s with NORMAL, 9,400 with OFF.

Caches of rarely written data (the rate-limit schemes) learn of a change made
by any process from a :class:`ChangeCounter` in shared memory: one memory
read per look, where asking the database took a query (Store.get_scheme
8.5 us, 13 us while another process creates apps; 0.9 us with the counter).

Temporary files stay in the system's temporary directory: with OFF, putting
them in /dev/shm (tmpfs) measured no faster (two processes: 9,470 writes/s
on ext4, 9,510 on tmpfs; one process: 81 and 82 us; medians of 15 runs).
"""

import fcntl
import mmap
import os
import re
import select
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

# --- the engine seam -------------------------------------------------------------
# The state modules are written against these few methods, which an sqlite3
# connection has as they are and postgres.py's wraps psycopg to offer. SQL on
# the shared path is portable: ``?`` placeholders (translated for PostgreSQL),
# UPSERTs with table-qualified columns, RETURNING instead of lastrowid, no
# SQLite-only functions; CREATE TABLE scripts are written for SQLite and
# translated (postgres.py says how).

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# The row of ``meta`` that RequestSignal goes by.
VERSION_KEY = "changes_version"


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any: ...

    def executescript(self, script: str, /) -> Any: ...


class Database(Protocol):
    """What the state modules need of an engine (SharedSqlite, postgres.SharedPostgres)."""

    local: threading.local
    # Where it is: a SQLite file, or a PostgreSQL URL.
    path: Path | str
    # Whether a write is best made of single statements, each its own
    # transaction (write_lock): on PostgreSQL a transaction costs a round
    # trip a statement and holds its row locks across them. SQLite's
    # writers take turns on one lock anyway, and a transaction of a few
    # statements costs less than as many commits.
    statement_writes: bool

    def connection(self) -> Connection: ...

    def write_lock(self) -> AbstractContextManager[Connection]: ...

    def transaction(
        self, *, counted: bool = False, exclusive: bool = True
    ) -> AbstractContextManager[Connection]: ...

    def snapshot(self) -> AbstractContextManager[Connection]: ...

    def shared_gate(self) -> AbstractContextManager[None]: ...

    def exclusive_gate(self) -> AbstractContextManager[None]: ...

    @property
    def changes(self) -> "ChangeCounter | RequestSignal": ...

    def new_request(self) -> None:
        """A request begins on this thread (the pipeline says so)."""

    def close(self) -> None: ...


class IntegrityError(sqlite3.IntegrityError):
    """A constraint refused a write, whichever the engine (postgres.py raises
    it for psycopg's): a subclass of sqlite3's, so one ``except`` serves both."""


# What /__admin/health and a 503 name as missing.
POSTGRESQL = "PostgreSQL"
# What a 503 says of the database lost between a write and its answer.
LOST_DURING_A_WRITE = "was lost during the write"


class Unavailable(Exception):
    """A server the state needs (``what``: its PostgreSQL database, the
    counters' Redis) cannot be reached: the request is answered 503 with
    Retry-After (contract/errors.py's ``unavailable``), and the next one
    connects again. Nothing of the failed request was committed, so nothing
    acknowledged is lost; unless ``maybe_done``: the connection was lost
    after a write was sent and before its answer came (a statement of its
    own, or a COMMIT), so it may have been done, and the 503 says so."""

    def __init__(
        self,
        what: str,
        reason: str = "",
        *,
        condition: str = "cannot be reached",
        maybe_done: bool = False,
    ) -> None:
        """``condition`` is what the 503 says of ``what``: it cannot be
        reached, unless it answered that it cannot serve (Redis out of
        memory), or it was lost during a write (``maybe_done``)."""
        self.what = what
        self.condition = LOST_DURING_A_WRITE if maybe_done else condition
        self.maybe_done = maybe_done
        super().__init__(reason or f"{what} {condition}")


class DatabaseUnavailable(Unavailable):
    """The database server cannot be reached (refused, restarting, lost the
    connection); ``maybe_done`` when it was lost during a write (see Unavailable)."""

    def __init__(self, reason: str, *, maybe_done: bool = False) -> None:
        super().__init__(POSTGRESQL, reason, maybe_done=maybe_done)


class SessionGone(Unavailable):
    """A named session's tables vanished under a request: another replica
    or worker dropped the session (idle past its TTL, evicted, deleted)
    after this one found it open. Nothing of the request survives (its
    writes went with the tables), so it can be served again in the session
    made afresh, as a request naming the session after the drop is
    (http/pipeline.py does, once); should that fail too it is a 503."""

    def __init__(self, schema: str) -> None:
        super().__init__(POSTGRESQL, f"the tables of {schema} were dropped")


def spoken_to(sock: Any) -> bool:
    """Whether anything waits to be read on an idle connection's socket (a
    file descriptor or a socket): what a server that ends a connection sends
    (a restart, an idle timeout: its message, then the close). A write never
    goes on such a connection (postgres.py, redis_counters.py). One poll, well
    under a microsecond."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def violates(error: Exception, table: str, column: str) -> bool:
    """Whether ``error`` is the unique constraint of ``table.column``: SQLite
    names it "table.column", PostgreSQL's default constraint "table_column_key"."""
    text = str(error)
    return f"{table}.{column}" in text or f"{table}_{column}_key" in text


def redacted(location: object) -> str:
    """A state's location as it may be printed: a URL without its password."""
    return re.sub(r"^(\w+://[^:/@]*):[^@]*@", r"\1:***@", str(location))


def in_schema(url: str, schema: str) -> str:
    """A PostgreSQL URL whose connections work in ``schema`` (a session's own
    tables, sessions.py): libpq's ``options`` sets the search path."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


def schema_of(url: str) -> str:
    """The schema a URL made by :func:`in_schema` works in."""
    return url.rsplit("%3D", 1)[1]


def is_postgres(location: object) -> bool:
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


def open_database(location: "Path | str | None", *, durable: bool = True) -> Database:
    """SQLite at a path (a temporary file when None), or PostgreSQL at a
    ``postgresql://`` URL (psycopg is imported only then: the extra
    ``mockserver[replicas]``)."""
    if is_postgres(location):
        from mockserver.state.postgres import SharedPostgres

        return SharedPostgres(str(location))
    return SharedSqlite(None if location is None else Path(location), durable=durable)


class RequestSignal:
    """The change signal of a database shared beyond one machine, where no
    memory is shared: a version in the database's ``meta`` table
    (:data:`VERSION_KEY`), which every counted transaction sets to a new
    random number before it commits (postgres.py). It is read once per
    request, with the rest of ``meta`` in one query (the clock's offset, the
    schemes' version: :meth:`meta`), at the request's first look
    (Database.new_request forgets the last reading). So a cache (the found
    keys, the schemes, the clock's offset) is kept across requests while the
    version stays, and a change made through another replica is seen from the
    next request on. Inside a counted write of this thread the signal is odd
    (nothing is kept or believed), and after it the version is read again:
    this request's own change is seen at once.

    Random, not a count: a snapshot's restore or a session's schema made
    again puts back or starts ``meta`` afresh, and a count could come back
    to a value some cache saw before; the restore's transaction sets a new
    version after it all the same, as every counted one does. Values are
    even (odd would mean "ask again")."""

    def __init__(self, load: Callable[[], dict[str, int]]) -> None:
        """``load`` reads the ``meta`` table's rows."""
        self._local = threading.local()
        self._load = load

    def read(self) -> int:
        local = self._local
        if getattr(local, "counting", 0):
            return 1
        rows: dict[str, int] | None = getattr(local, "rows", None)
        if rows is None:
            rows = local.rows = self._load()
        return 2 * rows.get(VERSION_KEY, 0)

    def meta(self) -> dict[str, int]:
        """The ``meta`` rows read with the signal (read afresh inside a
        counted write, which may be changing them)."""
        if getattr(self._local, "counting", 0):
            return self._load()
        self.read()
        rows: dict[str, int] = self._local.rows
        return rows

    def moved(self) -> None:
        """Forget the last reading: the next look asks the database."""
        self._local.rows = None

    @contextmanager
    def counting(self) -> Iterator[None]:
        local = self._local
        local.counting = getattr(local, "counting", 0) + 1
        try:
            yield
        finally:
            local.counting -= 1
            local.rows = None


def mapped_file(path: Path, size: int) -> mmap.mmap:
    """The first ``size`` bytes of the file at ``path``, made if need be,
    mapped into this process and shared with every process that maps it
    (the change counter, shared_counters.py, waiting_rows.py). A process
    that finds the file shorter only ever extends it with zeros: what
    another one wrote is never cut off."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if os.fstat(descriptor).st_size < size:
            os.ftruncate(descriptor, size)
        return mmap.mmap(descriptor, size)
    finally:
        os.close(descriptor)


class ChangeCounter:
    """A number shared by every process of one database, which moves whenever
    a counted transaction (``SharedSqlite.transaction(counted=True)``) runs.

    It lives in the first 8 bytes of the writers' lock file (flock ignores a
    file's content), mapped into each process, so reading it is one memory
    read. A counted transaction makes it odd before it begins and even again
    once it has committed or rolled back, under the writers' lock; each value
    is new. So a reader that took a copy of the data after seeing an even
    value, and sees that same value again, knows that no counted transaction
    has committed since. Odd means one is under way, or its process died half
    way (the next counted transaction makes it even again): the reader must
    then ask the database itself. (The writer's store to the counter follows
    the system calls of its commit, and the reader's load precedes those of
    its query, so neither can be seen out of order.)
    """

    def __init__(self, path: Path) -> None:
        self._map = mapped_file(path, 8)
        # Never closed: threads may read it to the end; it goes with the process.
        self._number = memoryview(self._map).cast("Q")

    def read(self) -> int:
        return int(self._number[0])

    def begin(self) -> int:
        """Before a counted transaction, inside the writers' lock: the odd
        value to hand to :meth:`end` once it has committed or rolled back."""
        odd = (self._number[0] + 1) | 1  # past any odd value a dead writer left
        self._number[0] = odd
        return odd

    def end(self, odd: int) -> None:
        self._number[0] = odd + 1

    @contextmanager
    def counting(self) -> Iterator[None]:
        """Around a transaction, inside the writers' lock."""
        odd = self.begin()
        try:
            yield
        finally:
            self.end(odd)


# This process's id, kept current in a forked child: cheaper than os.getpid()
# on every request, and a child must open files of its own (flock holds are
# per open file description, which fork shares).
_this_process = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _this_process.__setitem__(0, os.getpid()))


class _Hold:
    """A flock held for a ``with`` block (a class: cheaper than a generator)."""

    __slots__ = ("_descriptor", "_mode")

    def __init__(self, descriptor: int, mode: int) -> None:
        self._descriptor = descriptor
        self._mode = mode

    def __enter__(self) -> None:
        fcntl.flock(self._descriptor, self._mode)

    def __exit__(self, *exc_info: object) -> None:
        fcntl.flock(self._descriptor, fcntl.LOCK_UN)


class _WriteTransaction:
    """SharedSqlite.transaction's block. A class rather than generator-based
    context managers (the writers' lock, the change counter and the
    transaction were three): every gateway check and write runs one, and
    cProfile put the three generators at about 10 us of a check, the class
    at under 3."""

    __slots__ = ("_changes", "_db", "_held_before", "_lock_file", "_odd", "_owner")

    def __init__(self, owner: "SharedSqlite", changes: "ChangeCounter | None") -> None:
        self._owner = owner
        self._changes = changes

    def __enter__(self) -> sqlite3.Connection:
        db = self._db = self._owner.connection()
        local = self._owner.local
        lock_file = self._lock_file = local.lock_file
        # Inside write_lock(), which holds the lock already (see there).
        self._held_before = getattr(local, "holding", False)
        if not self._held_before:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            local.holding = True
        try:
            if self._changes is not None:
                self._odd = self._changes.begin()
            db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise
        return db

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        try:
            self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self._release()

    def _release(self) -> None:
        if self._changes is not None:
            self._changes.end(self._odd)
        if not self._held_before:
            self._owner.local.holding = False
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)


class SharedSqlite:
    statement_writes = False  # see Database

    def __init__(self, path: Path | None, *, durable: bool = True) -> None:
        """Open ``path``, or a temporary file removed by :meth:`close` when None.

        ``durable=False`` says that the file is deleted when the server stops
        (see the module docstring); a temporary file never is durable.
        """
        self._temporary = (
            tempfile.TemporaryDirectory(prefix="mockserver-") if path is None else None
        )
        self.path = Path(self._temporary.name) / "db.sqlite3" if self._temporary else Path(path)
        self._synchronous = "NORMAL" if durable and self._temporary is None else "OFF"
        # Per thread: the connection, its lock file, and whatever the owner keeps there.
        self.local = threading.local()

    def connection(self) -> sqlite3.Connection:
        local = self.local
        if getattr(local, "connection", None) is None or local.pid != _this_process[0]:
            local.__dict__.clear()  # nothing of another process's is valid here
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            # Each thread opens its own: flock excludes other open files, not other threads.
            lock_file = open(f"{self.path}.lock", "a")  # noqa: SIM115
            # Turning a new file to WAL takes a lock SQLite does not wait for
            # (no busy handler): workers opening one new database at once
            # ("database is locked", a 500) take turns under the writers' lock.
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                connection.execute("PRAGMA journal_mode=WAL")
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
            connection.execute(f"PRAGMA synchronous={self._synchronous}")
            connection.execute("PRAGMA foreign_keys=ON")
            local.connection, local.pid, local.lock_file = connection, _this_process[0], lock_file
        return local.connection

    @contextmanager
    def write_lock(self) -> Iterator[sqlite3.Connection]:
        """Hold the writers' lock; a single statement in it is its own
        transaction. A thread that holds it already holds it on: flock holds
        do not nest, and an inner release would end the outer hold (a
        snapshot's restore puts the shared counters back inside it)."""
        db = self.connection()
        local = self.local
        if getattr(local, "holding", False):
            yield db
            return
        fcntl.flock(local.lock_file, fcntl.LOCK_EX)
        local.holding = True
        try:
            yield db
        finally:
            local.holding = False
            fcntl.flock(local.lock_file, fcntl.LOCK_UN)

    def _gate(self) -> int:
        """This thread's descriptor of the gate file (flock ends a hold by
        file description: one thread's unlock must not end another's)."""
        local = self.local
        if getattr(local, "gate_pid", None) != _this_process[0]:
            local.gate = os.open(f"{self.path}.gate", os.O_RDWR | os.O_CREAT, 0o644)
            local.gate_pid = _this_process[0]
        return int(local.gate)

    def new_request(self) -> None:
        """Nothing to do: the change counter is shared memory."""

    def shared_gate(self) -> "_Hold":
        """Held by every request served from this database: many at once.

        :meth:`exclusive_gate` waits for them all and holds new ones back, so
        that what it does in between (a snapshot's restore) is seen by a
        request whole or not at all, whatever the request reads. Only requests
        of this one database contend. It costs two flock calls and little
        more (7 us a request on a loaded 2-core machine, where bare flock
        calls took 4-5; a generator context manager over file objects took 17).
        """
        return _Hold(self._gate(), fcntl.LOCK_SH)

    def exclusive_gate(self) -> "_Hold":
        """No request of this database runs while this is held (see :meth:`shared_gate`)."""
        return _Hold(self._gate(), fcntl.LOCK_EX)

    @cached_property
    def changes(self) -> ChangeCounter:
        """The counter that counted transactions move (made on first use, so
        that merely opening a database writes nothing beside it)."""
        return ChangeCounter(Path(f"{self.path}.lock"))

    def transaction(
        self, *, counted: bool = False, exclusive: bool = True
    ) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction: committed whole when the block ends, rolled back
        on any exception. IMMEDIATE takes SQLite's write lock up front,
        uncontended since writers already queue on the flock. ``counted``
        moves :attr:`changes` around it. ``exclusive=False`` (writes that
        lock their own rows) changes nothing here: SQLite has one writer."""
        return _WriteTransaction(self, self.changes if counted else None)

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query in the block sees the same state."""
        db = self.connection()
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection, and remove a temporary file."""
        connection = getattr(self.local, "connection", None)
        if connection is not None:
            connection.close()
            self.local.lock_file.close()
            self.local.connection = None
        if getattr(self.local, "gate_pid", None) == _this_process[0]:
            os.close(self.local.gate)
            self.local.gate_pid = None
        if self._temporary is not None:
            self._temporary.cleanup()
