"""Time as the server sees it: the system clock, or one frozen for tests,
moved by the offset the admin API sets (shared by every worker process)."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """Always the same instant, so that timestamps and ids repeat across runs."""

    def __init__(self, instant: datetime) -> None:
        self._instant = instant.astimezone(UTC)

    def now(self) -> datetime:
        return self._instant


class ShiftedClock:
    """Another clock moved by an offset that any worker may change at any time
    (``POST /__admin/clock``): ``offset_us`` reads it from the shared state, so
    every process sees the same time. Frozen or not, the base clock keeps its
    nature: a frozen one stays still at its new instant."""

    def __init__(self, base: Clock, offset_us: Callable[[], int]) -> None:
        self.base = base
        self._offset_us = offset_us

    def now(self) -> datetime:
        offset = self._offset_us()
        instant = self.base.now()
        return instant + timedelta(microseconds=offset) if offset else instant

    def offset_to(self, instant: datetime) -> int:
        """The offset, in microseconds, that makes ``now()`` answer ``instant``."""
        return (instant - self.base.now()) // timedelta(microseconds=1)


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 timestamp; a timestamp without an offset is refused.

    Raises ValueError with a message fit for a command line.
    """
    try:
        parsed = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp needs a UTC offset or 'Z': {text!r}")
    return parsed.astimezone(UTC)


def format_timestamp(instant: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, keeping only the significant groups of
    three sub-second digits, as the backend's formatter does: ``10:15:30Z``,
    ``10:15:30.120Z`` or ``10:15:30.123456Z``."""
    # isoformat is ten times faster than strftime, and this runs on every request.
    plain = instant.astimezone(UTC).replace(tzinfo=None)
    micro = plain.microsecond
    if micro == 0:
        spec = "seconds"
    elif micro % 1000 == 0:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    return plain.isoformat(timespec=spec) + "Z"
