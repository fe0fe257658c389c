"""A request and its answer as the pipeline sees them: plain data, no framework.

:class:`Incoming` reads what the pipeline needs straight from the WSGI
environ (the body once, and only when asked); :class:`Outgoing` is the
answer, sent by :meth:`Outgoing.send`. Werkzeug's Request and Response
objects would do the same job, but building and sending them took 0.11 ms
a request, a third of what a whole create takes now (bench/README.md), and
the pipeline uses a small part of them.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.http import HTTP_STATUS_CODES

from mockserver.contract.errors import ApiError
from mockserver.contract.jsontext import to_json
from mockserver.contract.numbers import NotAWholeNumber, parse_whole_number

StartResponse = Callable[..., Any]
# The two headers WSGI passes without the HTTP_ prefix.
_UNPREFIXED = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}
# A refused body up to this size is read and dropped, so that the client can
# finish sending it and then read the 413: one refused unread made granian
# close the connection while the client was still writing (a broken pipe
# instead of the answer). Past this size it is not worth reading.
_DRAIN_LIMIT = 16 * 1024 * 1024
_DRAIN_CHUNK = 64 * 1024
# Statuses whose answer never has a body (RFC 9110, 6.4.1).
_NO_BODY = frozenset({204, 304})


def wsgi_text(value: str) -> str:
    """WSGI hands over the path and query as bytes decoded as Latin-1; they are UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8", errors="replace")
    except UnicodeEncodeError:  # a server that decoded them already, against PEP 3333
        return value


def request_path(environ: dict[str, Any]) -> str:
    return wsgi_text(environ.get("PATH_INFO", "")) or "/"


class Incoming:
    """The request: method, path, query, headers and, read once on demand, the body."""

    def __init__(self, environ: dict[str, Any], max_body_bytes: int) -> None:
        self.environ = environ
        self.method: str = environ["REQUEST_METHOD"].upper()
        self.path = request_path(environ)
        # The first value of each name wins, as in Werkzeug's request.args; an
        # escape that is not UTF-8 becomes U+FFFD, as in the path.
        self.query: dict[str, str] = {}
        for name, value in parse_qsl(
            wsgi_text(environ.get("QUERY_STRING", "")), keep_blank_values=True, errors="replace"
        ):
            self.query.setdefault(name, value)
        self._max_body_bytes = max_body_bytes
        self._body: bytes | None = None
        self._body_error: ApiError | None = None
        # Latency asked for with ``Prefer: delay``, once the pipeline has read it.
        self.preferred_delay_ms: int | None = None
        # The session the request named (None: the default), once the pipeline has read it.
        self.session: str | None = None

    def header(self, name: str) -> str | None:
        key = name.upper().replace("-", "_")
        return self.environ.get(key if key in _UNPREFIXED else f"HTTP_{key}")

    def headers(self) -> Iterator[tuple[str, str]]:
        """Every header, named as clients usually write them (``Content-Type``)."""
        for key, value in self.environ.items():
            if key.startswith("HTTP_") and key[5:] not in _UNPREFIXED:
                yield key[5:].replace("_", "-").title(), value
            elif key in _UNPREFIXED and value:
                yield _UNPREFIXED[key], value

    @property
    def media_type(self) -> str:
        """The Content-Type without its parameters, lower case ('' when absent)."""
        return (self.header("Content-Type") or "").partition(";")[0].strip().lower()

    def body(self) -> bytes:
        """The body, read once; a 413 past the size limit, a 400 for a
        Content-Length that is not a number (the same error every call)."""
        if self._body_error is not None:
            raise self._body_error
        if self._body is None:
            try:
                self._body = self._read_body()
            except ApiError as error:
                self._body_error = error
                raise
        return self._body

    def _read_body(self) -> bytes:
        """With a Content-Length, an oversize body is refused before it is read.
        A chunked body has none, so one byte more than the limit is read to
        tell; PEP 3333 allows reading to the end only when the server says
        ``wsgi.input_terminated`` (granian does), else there is no body."""
        limit = self._max_body_bytes
        stream = self.environ["wsgi.input"]
        declared = self.header("Content-Length")
        if declared:
            try:
                length = parse_whole_number(declared.strip())
            except NotAWholeNumber:
                raise ApiError.single(400, detail="Content-Length is not a number.") from None
            if length > limit:
                if length <= _DRAIN_LIMIT:
                    _drain(stream, length)
                raise ApiError.single(413)
            return stream.read(length) if length > 0 else b""
        if not self.environ.get("wsgi.input_terminated"):
            return b""
        read = stream.read(limit + 1)
        if len(read) > limit:
            _drain(stream, _DRAIN_LIMIT - len(read))
            raise ApiError.single(413)
        return read

    def body_if_readable(self) -> bytes:
        """The body for the record; an unreadable one (too large) is empty."""
        try:
            return self.body()
        except ApiError:
            return b""


def _drain(stream: Any, at_most: int) -> None:
    """Read and drop up to ``at_most`` bytes, stopping at the end of the body."""
    while at_most > 0:
        chunk = stream.read(min(_DRAIN_CHUNK, at_most))
        if not chunk:
            return
        at_most -= len(chunk)


@dataclass
class Outgoing:
    """The answer. ``payload`` is the JSON value ``body`` was encoded from, if any."""

    status: int
    body: bytes = b""
    media_type: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    payload: Any = None
    # A handler's decision in a few words, journaled for the inspector.
    decision: dict[str, Any] | None = None

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
