"""Snapshots: a session's whole state saved to a file, and put back.

A snapshot is a copy of the session's SQLite database made with SQLite's
backup API, so every table is in it, whoever added the table (apps,
schemes, keys, counters, audit, clock). It is written beside the state
(in the sessions' folder, sessions.py), so with ``--state`` it outlives a
restart; without, it goes with the temporary state.

Restoring copies the file back over the live database, again with the backup
API, in one write (readers see the state before or after it). Behind the
database's exclusive gate (database.py) no request of the session is half
way meanwhile, so a request that reads twice never sees both. Two things are
not the snapshot's to put back: the snowflake machine-id claims (kept as
they are, so that no id is ever made twice) and the caches' version
(moved on, so that every process re-reads what changed).

A PostgreSQL state (replicas) has no file to copy: its snapshots are rows of
a ``snapshots`` table of that database, so every replica lists and restores
the same ones. A snapshot holds each table of the state as JSON, read in one
repeatable-read transaction; restoring replaces those tables in one write
transaction under the writers' lock, so a request sees the state before or
after it, and moves the identity sequences past the restored rows.

Counters kept outside the database (a SQLite state's shared memory,
shared_counters.py, each named by a digest of its name; Redis,
redis_counters.py) are saved as the snapshot's ``counters`` table (the
copy's, or the JSON's), and put back from it when it is restored, before
the database is: when Redis cannot be reached, neither changes anything.
Audit rows still waiting to go to a SQLite state (waiting_rows.py) go
before it is copied; those waiting when a snapshot is restored are the
state's before it, and go with it.
"""

import dataclasses
import json
import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mockserver.state.audit import AuditLog
from mockserver.state.counters import CounterRow, CounterStore, read_rows, write_rows
from mockserver.state.store import Store

_SUFFIX = ".sqlite3"
# A PostgreSQL snapshot's tables, parents before children (rules name schemes).
_TABLES = ("meta", "apps", "schemes", "scheme_rules", "api_keys", "counters", "audit")
_IDENTITIES = ("apps", "schemes", "api_keys", "audit")
_SNAPSHOTS_TABLE = """
CREATE TABLE IF NOT EXISTS snapshots (
    name TEXT PRIMARY KEY,
    created_us INTEGER NOT NULL,
    content TEXT NOT NULL
);
"""


def _file(directory: Path, name: str) -> Path:
    """The snapshot's file, always directly in ``directory`` (the caller has
    checked the name; this is the second line of defence)."""
    path = directory / f"{name}{_SUFFIX}"
    if "/" in name or "\\" in name or path.parent != directory:
        raise ValueError(f"not a snapshot name: {name!r}")
    return path


def _shown(name: str, created_us: int) -> dict[str, Any]:
    saved = datetime.fromtimestamp(created_us / 1_000_000, UTC)
    return {
        "name": name,
        "created_at": saved.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z",
    }


def _shared_tables(store: Store) -> None:
    store.database.connection().executescript(_SNAPSHOTS_TABLE)


def _save_shared(store: Store, name: str, outside: list[CounterRow] | None) -> dict[str, Any]:
    _shared_tables(store)
    with store.database.snapshot() as db:
        content = {
            table: json.loads(
                db.execute(f"SELECT coalesce(json_agg(t), '[]')::text FROM {table} t").fetchone()[0]
            )
            for table in _TABLES
        }
    if outside is not None:
        content["counters"] = [dataclasses.asdict(row) for row in outside]
    created_us = time.time_ns() // 1000
    with store.database.transaction() as db:
        db.execute(
            "INSERT INTO snapshots (name, created_us, content) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET"
            " created_us = excluded.created_us, content = excluded.content",
            (name, created_us, json.dumps(content)),
        )
    return _shown(name, created_us)


def _restore_shared(store: Store, name: str, counters: CounterStore | None) -> bool:
    _shared_tables(store)
    with store.database.transaction(counted=True) as db:
        row = db.execute("SELECT content FROM snapshots WHERE name = ?", (name,)).fetchone()
        if row is None:
            return False
        content = json.loads(row[0])
        if counters is not None and not counters.in_state:
            counters.replace([CounterRow(**saved) for saved in content["counters"]])
        version_before = store.cache_version()
        for table in reversed(_TABLES):
            db.execute(f"DELETE FROM {table}")
        for table in _TABLES:
            db.execute(
                f"INSERT INTO {table} SELECT * FROM json_populate_recordset(NULL::{table}, ?)",
                (json.dumps(content[table]),),
            )
        for table in _IDENTITIES:
            db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'seq'),"
                f" (SELECT coalesce(max(seq), 0) + 1 FROM {table}), false)"
            )
        store.contents_replaced(version_before)
    return True


def save(
    store: Store,
    directory: Path,
    name: str,
    counters: CounterStore | None = None,
    audit: AuditLog | None = None,
) -> dict[str, Any]:
    """Save the store as snapshot ``name`` (replacing one of that name), with
    ``counters`` when they are not the store's own, and with the ``audit``
    rows that wait to go to its database."""
    if audit is not None:
        audit.settle()
    outside = None if counters is None or counters.in_state else counters.rows()
    if store.is_shared:
        return _save_shared(store, name, outside)
    directory.mkdir(parents=True, exist_ok=True)
    target = _file(directory, name)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    copy = sqlite3.connect(partial)
    try:
        # One step: a read transaction of the source, so a consistent state.
        store.database.connection().backup(copy)
        if outside is not None:
            with copy:
                write_rows(copy, outside)
        # A plain file, with no -wal and -shm beside it while it waits.
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
    os.replace(partial, target)  # a listing sees the old snapshot or the new, whole
    return describe(target)


def describe(path: Path) -> dict[str, Any]:
    """What a listing shows of a snapshot: its name and when it was saved, no content."""
    saved = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return {
        "name": path.name.removesuffix(_SUFFIX),
        "created_at": saved.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z",
    }


def listing(directory: Path, store: Store | None = None) -> list[dict[str, Any]]:
    """Every snapshot in ``directory`` (of a PostgreSQL ``store``: in its
    database), the most recent first."""
    if store is not None and store.is_shared:
        _shared_tables(store)
        rows = store.database.connection().execute(
            "SELECT name, created_us FROM snapshots ORDER BY created_us DESC, name DESC"
        )
        return [_shown(str(name), int(created_us)) for name, created_us in rows]
    if not directory.is_dir():
        return []
    shown = []
    for path in directory.glob(f"*{_SUFFIX}"):  # not the .partial files of a save
        try:
            shown.append(describe(path))
        except FileNotFoundError:  # deleted meanwhile
            continue
    return sorted(shown, key=lambda snapshot: (snapshot["created_at"], snapshot["name"]))[::-1]


def delete(directory: Path, name: str, store: Store | None = None) -> bool:
    if store is not None and store.is_shared:
        _shared_tables(store)
        with store.database.transaction() as db:
            deleted = db.execute("DELETE FROM snapshots WHERE name = ?", (name,)).rowcount
        return bool(deleted)
    try:
        _file(directory, name).unlink()
    except FileNotFoundError:
        return False
    return True


def restore(
    store: Store,
    directory: Path,
    name: str,
    counters: CounterStore | None = None,
    audit: AuditLog | None = None,
) -> bool:
    """Put snapshot ``name`` back into the store, and into ``counters`` when
    they are not the store's own; the ``audit`` rows that wait to go to the
    database are the state's before it, and go; False when there is none."""
    if store.is_shared:
        return _restore_shared(store, name, counters)
    path = _file(directory, name)
    try:
        source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return False
    try:
        database = store.database
        with (
            database.exclusive_gate(),
            database.write_lock() as db,
            database.changes.counting(),
        ):
            claims = db.execute("SELECT machine_id FROM machines ORDER BY claimed_seq").fetchall()
            version_before = store.cache_version()
            if counters is not None and not counters.in_state:
                counters.replace(read_rows(source))
            source.backup(db)
            if audit is not None:  # rows of the state before it
                audit.forget_waiting()
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM machines")
            db.executemany("INSERT INTO machines (machine_id) VALUES (?)", claims)
            store.contents_replaced(version_before)
            db.execute("COMMIT")
    finally:
        source.close()
    return True
