"""The three audit operations: logs, analytics and timeseries of an app's
gateway checks, as the real backend answers them (notes, section 5).

The query's types, defaults and bounds come from openapi.yaml; what is left
here is what the schema cannot say: clamping, the time range, the cursor, and
the figures themselves.
"""

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from mockserver.backend.clock import format_timestamp, parse_timestamp
from mockserver.backend.handlers import APP_NOT_FOUND, Call, Context, Handler
from mockserver.contract.errors import ApiError, Problem
from mockserver.contract.numbers import parse_whole_number
from mockserver.state.audit import DAY_US, Filter, Position

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_MINUTE_US = 60_000_000
_BUCKETS = {  # interval: (width, shift to its first start)
    "minute": (_MINUTE_US, 0),
    "hour": (60 * _MINUTE_US, 0),
    "day": (DAY_US, 0),
    # 1970-01-01 was a Thursday: a Sunday-aligned week starts 4 days earlier.
    "week": (7 * DAY_US, 4 * DAY_US),
}


def microseconds(instant: datetime) -> int:
    return (instant - EPOCH) // _ONE_US


def from_microseconds(at_us: int) -> datetime:
    return EPOCH + timedelta(microseconds=at_us)


def _bad(parameter: str, message: str = "Bad request") -> ApiError:
    return ApiError(400, [Problem(message, parameter=parameter)])


def _instant(call: Call, name: str) -> int | None:
    """A date-time query value in microseconds. The contract's pattern has
    checked its shape; a date that does not exist (month 13) is caught here."""
    raw = call.query.get(name)
    if raw is None:
        return None
    try:
        return microseconds(parse_timestamp(raw))
    except ValueError:
        raise _bad(name, f"{name} is not a valid RFC 3339 date-time") from None


def _rows(ctx: Context, call: Call, fallback_days: int) -> Filter:
    """The app's rows in the asked range: from start_date (to end_date, if
    given too); without start_date, end_date is ignored and the range is the
    last ``fallback_days`` days, open towards the future, as in the backend."""
    app_slug = call.path_params["app_slug"]
    if ctx.store.get_app(app_slug) is None:
        raise ApiError.single(404, APP_NOT_FOUND)
    since, until = _instant(call, "start_date"), _instant(call, "end_date")
    if since is None:
        since, until = microseconds(ctx.clock.now()) - fallback_days * DAY_US, None
    return Filter(app_slug, since, until, call.query.get("key_id"))


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


# --- logs --------------------------------------------------------------------


def encode_cursor(row: dict[str, Any]) -> str:
    at_ms = microseconds(parse_timestamp(row["timestamp"])) // 1000
    text = f"{at_ms}|{row['request_id']}".encode()
    return base64.urlsafe_b64encode(text).rstrip(b"=").decode("ascii")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    """(milliseconds, request_id) of a cursor; 400 "invalid cursor" otherwise."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
        at_ms, request_id = text.split("|", 1)
        # 15 digits of milliseconds reach the year 33658; microseconds of more
        # would not fit an SQLite integer.
        return parse_whole_number(at_ms, signed=True, max_digits=15), request_id
    # Bad base64, bytes that are not UTF-8, no "|", no number: each a ValueError.
    except ValueError:
        raise _bad("cursor", "invalid cursor") from None


def _after(ctx: Context, call: Call) -> Position | None:
    """Where the page continues. A cursor holds milliseconds, rows
    microseconds: the row it names gives the exact instant, so that rows
    sharing its millisecond are neither skipped nor repeated [intent]."""
    cursor = call.query.get("cursor")
    if cursor is not None:
        at_ms, request_id = _decode_cursor(cursor)
        exact = ctx.audit.position_of(call.path_params["app_slug"], request_id)
        if exact is not None and exact // 1000 == at_ms:
            return Position(exact, request_id)
        # The row is gone (dropped past --audit-size): the rest of its millisecond follows.
        return Position(at_ms * 1000 + 999, request_id)
    at_us = _instant(call, "cursor_ts")
    if at_us is None:
        return None
    return Position(at_us, call.query.get("cursor_id"))


def get_api_audit_logs(ctx: Context, call: Call) -> dict[str, Any]:
    rows = _rows(ctx, call, fallback_days=7)
    limit = _clamp(call.query["limit"], 1, 1000)
    allowed = {"allowed": True, "blocked": False}.get(call.query.get("outcome") or "")
    data, has_more = ctx.audit.page(
        rows, allowed=allowed, after=_after(ctx, call), offset=call.query["offset"], limit=limit
    )
    return {
        "data": data,
        "limit": limit,
        "has_more": has_more,
        "next_cursor": encode_cursor(data[-1]) if data else None,
    }


# --- analytics -----------------------------------------------------------------


def _percentage(part: int, whole: int) -> float:
    return part / whole * 100 if whole else 0.0


def get_api_audit_analytics(ctx: Context, call: Call) -> dict[str, Any]:
    rows = _rows(ctx, call, fallback_days=30)
    query, top_limit = call.query, _clamp(call.query["top_limit"], 1, 50)
    counted = ctx.audit.counted(rows)
    blocked = counted.total - counted.allowed
    last_day = Filter(rows.app_slug, microseconds(ctx.clock.now()) - DAY_US, None)
    answer: dict[str, Any] = {
        "total_requests": counted.total,
        "allowed_requests": counted.allowed,
        "blocked_requests": blocked,
        "success_rate": _percentage(counted.allowed, counted.total),
        "keys_used_24h": ctx.audit.distinct_keys(last_day),
    }
    if query["include_top_keys"]:
        answer["top_keys"] = [
            {"key_id": key_id, "key_name": name, "total_requests": n}
            for key_id, name, n in ctx.audit.top(rows, "key", top_limit)
        ]
    if query["include_top_paths"]:
        answer["top_paths"] = [
            {"path": path, "total_requests": n}
            for path, n in ctx.audit.top(rows, "path", top_limit)
        ]
    if query["include_blocked_reasons"]:
        with_rule = ctx.audit.count_blocked_by(rows, "any")
        answer["blocked_reasons"] = [
            {"blocked_by_rule": rule, "count": n, "percentage": _percentage(n, with_rule)}
            for rule, n in ctx.audit.top(rows, "rule", top_limit, blocked_by="any")
        ]
    if query["include_rate_limits"]:
        # [intent] Live, this looks for a rule prefix the gateway never writes.
        hits = ctx.audit.count_blocked_by(rows, "rate_limit")
        stats: dict[str, Any] = {
            "total_hits": hits,
            "percentage_of_blocked": _percentage(hits, blocked),
        }
        top_rules = ctx.audit.top(rows, "rule", top_limit, blocked_by="rate_limit")
        if top_rules:  # the backend leaves an empty list out
            stats["top_rules"] = [
                {"rule": rule, "hit_count": n, "percentage": _percentage(n, hits)}
                for rule, n in top_rules
            ]
        answer["rate_limit_stats"] = stats
    return answer


# --- timeseries -------------------------------------------------------------------


def _month_start(at_us: int) -> int:
    day = from_microseconds(at_us)
    return microseconds(day.replace(day=1, hour=0, minute=0, second=0, microsecond=0))


def get_api_audit_timeseries(ctx: Context, call: Call) -> dict[str, Any]:
    rows = _rows(ctx, call, fallback_days=30)
    interval = call.query.get("interval")
    if interval not in (*_BUCKETS, "month"):
        interval = "hour"
    if interval == "month":
        # Months are not of one length: count per day, then add the days up.
        months: dict[int, list[int]] = {}
        for day, total, allowed in ctx.audit.buckets(rows, DAY_US):
            sums = months.setdefault(_month_start(day), [0, 0])
            sums[0] += total
            sums[1] += allowed
        buckets = [(start, total, allowed) for start, (total, allowed) in months.items()]
    else:
        buckets = list(ctx.audit.buckets(rows, *_BUCKETS[interval]))
    return {
        "data": [
            {
                "timestamp": format_timestamp(from_microseconds(start)),
                "total_requests": total,
                "allowed_requests": allowed,
                "blocked_requests": total - allowed,
                "success_rate": _percentage(allowed, total),
            }
            for start, total, allowed in buckets
        ],
        "interval": interval,
    }


AUDIT_HANDLERS: dict[str, Handler] = {
    "getApiAuditLogs": get_api_audit_logs,
    "getApiAuditAnalytics": get_api_audit_analytics,
    "getApiAuditTimeseries": get_api_audit_timeseries,
}
