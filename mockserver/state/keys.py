"""Where API keys live: a table of the shared SQLite file beside the apps.

A key belongs to an app by the app's id, not its slug: a deleted app's slug
may be taken again, and the new app must not inherit the old one's keys.
Only the secret's SHA-256 is kept (a column, never in the key's body), and
it is unique, so the gateway finds a key by the hash of what it is shown.
"""

import json
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from mockserver.contract.jsontext import to_json
from mockserver.state.database import Connection, Database

Key = dict[str, Any]

TABLES = """
CREATE TABLE IF NOT EXISTS api_keys (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    app_id TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    is_active INTEGER NOT NULL,
    created_us INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS api_keys_by_app ON api_keys (app_id, created_us);
"""


class SecretTaken(Exception):
    """Another key already has this secret (only fixtures or a broken RNG can do it)."""


def _dump(value: Any) -> str:
    return to_json(value).decode("utf-8")


def insert_key(db: Connection, key: Key, *, app_id: str, secret_hash: str, created_us: int) -> None:
    try:
        db.execute(
            "INSERT INTO api_keys (id, app_id, secret_hash, is_active, created_us, body)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (key["id"], app_id, secret_hash, key["is_active"], created_us, _dump(key)),
        )
    except sqlite3.IntegrityError as error:
        if "secret_hash" in str(error):
            raise SecretTaken(key["id"]) from None
        raise


def _write(db: Connection, key: Key) -> None:
    db.execute(
        "UPDATE api_keys SET is_active = ?, body = ? WHERE id = ?",
        (key["is_active"], _dump(key), key["id"]),
    )


def rename_scheme(db: Connection, app_id: str, slug: str | None, updated_at: str) -> None:
    """An app's new rate_limit_scheme_slug, written on all its keys (in the
    app update's transaction)."""
    rows = db.execute("SELECT body FROM api_keys WHERE app_id = ?", (app_id,)).fetchall()
    for (body,) in rows:
        key = json.loads(body)
        _write(db, {**key, "rate_limit_scheme_slug": slug, "updated_at": updated_at})


class KeyStore:
    """The keys' table, reached through the store's shared database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def insert(self, key: Key, *, app_id: str, secret_hash: str, created_us: int) -> None:
        with self._db.write_lock() as db:
            insert_key(db, key, app_id=app_id, secret_hash=secret_hash, created_us=created_us)

    def list(self, app_id: str, *, include_inactive: bool) -> list[Key]:
        """The app's keys, newest created first."""
        where = "" if include_inactive else " AND is_active = 1"
        rows = (
            self._db.connection()
            .execute(
                f"SELECT body FROM api_keys WHERE app_id = ?{where}"
                " ORDER BY created_us DESC, seq DESC",
                (app_id,),
            )
            .fetchall()
        )
        return [json.loads(row[0]) for row in rows]

    def change(self, app_id: str, key_id: str, change: Callable[[Key], Key]) -> Key | None:
        """Replace the app's key by ``change(key)`` in one transaction; None if
        the app has no such key. An exception from ``change`` changes nothing.
        Counted: the gateway's cache of found keys must see it (:meth:`find`)."""
        with self._db.transaction(counted=True) as db:
            row = db.execute(
                "SELECT body FROM api_keys WHERE id = ? AND app_id = ?", (key_id, app_id)
            ).fetchone()
            if row is None:
                return None
            updated = change(json.loads(row[0]))
            _write(db, updated)
        return updated

    def replace(
        self,
        app_id: str,
        key_id: str,
        successor: Callable[[Key], tuple[Key, Key, str, int]],
    ) -> Key | None:
        """Rotation, in one transaction: ``successor(old)`` gives the old key as
        it becomes, the new key, the new secret's hash and its creation time in
        microseconds. None if the app has no such key. Counted, as :meth:`change`."""
        with self._db.transaction(counted=True) as db:
            row = db.execute(
                "SELECT body FROM api_keys WHERE id = ? AND app_id = ?", (key_id, app_id)
            ).fetchone()
            if row is None:
                return None
            retired, new_key, secret_hash, created_us = successor(json.loads(row[0]))
            _write(db, retired)
            insert_key(db, new_key, app_id=app_id, secret_hash=secret_hash, created_us=created_us)
        return new_key

    def find(self, secret_hash: str) -> "Found | None":
        """The key with this secret's hash and its app (deleted or not).

        Every gateway check asks, and keys and apps rarely change, so each
        thread keeps what it found while the shared change counter
        (database.py) stays at the even value it had before the read: every
        write of a key or an app that a check reads (a revocation, a rotation,
        an app update or delete, a reset or restore) is a counted
        transaction, in any worker. A new key needs none: its hash was never
        found, and what is not found is not kept (unknown keys are what a
        client can send without end). Callers must not change what they get.
        In process, a found key took 21 us (the join and two JSON bodies);
        kept, under 1.
        """
        signal = self._db.changes.read()  # first: a write committing later moves it past
        local = self._db.local
        cache: _FoundKeys | None = getattr(local, "found_keys", None)
        if cache is None or cache.signal != signal:
            cache = local.found_keys = _FoundKeys(signal)
        found = cache.found.get(secret_hash)
        if found is not None:
            return found
        row = (
            self._db.connection()
            .execute(
                "SELECT k.body, a.body FROM api_keys k JOIN apps a ON a.id = k.app_id"
                " WHERE k.secret_hash = ?",
                (secret_hash,),
            )
            .fetchone()
        )
        if row is None:
            return None
        found = Found(json.loads(row[0]), json.loads(row[1]))
        # Odd: a counted write is under way (or its process died): what was
        # read may predate it, so it is not kept.
        if signal % 2 == 0:
            if len(cache.found) >= _FOUND_KEYS_MAX:
                cache.found.clear()
            cache.found[secret_hash] = found
        return found


class Found:
    """A key and its app as :meth:`KeyStore.find` read them, and ``memo``: what
    the caller works out from the two, kept with them (and so forgotten with
    them when they change)."""

    __slots__ = ("app", "key", "memo")

    def __init__(self, key: Key, app: dict[str, Any]) -> None:
        self.key = key
        self.app = app
        self.memo: Any = None


# Keys found, kept per thread; a bound, not an expected size.
_FOUND_KEYS_MAX = 4096


class _FoundKeys:
    """What one thread found while the change counter read ``signal``."""

    __slots__ = ("found", "signal")

    def __init__(self, signal: int) -> None:
        self.signal = signal
        self.found: dict[str, Found] = {}


def load_keys(db: Connection, keys: Iterable[tuple[Key, str, str, int]]) -> None:
    """Fixture keys as (key, app id, secret hash, created µs), in the load's transaction."""
    for key, app_id, secret_hash, created_us in keys:
        insert_key(db, key, app_id=app_id, secret_hash=secret_hash, created_us=created_us)
