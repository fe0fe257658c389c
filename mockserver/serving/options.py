"""The types of ``mockserver``'s options: each refuses a bad value with a
message that argparse prints after the option's name, and exit code 2,
before anything is started (never a traceback, as a bare ``int`` gave for
``--port 70000``). Environment variables go through the same types
(environment.py).
"""

import argparse
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from mockserver.backend.clock import parse_timestamp
from mockserver.backend.ids import require_id_time
from mockserver.http.hosts import host_name, normalise_host
from mockserver.serving.environment import secret_file

MAX_PORT = 65535
# More would only share the same cores; a typo such as 40000 must not fork-bomb.
MAX_WORKERS = 256
# Journal entries keep whole bodies (up to 2 MB each).
MAX_JOURNAL_SIZE = 1_000_000


def id_timestamp(text: str) -> datetime:
    """An RFC 3339 instant at which snowflake ids can be made (see ``require_id_time``)."""
    try:
        return require_id_time(parse_timestamp(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _whole_number(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type for whole numbers from ``minimum`` to ``maximum``."""

    def parse(text: str) -> int:
        digits = text.strip()
        # ASCII digits only: int() also takes "²"-like digits of other scripts.
        if not (digits.removeprefix("-").isascii() and digits.removeprefix("-").isdigit()):
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
        if len(digits) > 30:
            raise argparse.ArgumentTypeError(f"too long a number: {text[:20]!r}...")
        value = int(digits)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum:,}")
        return value

    # argparse names the type in its message ("invalid parse value"): name it well.
    parse.__name__ = "whole number"
    return parse


positive = _whole_number(1)
port = _whole_number(0, MAX_PORT)
workers = _whole_number(1, MAX_WORKERS)
journal_size = _whole_number(0, MAX_JOURNAL_SIZE)
audit_size = _whole_number(0)


def state(text: str) -> Path | str:
    """--state: an SQLite file's path, or a PostgreSQL URL kept as text."""
    from mockserver.state.database import is_postgres  # sqlite3 and mmap: not at start-up

    if is_postgres(text):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise argparse.ArgumentTypeError(
                "a PostgreSQL state needs psycopg: pip install 'mockserver[replicas]'"
            ) from None
        return text
    if "://" in text:
        raise argparse.ArgumentTypeError(
            f"{text.split('://')[0]}:// is not a state; a file path, or postgresql://USER:PASS@HOST:PORT/DB"
        )
    return Path(text)


def seed(text: str) -> int:
    """Any whole number (negative too, as Python's random takes it)."""
    return _whole_number(-(10**30))(text)


def host(text: str) -> str:
    """An address or name to bind: resolvable, without spaces or control characters."""
    if not text or not text.isprintable() or " " in text:
        raise argparse.ArgumentTypeError(f"not a host name or address: {text!r}")
    try:
        socket.getaddrinfo(text, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise argparse.ArgumentTypeError(f"cannot resolve {text!r}: {reason}") from None
    return text


def token(text: str) -> str:
    """A bearer token: visible ASCII, as an Authorization header can carry it."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty (leave the option out for none)")
    if not all("!" <= character <= "~" for character in text):
        raise argparse.ArgumentTypeError(
            "only visible ASCII characters: no spaces, control or non-ASCII characters"
        )
    return text


def token_file(text: str) -> str:
    """A bearer token read from the file at ``text`` (see ``secret_file``)."""
    return token(secret_file(text))


def origin(text: str) -> str:
    """An origin as browsers send it: SCHEME://HOST[:PORT], nothing after."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or text != f"{parts.scheme}://{parts.netloc}"
        or "@" in text
        or not text.isprintable()
        or " " in text
    ):
        raise argparse.ArgumentTypeError(
            f"not an origin: {text!r} (SCHEME://HOST[:PORT], e.g. http://localhost:3000)"
        )
    return text


def delay(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    number = _whole_number(0, 60_000)
    try:
        delay = (number(low), number(high or low))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"not MS or MIN-MAX from 0 to 60000 ms: {text!r}"
        ) from None
    if not delay[0] <= delay[1]:
        raise argparse.ArgumentTypeError("delays run from 0 to 60000 ms, MIN before MAX")
    return delay


def allowed_host(text: str) -> str:
    name = normalise_host(text)
    if not name or host_name(name) != name:
        raise argparse.ArgumentTypeError(
            f"not a host name: {text!r} (give it without scheme or port, e.g. demo.example.com)"
        )
    return name


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``1h`` or ``2d`` (more than 0)."""
    number, unit = text.strip(), "s"
    if number[-1:].lower() in _DURATION_UNITS:
        number, unit = number[:-1], number[-1].lower()
    try:
        seconds = float(number) * _DURATION_UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration like 90s, 30m or 1h: {text!r}") from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {text!r}")
    return seconds


def redis_url(text: str) -> str:
    """A Redis database's URL, ``redis://HOST:PORT/N`` (checked, not yet reached)."""
    from mockserver.state.redis_counters import RedisUrlError, check_url

    try:
        return check_url(text.strip())
    except RedisUrlError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


redis_url.__name__ = "Redis URL"
