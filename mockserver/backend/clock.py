"""Time as the server sees it: the system clock, or one frozen for tests."""

from datetime import UTC, datetime
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
    """RFC 3339 in UTC with microseconds and a ``Z``, as the backend stores them."""
    # isoformat is ten times faster than strftime, and this runs on every request.
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
