"""Request text made safe to print: control characters become visible escapes.

A path, a query, a header or a body is whatever the client sent. Printed as
is, ``%0A`` in a path starts a second, forged line in the log, and ``%1B[``
sends escape codes to the terminal that shows it (colours, cursor moves,
window titles). So every piece of request text written to the log goes
through :func:`printable` first; the inspector page does the same in
``inspector.js``. The journal keeps the true values: it is data, read as
JSON, and JSON escapes what it must.
"""

import re

# C0 controls and DEL, C1 controls (0x9B alone is a terminal's CSI), the
# Unicode line and paragraph separators, and the bidirectional overrides and
# isolates, which can make a line read as something else ("Trojan Source").
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character written as ``\\xNN`` or ``\\uNNNN``."""
    return _CONTROL.sub(_escape, text)


def json_line(text: str) -> str:
    """A line of JSON with the controls JSON itself leaves raw (DEL, C1, the
    separators) written as ``\\uNNNN`` escapes: the same value, still valid
    JSON, safe on a terminal. JSON escapes C0 controls already, so every match
    here is inside a string."""
    return _CONTROL.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
