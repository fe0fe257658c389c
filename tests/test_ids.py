"""Snowflake ids: the Sony layout, ordering, a full tick, and seeding."""

from datetime import UTC, datetime, timedelta

import pytest

from mockserver.backend.clock import FrozenClock
from mockserver.backend.ids import (
    EPOCH,
    MAX_MACHINE_ID,
    SnowflakeGenerator,
    decode,
    require_id_time,
)
from mockserver.serving.app import machine_id_from

FROZEN = datetime(2026, 6, 28, 10, 15, 30, 123456, tzinfo=UTC)


class SteppingClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.instant = start

    def now(self) -> datetime:
        return self.instant


def test_the_documented_layout_pinned_by_hand() -> None:
    """Worked out on paper, not from the module's constants: 2026-06-28 is 543
    days after 2025-01-01, so 10:15:30.123456 is 46,952,130.123456 s, i.e.
    4,695,213,012 ticks of 10 ms; an id is ticks * 2**24 + sequence * 2**16 +
    machine. Moving the epoch, the tick or a field's width breaks this."""
    generator = SnowflakeGenerator(FrozenClock(FROZEN), machine_id=48879)
    first, second = generator.next_id(), generator.next_id()
    assert first == "78772602868383471"  # 4695213012 * 16777216 + 0 * 65536 + 48879
    assert second == "78772602868449007"  # the same tick, sequence 1
    decoded = decode(second)
    assert (decoded.sequence, decoded.machine_id) == (1, 48879)
    assert decoded.time == datetime(2026, 6, 28, 10, 15, 30, 120000, tzinfo=UTC)


def test_layout_is_ticks_sequence_machine() -> None:
    generator = SnowflakeGenerator(FrozenClock(FROZEN), machine_id=0xBEEF)
    value = int(generator.next_id())
    ticks = (FROZEN - EPOCH) // timedelta(milliseconds=10)
    assert value >> 24 == ticks
    assert (value >> 16) & 0xFF == 0
    assert value & 0xFFFF == 0xBEEF
    decoded = decode(value)
    assert decoded.time == datetime(2026, 6, 28, 10, 15, 30, 120000, tzinfo=UTC)
    assert decoded.machine_id == 0xBEEF


def test_late_2026_ids_are_17_or_18_digits() -> None:
    for month in (6, 12):
        clock = FrozenClock(datetime(2026, month, 1, tzinfo=UTC))
        assert len(SnowflakeGenerator(clock, machine_id=MAX_MACHINE_ID).next_id()) in (17, 18)


def test_ids_strictly_increase_as_the_clock_moves() -> None:
    clock = SteppingClock(FROZEN)
    generator = SnowflakeGenerator(clock, machine_id=7)
    values = []
    for step in range(50):
        values.append(int(generator.next_id()))
        clock.instant += timedelta(milliseconds=3 * (step % 5))
    assert values == sorted(set(values))


def test_more_than_256_ids_in_one_tick_stay_unique_and_increasing() -> None:
    generator = SnowflakeGenerator(FrozenClock(FROZEN), machine_id=1)
    values = [int(generator.next_id()) for _ in range(1000)]
    assert values == sorted(set(values))
    assert decode(values[255]).sequence == 255
    assert decode(values[256]).time == decode(values[0]).time + timedelta(milliseconds=10)


def test_a_clock_that_goes_back_does_not_repeat_ids() -> None:
    clock = SteppingClock(FROZEN)
    generator = SnowflakeGenerator(clock, machine_id=1)
    first = int(generator.next_id())
    clock.instant -= timedelta(seconds=5)
    assert int(generator.next_id()) > first


def test_the_same_seed_gives_the_same_machine_id() -> None:
    assert machine_id_from(42) == machine_id_from(42)
    assert len({machine_id_from(seed) for seed in range(20)}) > 15
    assert all(0 <= machine_id_from(seed) <= MAX_MACHINE_ID for seed in range(20))


def test_machine_id_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        SnowflakeGenerator(FrozenClock(FROZEN), machine_id=MAX_MACHINE_ID + 1)


def test_ids_exist_from_the_epoch_to_the_last_39_bit_tick_and_nowhere_else() -> None:
    """The range worked out by hand: 2**39 - 1 ticks of 10 ms after 2025-01-01
    is 2199-03-19T03:28:58.87Z; its id is (2**39 - 1) * 2**24, 19 digits."""
    epoch = datetime(2025, 1, 1, tzinfo=UTC)
    last = datetime(2199, 3, 19, 3, 28, 58, 870000, tzinfo=UTC)
    assert SnowflakeGenerator(FrozenClock(require_id_time(epoch)), 0).next_id() == "0"
    assert SnowflakeGenerator(FrozenClock(require_id_time(last)), 0).next_id() == (
        "9223372036837998592"
    )
    with pytest.raises(ValueError, match="before the snowflake epoch 2025-01-01T00:00:00Z"):
        require_id_time(epoch - timedelta(microseconds=1))
    with pytest.raises(ValueError, match=r"2199-03-19T03:28:58\.870Z, the last instant"):
        require_id_time(last + timedelta(milliseconds=10))
