"""The state's tables, their version, and the refusal of a database that is
not a mockserver state: what every engine checks before a store is used."""

import sqlite3
from pathlib import Path

from mockserver.state import counters, keys
from mockserver.state.database import Database, SharedSqlite, redacted

SCHEMA_VERSION = 1
# apps.seq orders the list (newest first). Without AUTOINCREMENT a new row
# gets the largest seq plus one, which only repeats a seq after the newest
# row is deleted: apps are soft-deleted, and hard-deleted only all at once by
# load(), after which nothing remembers the old seqs. It saves the
# sqlite_sequence update of every create: Store.insert_app 88 -> 81 us in one
# process, 9,360 -> 10,040 writes/s from two (medians of 9 runs). State files
# made with AUTOINCREMENT keep it (CREATE TABLE IF NOT EXISTS leaves them as
# they are) and work as before.
TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS machines (
    claimed_seq INTEGER PRIMARY KEY AUTOINCREMENT,
    machine_id INTEGER NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS apps (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    app_slug TEXT NOT NULL,
    is_active INTEGER NOT NULL,
    rate_limit_scheme_slug TEXT,
    deleted_at TEXT,
    body TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS apps_live_slug ON apps (app_slug) WHERE deleted_at IS NULL;
CREATE TABLE IF NOT EXISTS schemes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scheme_rules (
    scheme_slug TEXT NOT NULL REFERENCES schemes (slug) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    rule TEXT NOT NULL,
    PRIMARY KEY (scheme_slug, position)
);
"""


class StoreError(Exception):
    """The state file cannot be used (unreadable, not a database, too new)."""


def make_schema(db: Database, path: Path | str, made_here: bool) -> None:
    """Make the tables a store needs (where they are missing) and check their
    version, after refusing another program's database (``made_here``: a
    file mockserver itself just made, a session's, is not probed)."""
    if not made_here:
        _refuse_foreign_database(db, path)
    db.connection().executescript(TABLES + keys.TABLES + counters.TABLES)
    row = db.connection().execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = None if row is None else int(row[0])
    if version is None:
        db.connection().execute(
            # Two processes opening one new state at once may both get here.
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?)"
            " ON CONFLICT (key) DO NOTHING",
            (SCHEMA_VERSION,),
        )
    elif version > SCHEMA_VERSION:
        raise StoreError(f"{redacted(path)}: made by a newer mockserver (schema {version})")


def _refuse_foreign_database(db: Database, path: Path | str) -> None:
    """Leave another program's database untouched: a state file is either
    new (no tables) or has mockserver's ``meta`` table with a schema version."""
    if not isinstance(db, SharedSqlite):
        tables = db.table_names()  # type: ignore[attr-defined]
        if tables and not (
            "meta" in tables
            and db.connection()
            .execute("SELECT 1 FROM meta WHERE key = 'schema_version'")
            .fetchone()
        ):
            raise StoreError(f"{redacted(path)}: not a mockserver database (it has other tables)")
        return
    assert isinstance(path, Path)
    if not path.exists() or path.stat().st_size == 0:
        return
    probe = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in probe.execute("SELECT name FROM sqlite_master")}
        ours = (
            "meta" in tables
            and probe.execute("SELECT 1 FROM meta WHERE key = 'schema_version'").fetchone()
        )
    finally:
        probe.close()
    if tables and not ours:
        raise StoreError(f"{path}: not a mockserver state file (it has other tables)")
