"""The Host check: which names this server answers to.

A web page can point a domain it owns at 127.0.0.1 once the browser has
loaded it (DNS rebinding); the browser then treats the server as that page's
own origin and lets it read the journal and reset the state. The one thing
the page cannot choose is the ``Host`` header, which names its domain. So a
request is served only when its Host is ``localhost``, a name under
``.localhost`` (which resolves to loopback, RFC 6761), an IP literal (which
no rebinding can produce), or a name given with ``--allowed-host``, as Vite
and webpack-dev-server do.
"""

import ipaddress
import re

from mockserver.contract.errors import ApiError, Problem

ALLOWED_HOST_OPTION = "--allowed-host"
# A name or an IPv4 address, or an IPv6 address in brackets; then maybe a port.
_HOST_HEADER = re.compile(
    r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+(?:%[A-Za-z0-9._~-]+)?)\]|(?P<name>[A-Za-z0-9._~%!$&'()*+,;=-]+))"
    r"(?::[0-9]*)?"
)
# Long enough for any DNS name with a port; a longer Host is cut in the message.
_SHOWN_HOST_LIMIT = 270


def host_name(host_header: str) -> str | None:
    """The name or address in a ``Host`` header, lower case and without its
    port or brackets; None when it is no host at all."""
    match = _HOST_HEADER.fullmatch(host_header.strip())
    if match is None:
        return None
    name = match["ipv6"] or normalise_host(match["name"])
    return name or None


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def normalise_host(name: str) -> str:
    """How an allowed name is compared: lower case, without a final dot."""
    return name.strip().lower().rstrip(".")


class HostPolicy:
    def __init__(self, allowed: tuple[str, ...] = ()) -> None:
        self.allowed = frozenset(normalise_host(name) for name in allowed)

    def allows(self, host_header: str | None) -> bool:
        if not host_header:
            # Browsers always send a Host; a client without one (HTTP/1.0)
            # is no page in a browser, and cannot be rebound.
            return True
        name = host_name(host_header)
        if name is None:
            return False
        return (
            is_ip_literal(name)
            or name == "localhost"
            or name.endswith(".localhost")
            or name in self.allowed
        )

    def check(self, host_header: str | None) -> None:
        """Raise the 403 that says how to allow this Host, unless it is allowed."""
        if self.allows(host_header):
            return
        shown = (host_header or "")[:_SHOWN_HOST_LIMIT]
        name = host_name(shown)
        if name is None:
            detail = (
                f"{shown!r} is not a host name; this server answers localhost, *.localhost, "
                f"IP addresses and the names given with {ALLOWED_HOST_OPTION}."
            )
        else:
            detail = (
                f"This server answers localhost, *.localhost and IP addresses; "
                f"start it with {ALLOWED_HOST_OPTION} {name} to answer {shown!r} too."
            )
        raise ApiError(403, [Problem("Host not allowed", parameter="Host", detail=detail)])
