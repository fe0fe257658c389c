"""CORS, so that a frontend on another port can call the server from a browser.

By default any origin may call the API; ``--cors-origin`` (repeatable)
restricts it, and a refused origin gets no CORS headers at all (the browser
then blocks the call, as a misconfigured real API would). Preflights are
answered here, with the methods the spec has for the path (for the pages,
the methods they answer); actual responses, errors included, carry the
allow-origin header.

The tooling (the admin API, /docs, /__inspector) is stricter: any page may
fetch the API, but one that could read the journal or reset the state could
spy on, or undo, a developer's work. So a request to the tooling that
carries an ``Origin`` other than its own or one listed with ``--cors-origin``
is refused before it runs (:meth:`CorsPolicy.refuse_foreign`). Refusing,
rather than only leaving the CORS headers out, matters: a POST without a
body needs no preflight, and the browser would send it and merely hide the
answer.
"""

from urllib.parse import urlsplit

from mockserver.contract.errors import ApiError, Problem
from mockserver.http.exchange import Incoming, Outgoing

# Asked for in a preflight, the requested headers are allowed as they come;
# this list answers a preflight that names none. X-Mockserver-Session picks
# a session (state/sessions.py), which a browser test sends too.
DEFAULT_ALLOWED_HEADERS = "Authorization, Content-Type, Prefer, X-Mockserver-Session"
# Readable by the page's script beyond the CORS-safelisted response headers.
EXPOSED_HEADERS = "Allow, Content-Length, Preference-Applied, Retry-After"
PREFLIGHT_MAX_AGE = "600"
CORS_ORIGIN_OPTION = "--cors-origin"
_DEFAULT_PORTS = {"http": 80, "https": 443}
# An Origin echoed in a refusal is cut here; a real one is far shorter.
_SHOWN_ORIGIN_LIMIT = 300

Origin = tuple[str, str, int]


def parse_origin(text: str) -> Origin | None:
    """``(scheme, host, port)`` of an origin or a URL, the port filled in;
    None for ``null`` and anything else that names no origin."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if not host or scheme not in _DEFAULT_PORTS:
        return None
    return scheme, host.rstrip("."), port if port is not None else _DEFAULT_PORTS[scheme]


def own_origin(incoming: Incoming) -> Origin | None:
    """The origin the request was sent to: its scheme and its ``Host``."""
    host = incoming.header("Host")
    if not host:
        return None
    return parse_origin(f"{incoming.environ.get('wsgi.url_scheme', 'http')}://{host}")


class CorsPolicy:
    def __init__(
        self, origins: frozenset[str] | None = None, *, refuses_foreign: bool = False
    ) -> None:
        self.origins = origins  # None means any origin
        # Whether a request from an origin not allowed is refused (the
        # tooling) rather than only left without CORS headers (the API).
        self.refuses_foreign = refuses_foreign

    def for_tooling(self) -> "CorsPolicy":
        """The policy of the admin API and the pages: only the origins listed
        with --cors-origin, none by default; others are refused."""
        return CorsPolicy(self.origins or frozenset(), refuses_foreign=True)

    def allows(self, origin: str | None) -> bool:
        return origin is not None and (self.origins is None or origin in self.origins)

    def refuse_foreign(self, incoming: Incoming) -> None:
        """For the tooling: raise the 403 for a request from another origin
        than the server's own, unless that origin is allowed."""
        origin = incoming.header("Origin")
        if not self.refuses_foreign or origin is None or self.allows(origin):
            return
        own = own_origin(incoming)
        if own is not None and parse_origin(origin) == own:
            return  # same origin: the inspector calling its own admin API
        shown = origin[:_SHOWN_ORIGIN_LIMIT]
        raise ApiError(
            403,
            [
                Problem(
                    "Cross-origin request refused",
                    parameter="Origin",
                    detail=(
                        "The admin API, /docs and /__inspector answer only pages of their "
                        f"own origin; start the server with {CORS_ORIGIN_OPTION} {shown} "
                        "to let this one call them."
                    ),
                )
            ],
        )

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
