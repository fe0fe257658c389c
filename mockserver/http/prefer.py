"""Choosing the response, as Prism lets you: ``Prefer: code=NNN``,
``Prefer: example=NAME`` (or the query parameters ``__code`` and
``__example``), and ``Prefer: delay=MS``.

A forced response comes from the spec: the named or first example documented
for the status, else a body built from the schema's own examples (an error
envelope with the backend's message for error statuses), with the headers
the response documents (a 503's or a 429's ``Retry-After``), valued from
their examples. It is produced instead of running the handler, so it changes
no state.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mockserver.contract.errors import STANDARD_MESSAGES, ApiError, Problem
from mockserver.contract.jsontext import to_json
from mockserver.contract.numbers import NotAWholeNumber, parse_whole_number
from mockserver.contract.spec import Operation, Spec

MAX_DELAY_MS = 60_000
_PREFERENCE = re.compile(r"\s*([a-zA-Z_]+)\s*=\s*\"?([^\";,]*)\"?\s*")


@dataclass(frozen=True)
class Preferences:
    code: int | None = None
    example: str | None = None
    delay_ms: int | None = None
    # Where code and example came from ("Prefer", "__code", "__example"), for errors.
    code_source: str = "Prefer"
    example_source: str = "Prefer"

    @property
    def forces_response(self) -> bool:
        return self.code is not None or self.example is not None

    def applied(self) -> str:
        """The ``Preference-Applied`` header value (RFC 7240)."""
        parts = [f"code={self.code}"] if self.code is not None else []
        parts += [f"example={self.example}"] if self.example is not None else []
        parts += [f"delay={self.delay_ms}"] if self.delay_ms is not None else []
        return ", ".join(parts)


def _refuse(message: str, source: str) -> ApiError:
    return ApiError(400, [Problem(message, parameter=source)])


def _whole_number(text: str, name: str, source: str) -> int:
    """A number from the request, through the one parser of untrusted numbers."""
    try:
        # Nine digits are more than any status or delay has; more are refused unread.
        return parse_whole_number(text.strip(), max_digits=9)
    except NotAWholeNumber as expected:
        shown = text if len(text) <= 20 else text[:20] + "..."
        raise _refuse(f"{name} must be {expected}, got {shown!r}", source) from None


def read_preferences(prefer_header: str | None, query: Mapping[str, str]) -> Preferences:
    """Preferences from the ``Prefer`` header and the ``__code``/``__example``
    query parameters (the query wins, as in Prism). Unknown preferences are
    ignored, as RFC 7240 asks."""
    found: dict[str, str] = {}
    for part in (prefer_header or "").split(","):
        match = _PREFERENCE.fullmatch(part) if part.strip() else None
        if match:
            found[match.group(1).lower()] = match.group(2)
    code = example = delay = None
    if "__code" in query:
        code = _whole_number(query["__code"], "__code", "__code")
    elif "code" in found:
        code = _whole_number(found["code"], "code", "Prefer")
    if "__example" in query:
        example = query["__example"]
    elif "example" in found:
        example = found["example"]
    if "delay" in found:
        delay = _whole_number(found["delay"], "delay", "Prefer")
        if delay > MAX_DELAY_MS:
            raise _refuse(f"delay must be at most {MAX_DELAY_MS} ms", "Prefer")
    return Preferences(
        code=code,
        example=example,
        delay_ms=delay,
        code_source="__code" if "__code" in query else "Prefer",
        example_source="__example" if "__example" in query else "Prefer",
    )


def _named_examples(response: dict[str, Any], spec: Spec) -> dict[str, Any]:
    media = response.get("content", {}).get("application/json", {})
    examples = {
        name: spec.resolve(example).get("value")
        for name, example in media.get("examples", {}).items()
    }
    if not examples and "example" in media:
        examples["default"] = media["example"]
    return examples


def example_from_schema(schema: Any, spec: Spec, depth: int = 0) -> Any:
    """A value for ``schema`` made of the examples and defaults written in it."""
    schema = spec.resolve(schema)
    if not isinstance(schema, dict) or depth > 20:
        return None
    for keyword in ("example", "default", "const"):
        if keyword in schema:
            return schema[keyword]
    if schema.get("examples"):
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example_from_schema(part, spec, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    kind = schema.get("type")
    if isinstance(kind, list):  # nullable without an example: null is the realistic value
        return None if "null" in kind else example_from_schema({**schema, "type": kind[0]}, spec)
    if kind == "object" or "properties" in schema:
        return {
            name: example_from_schema(prop, spec, depth + 1)
            for name, prop in schema.get("properties", {}).items()
        }
    if kind == "array":
        item = example_from_schema(schema.get("items", {}), spec, depth + 1)
        return [] if item is None else [item]
    return {"string": "string", "integer": 0, "number": 0, "boolean": True}.get(kind)


def _documented_headers(response: dict[str, Any], spec: Spec) -> list[tuple[str, str]]:
    """The headers ``response`` documents, valued from their examples (or
    their schemas'), as a client of the real server would receive them."""
    headers = []
    for name, header in (response.get("headers") or {}).items():
        header = spec.resolve(header)
        if not isinstance(header, dict) or name.lower() == "content-type":
            continue  # OpenAPI ignores a documented Content-Type header
        value = header.get("example")
        if value is None:
            value = example_from_schema(header.get("schema", {}), spec)
        if value is not None:
            headers.append((name, value if isinstance(value, str) else to_json(value).decode()))
    return headers


def forced_response(
    operation: Operation, preferences: Preferences, spec: Spec
) -> tuple[int, Any, list[tuple[str, str]]]:
    """The status, body and headers the preferences ask for, or a 400 saying what exists."""
    status, body = _forced_status_and_body(operation, preferences, spec)
    return status, body, _documented_headers(operation.responses[status], spec)


def _forced_status_and_body(
    operation: Operation, preferences: Preferences, spec: Spec
) -> tuple[int, Any]:
    documented = sorted(operation.responses)
    if preferences.code is not None and preferences.code not in operation.responses:
        raise _refuse(
            f"{operation.operation_id} documents no {preferences.code} response; "
            f"it documents {', '.join(map(str, documented))}",
            preferences.code_source,
        )
    candidates = [preferences.code] if preferences.code is not None else documented
    if preferences.example is not None:
        for status in candidates:
            examples = _named_examples(operation.responses[status], spec)
            if preferences.example in examples:
                return status, examples[preferences.example]
        names = sorted(
            {
                name
                for status in candidates
                for name in _named_examples(operation.responses[status], spec)
            }
        )
        raise _refuse(
            f"{operation.operation_id} has no example named {preferences.example!r}; "
            f"it has {', '.join(names) or 'none'}",
            preferences.example_source,
        )
    assert preferences.code is not None
    status = preferences.code
    response = operation.responses[status]
    examples = _named_examples(response, spec)
    if examples:
        return status, next(iter(examples.values()))
    media = response.get("content", {}).get("application/json")
    if media is None:
        return status, None
    if status >= 400:
        return status, ApiError.single(status, STANDARD_MESSAGES.get(status)).envelope()
    return status, example_from_schema(media.get("schema", {}), spec)
