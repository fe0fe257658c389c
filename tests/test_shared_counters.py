"""The shared-memory counters' own table (state/shared_counters.py): slots
of ended windows are swept away without losing a live counter, and a full
table is a 503, not a wrong count. The interface's battery runs on them in
test_redis_counters.py, and real worker processes race on them in
test_gateway_workers.py.

The table is made small here (64 slots), so that probes collide and the
sweep moves slots back all the time.
"""

import fcntl
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ContractClient
from contract import gateway_contract
from test_gateway import new_app_with_rules

from mockserver.state import shared_counters
from mockserver.state.counters import CountersUnavailable, Outcome, Tally
from mockserver.state.shared_counters import SharedCounters
from mockserver.state.store import Store

SLOTS = 64


@pytest.fixture
def small_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables of SLOTS slots, for whatever makes shared counters next."""
    monkeypatch.setattr(shared_counters, "SLOTS", SLOTS)
    monkeypatch.setattr(shared_counters, "_MASK", SLOTS - 1)
    monkeypatch.setattr(shared_counters, "_MOST", SLOTS * 3 // 4)
    size = shared_counters._HEADER_SIZE + SLOTS * shared_counters._SLOT.size
    monkeypatch.setattr(shared_counters, "_SIZE", size)


@pytest.fixture
def counters(tmp_path: Path, small_table: None) -> Iterator[SharedCounters]:
    store = Store(tmp_path / "state.sqlite3")
    yield SharedCounters(tmp_path / "small.counters", store.database, owner=1)
    store.close()


def test_counts_match_a_plain_model_while_windows_end_and_slots_move(
    counters: SharedCounters,
) -> None:
    """Thousands of takes over forty names with windows of three lengths,
    the clock moving on: every outcome is the model's (a dict of counts per
    name and window), however the sweep emptied and moved slots meanwhile."""
    rng = random.Random(7)
    lengths = {f"n{number}": rng.choice((10, 25, 60)) for number in range(40)}
    model: dict[str, tuple[int, int]] = {}  # name: (window start, count)
    now = 0
    for _ in range(4000):
        now += rng.choice((0, 0, 1, 2))
        names = rng.sample(sorted(lengths), rng.choice((1, 1, 2, 3)))
        tallies = [
            Tally(name, now - now % lengths[name], rng.choice((2, 5, 9)), lengths[name])
            for name in names
        ]
        expected = []
        for tally in tallies:
            start, count = model.get(tally.name, (tally.window_start, 0))
            if start != tally.window_start:
                count = 0
            if count < tally.limit:
                model[tally.name] = (tally.window_start, count + 1)
                expected.append(Outcome(True, count + 1))
            else:
                expected.append(Outcome(False, count))
        assert counters.take(tallies) == expected


def test_a_full_table_is_a_503_and_ended_windows_make_room_again(
    counters: SharedCounters,
) -> None:
    most = SLOTS * 3 // 4
    for number in range(most):
        assert counters.take([Tally(f"live{number}", 0, 5, 100)]) == [Outcome(True, 1)]
    with pytest.raises(CountersUnavailable) as full:
        counters.take([Tally("one-too-many", 0, 5, 100)])
    assert full.value.condition == shared_counters.FULL
    # Counters already there count on.
    assert counters.take([Tally("live0", 0, 5, 100)]) == [Outcome(True, 2)]
    # Their windows end (the next starts at 100): the sweep makes room for new ones.
    for number in range(most):
        assert counters.take([Tally(f"new{number}", 100, 5, 100)]) == [Outcome(True, 1)]


def test_a_check_that_finds_the_table_full_is_the_documented_503(
    small_table: None, make_client: Callable[..., ContractClient]
) -> None:
    """Each caller's address its own counter (per_key_and_ip), until no
    slot is left: the next new one is a 503, as the gateway's contract
    shows it, and the counted ones still count."""
    client = make_client()
    secret = new_app_with_rules(
        client,
        "crowded",
        [{"unit": "hour", "duration": 1, "max_requests": 5, "mode": "per_key_and_ip"}],
    )

    def check(client_ip: str) -> Any:
        body = {
            "principal": {"type": "api_key", "value": secret},
            "resource": "/v1/x",
            "method": "GET",
            "required_permissions": ["p"],
            "client_ip": client_ip,
        }
        return client.post("/gateway/v1/authz/check", json=body)

    for number in range(SLOTS * 3 // 4):
        assert check(f"198.51.100.{number}").status_code == 200
    full = check("203.0.113.1")
    assert full.status_code == 503
    assert full.headers["Retry-After"] == "1"
    responses = gateway_contract().document["components"]["responses"]
    examples = responses["ServiceUnavailable"]["content"]["application/json"]["examples"]
    assert full.get_json() == examples["counters-full"]["value"]
    assert check("198.51.100.0").get_json()["rate_limits"][0]["remaining"] == 3


def test_a_check_refused_for_a_full_table_counts_none_of_its_counters(
    counters: SharedCounters,
) -> None:
    for number in range(SLOTS * 3 // 4 - 1):
        counters.take([Tally(f"live{number}", 0, 5, 100)])
    # One slot left: the key's counter takes it; the next check's new one finds none.
    assert counters.take([Tally("key", 0, 5, 100)]) == [Outcome(True, 1)]
    for _ in range(3):
        with pytest.raises(CountersUnavailable):
            counters.take([Tally("key", 0, 5, 100), Tally("new-address", 0, 5, 100)])
    assert counters.take([Tally("key", 0, 5, 100)]) == [Outcome(True, 2)]


def test_short_windows_are_swept_by_checks_that_also_count_a_long_one(
    counters: SharedCounters,
) -> None:
    """Each check a minute later counts a new per-address minute counter and
    the key's day counter: the ended minutes make room, whatever the day's
    window says of the time."""
    minute, day = 60_000, 86_400_000
    for number in range(4 * SLOTS):
        now = number * minute
        tallies = [Tally(f"address{number}", now, 5, minute), Tally("key", 0, 10**9, day)]
        assert counters.take(tallies) == [Outcome(True, 1), Outcome(True, number + 1)]


def test_the_writers_lock_held_around_a_restore_of_the_counters_stays_held(
    tmp_path: Path,
) -> None:
    """A snapshot's restore puts the counters back inside the writers' lock,
    and replace() takes it too: the inner release must not end the outer hold."""
    store = Store(tmp_path / "state.sqlite3")
    with store.database.write_lock(), open(f"{store.path}.lock", "a") as other:
        store.counters.replace([])
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    store.close()
