"""The request journal's storage, on SQLite and on PostgreSQL (where the
replicas share it): bounded, filtered, and ids that never repeat."""

from pathlib import Path
from typing import Any

import pytest
from postgres_support import PostgresServer

from mockserver.state.database import is_postgres, open_database
from mockserver.state.journal import Journal


def opened(location: Path | str, size: int) -> Journal:
    """A journal file of its own, or the journal tables of a PostgreSQL database."""
    return Journal(open_database(location) if is_postgres(location) else Path(location), size)


def entry(number: int, method: str = "GET") -> dict[str, Any]:
    return {
        "time": "2026-01-01T00:00:00.000000Z",
        "method": method,
        "path": f"/api-auth/apps/app-{number}",
        "query": {},
        "headers": {},
        "body": None,
        "status": 404,
        "operation_id": "getApp",
        "errors": [],
        "duration_ms": 0.1,
    }


@pytest.fixture
def journal(state_location: Path | str):
    journal = opened(state_location, size=3)
    yield journal
    journal.close()


def ids(journal: Journal, **filters: Any) -> list[int]:
    return [kept["id"] for kept in journal.entries(**filters)]


def test_ids_keep_increasing_across_clears(journal: Journal) -> None:
    for number in range(2):
        journal.record(entry(number))
    assert ids(journal) == [2, 1]
    journal.clear()
    assert ids(journal) == [] and journal.count() == 0
    journal.clear()  # nothing new since the last clear: still nothing, ids still go on
    journal.record(entry(2, "POST"))
    assert ids(journal) == [3]
    assert ids(journal, method="GET") == [] and journal.count(method="GET") == 0
    journal.clear()
    for number in range(3, 8):
        journal.record(entry(number))
    assert ids(journal) == [8, 7, 6]  # the last `size` of them
    assert journal.count() == 3


def test_a_journal_cleared_while_empty_starts_at_1(journal: Journal) -> None:
    journal.clear()
    journal.record(entry(0))
    assert ids(journal) == [1]


def test_ids_keep_increasing_across_a_clear_and_trims(
    state_location: Path | str, monkeypatch
) -> None:
    monkeypatch.setattr("mockserver.state.journal._TRIM_EVERY", 2)  # trims run often
    journal = opened(state_location, size=1)
    seen: list[int] = []
    for number in range(10):
        journal.record(entry(number))
        if number == 4:
            journal.clear()
        seen += ids(journal)
    journal.close()
    assert seen == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert seen == sorted(set(seen))


def test_the_journal_is_trimmed_even_when_each_entry_comes_on_a_new_connection(
    postgres: PostgresServer, monkeypatch
) -> None:
    """An idle timeout (or a server that ended the connection) makes the next
    entry's connection anew: the trim is still due every so many entries, so
    the table stays bounded."""
    monkeypatch.setattr("mockserver.state.journal._TRIM_EVERY", 2)
    database = open_database(postgres.new_database())
    journal = Journal(database, size=3)
    try:
        for number in range(20):
            journal.record(entry(number))
            database.drop_connection()  # type: ignore[attr-defined]
        (rows,) = database.connection().execute("SELECT count(*) FROM journal").fetchone()
        assert rows <= 3 + 2
        assert ids(journal) == [20, 19, 18]
    finally:
        journal.close()
