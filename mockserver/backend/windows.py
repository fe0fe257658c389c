"""The windows of rate-limit rules: fixed, aligned to UTC [intent].

The live gateway counts in bucketed ring buffers whose effective windows
differ from the documented ones; mockserver counts in fixed windows of
``duration`` x unit, counted from the Unix epoch, so a window's start and
end can be told from the clock alone. ``calendar_day`` starts at 00:00 UTC
and ``calendar_month`` on the 1st of the month at 00:00 UTC.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
UNIT_MS = {
    "millisecond": 1,
    "second": 1_000,
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
    "calendar_day": 86_400_000,
    "month": 30 * 86_400_000,
    "calendar_month": 30 * 86_400_000,
}


@dataclass(slots=True)  # made for each rule of every check: not frozen, which costs 4x
class Window:
    """The window a rule is in at some instant, in ms since the Unix epoch."""

    start_ms: int
    end_ms: int


def epoch_ms(instant: datetime) -> int:
    return (instant - _UNIX_EPOCH) // _MILLISECOND


def window_ms(rule: dict[str, Any]) -> int:
    """The nominal length of the rule's window (a calendar month counts 30 days)."""
    return UNIT_MS[rule["unit"]] * rule["duration"]


def rule_string(rule: dict[str, Any]) -> str:
    """``"100/60s"``, ``"5/500ms"``: the limit over the window, as the gateway names a rule."""
    length = window_ms(rule)
    window = f"{length}ms" if length < 1000 else f"{length // 1000}s"
    return f"{rule['max_requests']}/{window}"


def window_name(rule: dict[str, Any]) -> str:
    """The rule string's window (``"60s"``), as the rate-limit headers name it."""
    return rule_string(rule).partition("/")[2]


def window_at(rule: dict[str, Any], instant: datetime) -> Window:
    unit = rule["unit"]
    if unit == "calendar_month":
        start = instant.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else (start.replace(month=start.month + 1))
        )
        return Window(epoch_ms(start), epoch_ms(end))
    now_ms = epoch_ms(instant)
    # calendar_day is a day aligned to the Unix epoch, which is 00:00 UTC.
    length = window_ms(rule)
    start_ms = now_ms - now_ms % length
    return Window(start_ms, start_ms + length)
