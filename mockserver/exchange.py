"""A request and its answer as the pipeline sees them: plain data, no framework.

:class:`Incoming` reads what the pipeline needs straight from the WSGI
environ, each part once; :class:`Outgoing` is the answer, sent by
:meth:`Outgoing.send`. Werkzeug's Request and Response objects would do the
same job, but building and sending them cost more than the rest of a create
(bench/README.md), and the pipeline uses a small part of them.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.http import HTTP_STATUS_CODES

from mockserver.errors import ApiError
from mockserver.jsontext import to_json

StartResponse = Callable[..., Any]
# The two headers WSGI passes without the HTTP_ prefix.
_UNPREFIXED = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}
# Statuses whose answer never has a body (RFC 9110, 6.4.1).
_NO_BODY = frozenset({204, 304})


def wsgi_text(value: str) -> str:
    """WSGI hands over the path and query as bytes decoded as Latin-1; they are UTF-8."""
    return value.encode("latin-1").decode("utf-8", errors="replace")


def request_path(environ: dict[str, Any]) -> str:
    return wsgi_text(environ.get("PATH_INFO", "")) or "/"


class Incoming:
    """The request: method, path, query, headers and, read once on demand, the body."""

    def __init__(self, environ: dict[str, Any], max_body_bytes: int) -> None:
        self.environ = environ
        self.method: str = environ["REQUEST_METHOD"].upper()
        self.path = request_path(environ)
        # The first value of each name wins, as in Werkzeug's request.args.
        self.query: dict[str, str] = {}
        for name, value in parse_qsl(
            wsgi_text(environ.get("QUERY_STRING", "")), keep_blank_values=True, errors="replace"
        ):
            self.query.setdefault(name, value)
        self._max_body_bytes = max_body_bytes
        self._body: bytes | None = None
        # Latency asked for with ``Prefer: delay``, once the pipeline has read it.
        self.preferred_delay_ms: int | None = None

    def header(self, name: str) -> str | None:
        key = name.upper().replace("-", "_")
        return self.environ.get(key if key in _UNPREFIXED else f"HTTP_{key}")

    def headers(self) -> Iterator[tuple[str, str]]:
        """Every header, named as clients usually write them (``Content-Type``)."""
        for key, value in self.environ.items():
            if key.startswith("HTTP_"):
                yield key[5:].replace("_", "-").title(), value
            elif key in _UNPREFIXED and value:
                yield _UNPREFIXED[key], value

    @property
    def media_type(self) -> str:
        """The Content-Type without its parameters, lower case ('' when absent)."""
        return (self.header("Content-Type") or "").partition(";")[0].strip().lower()

    def body(self) -> bytes:
        """The body, read once; past the size limit a 413.

        With a Content-Length, an oversize body is refused before it is read.
        A chunked body has none, so one byte more than the limit is read to tell.
        """
        if self._body is None:
            limit = self._max_body_bytes
            stream = self.environ["wsgi.input"]
            declared = self.header("Content-Length")
            if declared:
                try:
                    length = int(declared)
                except ValueError:
                    raise ApiError.single(400, detail="Content-Length is not a number.") from None
                if length > limit:
                    self._body = b""
                    raise ApiError.single(413)
                self._body = stream.read(length) if length > 0 else b""
            else:
                read = stream.read(limit + 1)
                if len(read) > limit:
                    self._body = b""
                    raise ApiError.single(413)
                self._body = read
        return self._body

    def body_if_readable(self) -> bytes:
        """The body for the record; an unreadable one (too large) is empty."""
        try:
            return self.body()
        except ApiError:
            return b""


@dataclass
class Outgoing:
    """The answer. ``payload`` is the JSON value ``body`` was encoded from, if any."""

    status: int
    body: bytes = b""
    media_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    payload: Any = None

    @classmethod
    def json(cls, payload: Any, status: int) -> "Outgoing":
        """``payload`` as compact JSON; None means no body at all."""
        if payload is None:
            return cls(status)
        return cls(status, to_json(payload), "application/json", payload=payload)

    @classmethod
    def error(cls, error: ApiError) -> "Outgoing":
        outgoing = cls.json(error.envelope(), error.status)
        outgoing.headers.extend(error.headers.items())
        return outgoing

    @property
    def errors(self) -> list[Any]:
        """The problems of an error envelope, [] for anything else."""
        if self.status >= 400 and isinstance(self.payload, dict):
            errors = self.payload.get("errors")
            if isinstance(errors, list):
                return errors
        return []

    def send(self, start_response: StartResponse, method: str) -> list[bytes]:
        headers = list(self.headers)
        if self.status not in _NO_BODY:
            if self.media_type is not None:
                headers.append(("Content-Type", self.media_type))
            headers.append(("Content-Length", str(len(self.body))))
        start_response(f"{self.status} {HTTP_STATUS_CODES.get(self.status, 'Unknown')}", headers)
        # A HEAD answer is a GET's headers without its body.
        return [] if method == "HEAD" or self.status in _NO_BODY else [self.body]
