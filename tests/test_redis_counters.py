"""The gateway's counters in Redis (``serve --redis``), against a real
redis-server (redis_support.py), beside the same battery in SQLite.

The store battery runs the counters' interface (state/counters.py) on both
backends; test_windows.py and test_gateway.py run their rate-limit tests on
both too (their ``frozen`` fixture). Then, with real processes: exact
counting across two servers sharing one state and one Redis, sessions,
reset and snapshots, and Redis stopped and started again under load.
"""

import sqlite3
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from redis_support import RedisServer

from mockserver.state.counters import CounterRow, CounterStore, Outcome, Tally
from mockserver.state.redis_counters import RedisCounters, connect
from mockserver.state.store import Store

HOUR_MS = 3_600_000


@pytest.fixture
def store() -> Iterator[Store]:
    made = Store()
    yield made
    made.close()


@pytest.fixture
def counters(counter_backend: dict[str, Any], store: Store) -> CounterStore:
    """A fresh state's counters: its SQLite table, or a new namespace in Redis."""
    if "redis_url" not in counter_backend:
        return store.counters
    client = connect(counter_backend["redis_url"])
    return RedisCounters(client, f"test-{uuid.uuid4().hex}", store.database)


def tally(name: str, limit: int, start: int = 0) -> Tally:
    return Tally(name, start, limit, HOUR_MS)


def test_a_counter_admits_exactly_its_limit(counters: CounterStore) -> None:
    outcomes = [counters.take([tally("a", 3)])[0] for _ in range(5)]
    assert outcomes == [
        Outcome(True, 1),
        Outcome(True, 2),
        Outcome(True, 3),
        Outcome(False, 3),
        Outcome(False, 3),
    ]


def test_every_tally_is_looked_at_and_a_refusing_one_counts_nothing(
    counters: CounterStore,
) -> None:
    counters.take([tally("tight", 1)])
    # tight refuses; loose admits and counts, whatever tight says.
    assert counters.take([tally("tight", 1), tally("loose", 5)]) == [
        Outcome(False, 1),
        Outcome(True, 1),
    ]
    assert counters.take([tally("loose", 5), tally("tight", 1)]) == [
        Outcome(True, 2),
        Outcome(False, 1),
    ]
    assert {row.name: row.count for row in counters.rows()} == {"tight": 1, "loose": 2}


def test_another_window_starts_from_zero_either_way(counters: CounterStore) -> None:
    counters.take([tally("w", 1, start=HOUR_MS)])
    assert counters.take([tally("w", 1, start=HOUR_MS)]) == [Outcome(False, 1)]
    assert counters.take([tally("w", 1, start=2 * HOUR_MS)]) == [Outcome(True, 1)]
    # The clock moved back: the earlier window is another one too.
    assert counters.take([tally("w", 1, start=HOUR_MS)]) == [Outcome(True, 1)]


def test_what_runs_with_the_outcomes_writes_in_the_state_and_a_failure_counts_nothing(
    counters: CounterStore, store: Store
) -> None:
    with store.database.transaction() as db:
        db.execute("CREATE TABLE seen (outcomes TEXT)")

    def record(db: sqlite3.Connection, outcomes: list[Outcome]) -> None:
        db.execute("INSERT INTO seen VALUES (?)", (repr(outcomes),))

    counters.take([tally("a", 2), tally("b", 9)], record)

    def broken(db: sqlite3.Connection, outcomes: list[Outcome]) -> None:
        record(db, outcomes)
        raise RuntimeError("the audit row could not be written")

    with pytest.raises(RuntimeError):
        counters.take([tally("a", 2), tally("b", 9)], broken)
    rows = store.database.connection().execute("SELECT outcomes FROM seen").fetchall()
    assert rows == [(repr([Outcome(True, 1), Outcome(True, 1)]),)]  # the broken one rolled back
    assert counters.take([tally("a", 2), tally("b", 9)]) == [Outcome(True, 2), Outcome(True, 2)]


def test_clear_forgets_every_counter(counters: CounterStore) -> None:
    counters.take([tally("a", 1), tally("b", 1)])
    counters.clear()
    assert counters.rows() == []
    assert counters.take([tally("a", 1)]) == [Outcome(True, 1)]


def test_rows_put_back_replace_every_counter(counters: CounterStore) -> None:
    counters.take([tally("kept", 5), tally("kept", 5)])
    counters.take([tally("kept", 5)])
    saved = counters.rows()
    assert saved == [CounterRow("kept", 0, 3)]
    counters.take([tally("kept", 5), tally("later", 5)])
    counters.replace(saved)
    assert counters.rows() == saved
    assert counters.take([tally("kept", 5), tally("later", 5)]) == [
        Outcome(True, 4),
        Outcome(True, 1),
    ]


def test_names_of_any_text_are_kept_apart(counters: CounterStore) -> None:
    odd = ["a*", "a?", "a[b]", "a\\b", "key:x|10.0.0.1|/v1/{id}", "é"]
    for name in odd:
        counters.take([tally(name, 9)])
    counters.take([tally("a*", 9)])
    assert {row.name: row.count for row in counters.rows()} == {
        **dict.fromkeys(odd, 1),
        "a*": 2,
    }


def test_redis_keys_expire_a_minute_after_their_window(redis_server: RedisServer) -> None:
    client = connect(redis_server.url)
    store = Store()
    try:
        namespace = f"ttl-{uuid.uuid4().hex}"
        RedisCounters(client, namespace, store.database).take([Tally("short", 0, 5, 500)])
        (key,) = client.keys(f"mockserver:{{{namespace}}}:g*")
        assert 60_000 < client.pttl(key) <= 60_500
    finally:
        store.close()
