"""Snowflake ids in the layout of the Wacht backend (Sony's sonyflake).

``id = (ticks << 24) | (sequence << 16) | machine`` where ``ticks`` counts
10 ms units since 2025-01-01T00:00:00Z, ``sequence`` has 8 bits and
``machine`` 16. Ids are sent as strings of decimal digits.
"""

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mockserver.backend.clock import Clock

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
TICK = timedelta(milliseconds=10)
SEQUENCE_BITS = 8
MACHINE_BITS = 16
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
MAX_MACHINE_ID = (1 << MACHINE_BITS) - 1
# sonyflake keeps 39 bits of ticks, so ids stay within 63 bits and 19 digits.
TICK_BITS = 39
LAST_INSTANT = EPOCH + TICK * ((1 << TICK_BITS) - 1)
_LAST_INSTANT_TEXT = LAST_INSTANT.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class DecodedId:
    time: datetime
    sequence: int
    machine_id: int


def require_id_time(instant: datetime) -> datetime:
    """Return ``instant`` if ids can be made at it; raise ValueError naming the range if not.

    Before the epoch the ticks go negative and the id is ``-16676640``; past the
    last tick it outgrows 63 bits. Either breaks the contract's id pattern, so a
    frozen or moved clock is refused there rather than making such ids.
    """
    if instant < EPOCH:
        raise ValueError(
            f"{instant.isoformat()} is before the snowflake epoch {EPOCH:%Y-%m-%dT%H:%M:%SZ}:"
            " ids cannot be made before it"
        )
    if instant > LAST_INSTANT:
        raise ValueError(
            f"{instant.isoformat()} is after {_LAST_INSTANT_TEXT},"
            " the last instant a snowflake id can hold"
        )
    return instant


def ticks_at(instant: datetime) -> int:
    return (instant - EPOCH) // TICK


def compose(ticks: int, sequence: int, machine_id: int) -> int:
    return (ticks << (SEQUENCE_BITS + MACHINE_BITS)) | (sequence << MACHINE_BITS) | machine_id


def decode(snowflake: int | str) -> DecodedId:
    value = int(snowflake)
    return DecodedId(
        time=EPOCH + TICK * (value >> (SEQUENCE_BITS + MACHINE_BITS)),
        sequence=(value >> MACHINE_BITS) & MAX_SEQUENCE,
        machine_id=value & MAX_MACHINE_ID,
    )


class SnowflakeGenerator:
    """Hands out unique, strictly increasing ids for one machine id.

    sonyflake sleeps when a tick's 256 sequence numbers run out. A frozen clock
    never reaches the next tick, so this generator borrows the next tick
    instead: ids stay unique and increasing, and run at most a few ticks ahead
    of the clock under a burst.
    """

    def __init__(self, clock: Clock, machine_id: int) -> None:
        if not 0 <= machine_id <= MAX_MACHINE_ID:
            raise ValueError(f"machine id must be within 0..{MAX_MACHINE_ID}")
        self._clock = clock
        self.machine_id = machine_id
        self._lock = threading.Lock()
        self._last_ticks = -1
        self._sequence = 0

    def next_id(self) -> str:
        with self._lock:
            ticks = ticks_at(self._clock.now())
            if ticks > self._last_ticks:
                self._last_ticks, self._sequence = ticks, 0
            elif self._sequence < MAX_SEQUENCE:
                self._sequence += 1
            else:
                # The clock stood still or went back: move on from the last tick.
                self._last_ticks, self._sequence = self._last_ticks + 1, 0
            return str(compose(self._last_ticks, self._sequence, self.machine_id))


class ProcessSnowflakes:
    """Snowflakes for every process that shares one store.

    Two worker processes with the same machine id could make the same id in
    the same tick. So each process, the first time it needs an id, claims a
    machine id from the store, which hands each process a different one
    (the seeded one if it is free). A process forked from another claims its own.
    """

    def __init__(
        self, clock: Clock, preferred_machine_id: int, claim: Callable[[int], int]
    ) -> None:
        self._clock = clock
        self._preferred_machine_id = preferred_machine_id
        self._claim = claim
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._generator: SnowflakeGenerator | None = None

    def _current(self) -> SnowflakeGenerator:
        with self._lock:
            if self._generator is None or self._pid != os.getpid():
                machine_id = self._claim(self._preferred_machine_id)
                self._generator = SnowflakeGenerator(self._clock, machine_id)
                self._pid = os.getpid()
            return self._generator

    def next_id(self) -> str:
        return self._current().next_id()

    def machine_id(self) -> int:
        """This process's machine id (claimed on first use)."""
        return self._current().machine_id
