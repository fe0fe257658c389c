"""Where apps, rate-limit schemes, API keys (keys.py) and rate-limit
counters live: an embedded SQLite database (its counters in memory its
workers share, shared_counters.py), or a PostgreSQL database shared by
replicas (postgres.py, its counters in counters.py; database.py is the seam).

SQLite (the standard library's sqlite3) keeps one file that several worker
processes can share (database.py): every write is one transaction, so a
write happens whole or not at all, and a partial unique index makes two
concurrent creates of one slug end in exactly one success. Handlers only see
the :class:`Store` methods; a read-modify-write goes through a callback run
inside the transaction, so a rule broken half-way leaves nothing behind.

Without a state file the database lives in a temporary directory that is
removed when the store is closed: each start begins from the fixtures.
``mockserver serve`` without ``--state`` shares one temporary file between
its workers and removes it when it stops; it opens the store with
``durable=False``, as a temporary store is, so that no write waits for an
fsync (database.py).
"""

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mockserver.contract.jsontext import to_json
from mockserver.state import clock_offset, keys
from mockserver.state.clock_offset import ClockOffset
from mockserver.state.counters import Counters, CounterStore, namespace_of
from mockserver.state.database import (
    POSTGRESQL,
    Connection,
    DatabaseUnavailable,
    is_postgres,
    open_database,
    redacted,
    violates,
)
from mockserver.state.keys import KeyStore
from mockserver.state.schema import StoreError, make_schema
from mockserver.state.shared_counters import SharedCounters

App = dict[str, Any]
Scheme = dict[str, Any]

MACHINE_IDS = 1 << 16
# Columns of ``apps`` other than ``body``, kept so that queries need not parse JSON.
_APP_COLUMNS = ("id", "app_slug", "is_active", "rate_limit_scheme_slug", "deleted_at")
_SCHEME_COLUMNS = ("slug", "id", "name", "description", "created_at", "updated_at")
# Timestamps keep 0, 3 or 6 sub-second digits (clock.py), so their text does
# not sort by time: this pads a column's value to 6 digits for ORDER BY.
_SORTABLE = (
    "CASE WHEN {0} NOT LIKE '%.%' THEN substr({0}, 1, 19) || '.000000Z'"
    " ELSE substr({0}, 1, length({0}) - 1) || substr('000000', 1, 27 - length({0})) || 'Z' END"
)


class SlugTaken(Exception):
    """A live app or a scheme with this slug already exists."""


class SchemeInUse(Exception):
    """A live app still names this scheme."""


@dataclass(frozen=True)
class Page:
    apps: list[App]
    has_more: bool


@dataclass(frozen=True)
class _CachedSchemes:
    signal: int  # the shared change counter, read before the schemes were read
    version: int  # schemes_version in the database
    schemes: list[Scheme]


def _dump(value: Any) -> str:
    return to_json(value).decode("utf-8")


class Store:
    """The deployment's state in one SQLite file (safe across threads and
    processes) or one PostgreSQL database (across replicas too)."""

    def __init__(
        self, path: Path | str | None = None, *, durable: bool = True, made_here: bool = False
    ) -> None:
        """Open the state in ``path`` (a temporary file when None, a PostgreSQL
        database for a ``postgresql://`` URL); ``durable=False``
        when the file is removed as the server stops, so it needs no fsync.
        ``made_here``: mockserver made the file (a session's), so it is not
        probed for another program's tables (1.4 ms of a session's 2 ms start)."""
        self._db = open_database(path, durable=durable)
        self.path: Path | str = self._db.path
        self.is_shared = is_postgres(path)
        self.keys = KeyStore(self._db)
        # Moved by POST /__admin/clock; load() puts it back to 0.
        self.clock_offset = ClockOffset(self._db)
        # Shared with what writes under the same lock (the audit).
        self.database = self._db
        try:
            if self.is_shared:
                # Probe, tables and version in one transaction under the
                # writers' lock: a replica starting beside another that is
                # half way through making the tables must not see them as foreign.
                with self._db.transaction():
                    self._db.make_session_schema()  # type: ignore[attr-defined]
                    make_schema(self._db, self.path, made_here)
            else:
                make_schema(self._db, self.path, made_here)
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self.path}: cannot be used as a state file: {error}") from None
        except DatabaseUnavailable as error:
            # Still DatabaseUnavailable: at start-up it stops the server
            # (exit 2, serving/boot.py); a session opened later is a 503.
            raise DatabaseUnavailable(
                f"{redacted(self.path)}: cannot be reached: {error}"
            ) from None
        # PostgreSQL's counters are its rows, which replicas share; a SQLite
        # state's are in memory its workers share (shared_counters.py says
        # why), in a file made beside it once it is known to be a state.
        self.counters: CounterStore = (
            Counters(self._db)
            if self.is_shared
            else SharedCounters(Path(f"{self._db.path}.counters"), self._db, namespace_of(self._db))
        )

    def close(self) -> None:
        self._db.close()

    def missing(self) -> list[str]:
        """What of the state cannot be reached now (PostgreSQL): [] when
        all is there. A local SQLite file is always there."""
        if not self.is_shared:
            return []
        try:
            self._db.connection().execute("SELECT 1").fetchone()
        except DatabaseUnavailable:
            return [POSTGRESQL]
        return []

    # --- bookkeeping -----------------------------------------------------------

    def _meta(self, key: str) -> int | None:
        row = (
            self._db.connection().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        )
        return None if row is None else int(row[0])

    def _set_meta(self, key: str, value: int) -> None:
        self._db.connection().execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def claim_machine_id(self, preferred: int) -> int:
        """A snowflake machine id that no other process of this state holds.

        The first process gets ``preferred`` (the seeded one, so one process
        stays repeatable); each further one the next id not yet claimed, so
        two workers, whatever their seeds, never make the same id. Claims are
        kept across restarts (a restarted server also never repeats an id of
        its past, even if the clock went back); once all 65536 are used, the
        oldest claim is reused.
        """
        with self._db.transaction() as db:
            claimed = {row[0] for row in db.execute("SELECT machine_id FROM machines")}
            machine_id = preferred
            for offset in range(MACHINE_IDS):
                candidate = (preferred + offset) % MACHINE_IDS
                if candidate not in claimed:
                    machine_id = candidate
                    break
            else:
                (machine_id,) = db.execute(
                    "SELECT machine_id FROM machines ORDER BY claimed_seq LIMIT 1"
                ).fetchone()
                db.execute("DELETE FROM machines WHERE machine_id = ?", (machine_id,))
            db.execute("INSERT INTO machines (machine_id) VALUES (?)", (machine_id,))
        return machine_id

    def load(
        self,
        schemes: Iterable[Scheme],
        apps: Iterable[App],
        app_keys: Iterable[tuple[dict[str, Any], str, str, int]] = (),
        *,
        only_if_new: bool,
    ) -> bool:
        """Forget every app, scheme, key and counter, and load these instead, in
        one transaction; the clock goes back to where the server started.
        ``app_keys`` are (key, app id, secret hash, created µs).

        With ``only_if_new``, a state that was loaded before is kept (several
        processes may start on one new file at once: one of them loads it).
        Process slots are kept, so ids made after a reset stay unique.
        Returns whether anything was loaded.
        """
        with self._db.transaction(counted=True) as db:
            if only_if_new and self._meta("seeded"):
                return False
            db.execute("DELETE FROM apps")
            db.execute("DELETE FROM api_keys")
            db.execute("DELETE FROM counters")
            self._set_meta(clock_offset.KEY, 0)
            db.execute("DELETE FROM scheme_rules")
            db.execute("DELETE FROM schemes")
            for scheme in schemes:
                self._insert_scheme(db, scheme)
            for app in apps:
                self._insert_app(db, app)
            keys.load_keys(db, app_keys)
            self._set_meta("seeded", 1)
            self._schemes_changed()
        return True

    # --- apps --------------------------------------------------------------------

    @staticmethod
    def _insert_app(db: Connection, app: App) -> None:
        try:
            db.execute(
                f"INSERT INTO apps ({', '.join(_APP_COLUMNS)}, body) VALUES (?, ?, ?, ?, ?, ?)",
                (*(app[column] for column in _APP_COLUMNS), _dump(app)),
            )
        except sqlite3.IntegrityError as error:
            if violates(error, "apps", "id"):  # machine ids are claimed so this cannot happen
                raise
            raise SlugTaken(app["app_slug"]) from None

    def insert_app(self, app: App) -> None:
        """Store a new app, or raise SlugTaken and store nothing.

        One INSERT is atomic by itself: no explicit transaction (the hot path
        of the benchmark saves two round trips into SQLite).
        """
        with self._db.write_lock() as db:
            self._insert_app(db, app)

    def get_app(self, app_slug: str) -> App | None:
        """The live (not deleted) app with this slug."""
        row = (
            self._db.connection()
            .execute("SELECT body FROM apps WHERE app_slug = ? AND deleted_at IS NULL", (app_slug,))
            .fetchone()
        )
        return None if row is None else json.loads(row[0])

    def list_apps(
        self, *, limit: int, offset: int, search: str | None = None, include_inactive: bool = False
    ) -> Page:
        """Live apps, newest first: one page of them, and whether more follow.

        One row more than the page is read to tell: counting every match
        instead took 12 ms with 30,000 apps (bench/README.md).
        """
        where = "deleted_at IS NULL"
        params: list[Any] = []
        if search is not None:
            where += " AND app_slug = ?"
            params.append(search)
        if not include_inactive:
            where += " AND is_active = 1"
        rows = (
            self._db.connection()
            .execute(
                f"SELECT body FROM apps WHERE {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
                [*params, limit + 1, offset],
            )
            .fetchall()
        )
        return Page([json.loads(row[0]) for row in rows[:limit]], has_more=len(rows) > limit)

    def update_app(self, app_slug: str, change: Callable[[App], App]) -> App | None:
        """Replace a live app by ``change(app)``, in one transaction.

        Returns None when there is no such app; an exception raised by
        ``change`` leaves the app as it was. A new rate_limit_scheme_slug is
        written on all the app's keys too, as the backend does. Counted: the
        gateway keeps the apps of the keys it found (KeyStore.find) until a
        counted transaction says that something changed.
        """
        with self._db.transaction(counted=True) as db:
            row = db.execute(
                "SELECT seq, body FROM apps WHERE app_slug = ? AND deleted_at IS NULL", (app_slug,)
            ).fetchone()
            if row is None:
                return None
            current = json.loads(row[1])
            updated = change(current)
            if updated["rate_limit_scheme_slug"] != current["rate_limit_scheme_slug"]:
                keys.rename_scheme(
                    db, updated["id"], updated["rate_limit_scheme_slug"], updated["updated_at"]
                )
            db.execute(
                "UPDATE apps SET is_active = ?, rate_limit_scheme_slug = ?, deleted_at = ?,"
                " body = ? WHERE seq = ?",
                (
                    updated["is_active"],
                    updated["rate_limit_scheme_slug"],
                    updated["deleted_at"],
                    _dump(updated),
                    row[0],
                ),
            )
        return updated

    # --- rate-limit schemes ------------------------------------------------------

    @staticmethod
    def _insert_scheme(db: Connection, scheme: Scheme) -> None:
        try:
            db.execute(
                f"INSERT INTO schemes ({', '.join(_SCHEME_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
                tuple(scheme[column] for column in _SCHEME_COLUMNS),
            )
        except sqlite3.IntegrityError:
            raise SlugTaken(scheme["slug"]) from None
        Store._write_rules(db, scheme["slug"], scheme["rules"])

    @staticmethod
    def _write_rules(db: Connection, slug: str, rules: list[dict[str, Any]]) -> None:
        db.execute("DELETE FROM scheme_rules WHERE scheme_slug = ?", (slug,))
        db.executemany(
            "INSERT INTO scheme_rules (scheme_slug, position, rule) VALUES (?, ?, ?)",
            [(slug, position, _dump(rule)) for position, rule in enumerate(rules)],
        )

    def insert_scheme(self, scheme: Scheme) -> None:
        """Store a new scheme with its rules, or raise SlugTaken and store nothing."""
        with self._db.transaction(counted=True) as db:
            self._insert_scheme(db, scheme)
            self._schemes_changed()

    @staticmethod
    def _read_schemes(db: Connection, slug: str | None = None) -> list[Scheme]:
        where, params = ("WHERE slug = ?", (slug,)) if slug is not None else ("", ())
        rows = db.execute(
            f"SELECT {', '.join(_SCHEME_COLUMNS)} FROM schemes {where}"
            f" ORDER BY {_SORTABLE.format('updated_at')} DESC, seq DESC",
            params,
        ).fetchall()
        rules: dict[str, list[dict[str, Any]]] = {row[0]: [] for row in rows}
        rule_where = "WHERE scheme_slug = ?" if slug is not None else ""
        for scheme_slug, rule in db.execute(
            f"SELECT scheme_slug, rule FROM scheme_rules {rule_where}"
            " ORDER BY scheme_slug, position",
            params,
        ):
            rules[scheme_slug].append(json.loads(rule))
        return [
            {**dict(zip(_SCHEME_COLUMNS, row, strict=True)), "rules": rules[row[0]]} for row in rows
        ]

    def list_schemes(self) -> list[Scheme]:
        """Every scheme, most recently updated first."""
        return [dict(scheme) for scheme in self._cached_schemes()]

    def get_scheme(self, slug: str) -> Scheme | None:
        for scheme in self._cached_schemes():
            if scheme["slug"] == slug:
                return dict(scheme)
        return None

    def _cached_schemes(self) -> list[Scheme]:
        """Schemes are read on every app response but rarely written: each
        thread keeps them while nothing says that they changed.

        Every scheme write in any process is a counted transaction, so while
        the shared change counter (database.py) stays at the even value it had
        when the copy was taken, the copy is current: one memory read instead
        of a query (Store.get_scheme 8.5 -> 0.9 us; 13 -> 0.9 us while another
        process creates apps). When it moved or is odd, the ``schemes_version``
        in the database, bumped by the same transactions, decides as before.
        A process of an earlier mockserver sharing the file at the same time
        moves no counter: its scheme writes would go unseen here until one of ours.
        """
        # Read first: a write committing after this moves the counter past it.
        # (A forked child may keep its parent's copy: the counter is shared too.)
        signal = self._db.changes.read()
        cached: _CachedSchemes | None = getattr(self._db.local, "schemes", None)
        if cached is not None and cached.signal == signal and signal % 2 == 0:
            return cached.schemes
        version = clock_offset.meta(self._db).get("schemes_version", 0)
        if cached is None or cached.version != version:
            with self._db.snapshot() as db:
                version = self._meta("schemes_version") or 0
                cached = _CachedSchemes(signal, version, self._read_schemes(db))
        else:
            cached = _CachedSchemes(signal, version, cached.schemes)
        self._db.local.schemes = cached
        return cached.schemes

    def cache_version(self) -> int:
        return self._meta("schemes_version") or 0

    def contents_replaced(self, version_before: int) -> None:
        """The file was overwritten whole (a snapshot restored, snapshots.py):
        move what the caches go by past both its old and its new value."""
        self._set_meta("schemes_version", max(version_before, self.cache_version()) + 1)

    def _schemes_changed(self) -> None:
        """Bump schemes_version, in a counted transaction: what readers go by
        when the change counter cannot tell (odd, or moved by another write)."""
        self._db.connection().execute(
            "INSERT INTO meta (key, value) VALUES ('schemes_version', 1) "
            "ON CONFLICT (key) DO UPDATE SET value = meta.value + 1"
        )

    def update_scheme(self, slug: str, change: Callable[[Scheme], Scheme]) -> Scheme | None:
        """Replace a scheme by ``change(scheme)`` in one transaction; None if absent."""
        with self._db.transaction(counted=True) as db:
            found = self._read_schemes(db, slug)
            if not found:
                return None
            updated = change(found[0])
            db.execute(
                "UPDATE schemes SET name = ?, description = ?, updated_at = ? WHERE slug = ?",
                (updated["name"], updated["description"], updated["updated_at"], slug),
            )
            self._write_rules(db, slug, updated["rules"])
            self._schemes_changed()
        return updated

    def delete_scheme(self, slug: str) -> bool:
        """Delete a scheme; False if there is none, SchemeInUse if a live app names it."""
        with self._db.transaction(counted=True) as db:
            if db.execute(
                "SELECT 1 FROM apps"
                " WHERE rate_limit_scheme_slug = ? AND deleted_at IS NULL LIMIT 1",
                (slug,),
            ).fetchone():
                raise SchemeInUse(slug)
            deleted = db.execute("DELETE FROM schemes WHERE slug = ?", (slug,)).rowcount
            self._schemes_changed()
        return deleted > 0
