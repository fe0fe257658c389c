"""Validators made without importing jsonschema at start-up.

jsonschema-rs (the gates, spec.py) says yes or no to each request in a
microsecond; jsonschema only words what a gate refused. So a server that is
sent nothing invalid never needs jsonschema, whose import cost a tenth of a
second of every process's start-up: its validators are compiled on first use,
and a schema is checked with jsonschema-rs where its verdict is sure.
"""

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import jsonschema_rs

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator


class LazyValidator:
    """A jsonschema validator compiled on first use.

    jsonschema only words what jsonschema-rs refused (the gates), so a server
    that is sent nothing invalid never needs it: importing it cost a tenth of
    a second of every worker's start-up (bench/README.md, "Start-up").
    """

    def __init__(self, build: Callable[[], "Draft202012Validator"]) -> None:
        self._build = build
        self._validator: Draft202012Validator | None = None

    def __getattr__(self, name: str) -> Any:
        if self._validator is None:
            self._validator = self._build()
        return getattr(self._validator, name)


def surely_a_schema(schema: Any) -> bool:
    """Whether ``schema`` passes jsonschema's ``check_schema``, answered
    without importing jsonschema where that is sure: jsonschema-rs finds it
    valid against the same meta-schema, and each regular expression in it
    compiles in Python (check_schema's one format check that applies, the
    "regex" of ``pattern``). False means: ask check_schema, for its verdict
    and its words (a tenth of a second to import, as much again to check
    the bundled spec).
    """
    try:
        if not jsonschema_rs.meta.is_valid(schema):
            return False
    except Exception:  # a value jsonschema-rs cannot read (a YAML date...)
        return False
    return all(_compiles(pattern) for pattern in _patterns(schema))


def _patterns(node: Any) -> Iterator[Any]:
    """Every string that may be a ``pattern`` or ``patternProperties`` key
    (a few more, from examples, make only a false alarm)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            if key == "patternProperties" and isinstance(value, dict):
                yield from value
            yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


def _compiles(pattern: str) -> bool:
    import re

    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return False
    return True


def any_value() -> "Draft202012Validator":
    """The validator of a value without a schema: anything goes."""

    def build() -> "Draft202012Validator":
        from jsonschema import Draft202012Validator

        return Draft202012Validator({})

    return LazyValidator(build)  # type: ignore[return-value]


def gate_registry(resources: list[tuple[str, Any]]) -> Any:
    """The documents, each under its URI, as jsonschema-rs reads them: made
    once for every gate into them (a gate carrying a whole document would
    read all of it again)."""
    return jsonschema_rs.Registry(resources, draft=jsonschema_rs.Draft202012)


def surely_valid(registry: Any, reference: str, instance: Any) -> bool:
    """Whether jsonschema-rs finds ``instance`` valid against the schema at
    ``reference`` in ``registry``. False also when it cannot read it (a YAML
    date has no JSON): then jsonschema judges, and words what is wrong."""
    try:
        gate = jsonschema_rs.Draft202012Validator({"$ref": reference}, registry=registry)
        return bool(gate.is_valid(instance))
    except Exception:
        return False
