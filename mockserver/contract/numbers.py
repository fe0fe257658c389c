"""Whole numbers from untrusted text (a query value, a header): the one parser.

``int()`` and ``str.isdigit()`` accept far more than a client means by a
number, and the gaps are 500s: ``'²'`` passes ``isdigit()`` and then
``int()`` refuses it; ``'٣'`` (an Arabic-Indic three), ``' 7\\n'`` and
``'1_000'`` are all accepted by ``int()``; and past 4,300 digits ``int()``
raises (Python's guard against quadratic conversion). So request text is
read here only: ASCII digits, an optional sign where allowed, and a bounded
length, checked before any conversion.
"""

import re

# 18 digits always fit a signed 64-bit integer (SQLite's INTEGER), so a
# number read here can be stored or compared without overflowing.
MAX_DIGITS = 18
_UNSIGNED = re.compile(r"[0-9]+")
_SIGNED = re.compile(r"[+-]?[0-9]+")


class NotAWholeNumber(ValueError):
    """The text is not a whole number this parser accepts; the message says why."""


def parse_whole_number(text: str, *, signed: bool = False, max_digits: int = MAX_DIGITS) -> int:
    """``text`` as an int, or NotAWholeNumber: ASCII digits only (with a
    leading ``+``/``-`` if ``signed``), no spaces, at most ``max_digits`` digits."""
    if not (_SIGNED if signed else _UNSIGNED).fullmatch(text):
        raise NotAWholeNumber("a whole number" if not signed else "an integer")
    if len(text.lstrip("+-")) > max_digits:
        raise NotAWholeNumber(f"a number of at most {max_digits} digits")
    return int(text)
