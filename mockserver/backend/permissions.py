"""The gateway's permission expressions.

``required_permissions`` items are trimmed and blanks dropped; none left
means no check. The items are joined with ``" AND "``. An expression without
``" AND "`` or ``" OR "`` is split on ``,`` and every piece must be held.
Otherwise ``OR`` binds loosest, parentheses group, and each term is an exact,
case-sensitive membership test: no wildcards (``*`` is a name like any
other). [intent] The live evaluator mishandles a parenthesised group next
to other terms; this one parses it as written. An expression that does not
parse (an unclosed parenthesis) grants nothing.
"""

import re
from collections.abc import Collection

_TOKENS = re.compile(r"(\(|\)| AND | OR )")


class _Unparsable(Exception):
    pass


def expression_of(required: list[str]) -> str | None:
    """The one expression the items make, or None when nothing is required."""
    items = [item.strip() for item in required]
    items = [item for item in items if item]
    return " AND ".join(items) if items else None


def permits(held: Collection[str], required: list[str]) -> bool:
    expression = expression_of(required)
    if expression is None:
        return True
    if " AND " not in expression and " OR " not in expression:
        pieces = [piece.strip() for piece in expression.split(",")]
        return all(piece in held for piece in pieces if piece)
    tokens = [token.strip() for token in _TOKENS.split(expression)]
    tokens = [token for token in tokens if token]
    try:
        granted, end = _any(tokens, 0, held)
    except _Unparsable:
        return False
    return granted and end == len(tokens)


def _any(tokens: list[str], at: int, held: Collection[str]) -> tuple[bool, int]:
    granted, at = _all(tokens, at, held)
    while at < len(tokens) and tokens[at] == "OR":
        right, at = _all(tokens, at + 1, held)
        granted = granted or right
    return granted, at


def _all(tokens: list[str], at: int, held: Collection[str]) -> tuple[bool, int]:
    granted, at = _term(tokens, at, held)
    while at < len(tokens) and tokens[at] == "AND":
        right, at = _term(tokens, at + 1, held)
        granted = granted and right
    return granted, at


def _term(tokens: list[str], at: int, held: Collection[str]) -> tuple[bool, int]:
    if at >= len(tokens) or tokens[at] in ("AND", "OR", ")"):
        raise _Unparsable
    if tokens[at] == "(":
        granted, at = _any(tokens, at + 1, held)
        if at >= len(tokens) or tokens[at] != ")":
            raise _Unparsable
        return granted, at + 1
    return tokens[at] in held, at + 1
