"""CORS, so that a frontend on another port can call the server from a browser.

By default any origin may; ``--cors-origin`` (repeatable) restricts it, and a
refused origin gets no CORS headers at all (the browser then blocks the
call, as a misconfigured real API would). Preflights are answered here, with
the methods the spec has for the path (for the pages, the methods they
answer); actual responses, errors and pages included, carry the
allow-origin header.
"""

from mockserver.contract.errors import ApiError
from mockserver.http.exchange import Incoming, Outgoing

DEFAULT_ALLOWED_HEADERS = "Authorization, Content-Type, Prefer"
# Readable by the page's script beyond the CORS-safelisted response headers.
EXPOSED_HEADERS = "Allow, Content-Length, Preference-Applied, Retry-After"
PREFLIGHT_MAX_AGE = "600"


class CorsPolicy:
    def __init__(self, origins: frozenset[str] | None = None) -> None:
        self.origins = origins  # None means any origin

    def allows(self, origin: str | None) -> bool:
        return origin is not None and (self.origins is None or origin in self.origins)

    def preflight(self, incoming: Incoming, methods: list[str] | None) -> Outgoing:
        """The answer to an OPTIONS request for a path with these spec ``methods``
        (None: a path no spec has, 404)."""
        if methods is None:
            raise ApiError.single(404)
        outgoing = Outgoing(204, headers=[("Allow", ", ".join(methods))])
        origin = incoming.header("Origin")
        if incoming.header("Access-Control-Request-Method") and self.allows(origin):
            requested = incoming.header("Access-Control-Request-Headers")
            outgoing.headers += [
                ("Access-Control-Allow-Methods", ", ".join(methods)),
                ("Access-Control-Allow-Headers", requested or DEFAULT_ALLOWED_HEADERS),
                ("Access-Control-Max-Age", PREFLIGHT_MAX_AGE),
            ]
        return outgoing

    def headers_for(self, incoming: Incoming) -> list[tuple[str, str]]:
        """The headers that let an allowed origin read an answer, errors included."""
        origin = incoming.header("Origin")
        if not self.allows(origin):
            return [("Vary", "Origin")]
        assert origin is not None
        return [
            ("Vary", "Origin"),
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Expose-Headers", EXPOSED_HEADERS),
        ]
