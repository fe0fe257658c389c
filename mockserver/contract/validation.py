"""Reading a request body and checking it against the operation's schema.

Each step fails with the status the real backend uses: 400 for a body that is
not JSON at all, 422 for JSON that breaks the schema. A 422 lists every
violation at once, each naming its field, because a developer fixing a form
wants all of them in one round trip.
"""

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from mockserver.contract.errors import ApiError, Problem
from mockserver.contract.numbers import parse_whole_number
from mockserver.contract.spec import Operation, QueryParameter

_TYPE_WORDS = {
    "string": "a string",
    "array": "an array",
    "object": "an object",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}
# A JSON escape of a UTF-16 surrogate; only then can a parsed string hold one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_body(raw: bytes) -> Any:
    """Parse a body as strict JSON, as the backend's serde_json does.

    Refused with 400: an empty body, bytes that are not UTF-8, NaN and
    Infinity, strings with lone surrogates (they cannot be stored), numbers
    too long to convert, and nesting deep enough to exhaust the parser.
    """
    if not raw.strip():
        raise ApiError.single(400, detail="The request body is empty; send a JSON object.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ApiError.single(
            400, detail=f"The request body is not valid UTF-8 (byte {error.start})."
        ) from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError.single(400, detail="The JSON body is nested too deeply.") from None
    except ValueError as error:  # JSONDecodeError, over-long integers, NaN
        raise ApiError.single(400, detail=f"The request body is not valid JSON: {error}.") from None
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError.single(
                400, detail="The JSON body contains a lone UTF-16 surrogate escape."
            ) from None
    return value


def pointer_of(path: Iterable[Any]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def display_name(path: Iterable[Any]) -> str:
    """``["permissions", 0]`` becomes ``permissions[0]``; the root is ``body``."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def _describe_types(expected: Any) -> str:
    names = expected if isinstance(expected, list) else [expected]
    return " or ".join(_TYPE_WORDS.get(name, name) for name in names)


def _problem(
    error: ValidationError, name: str | None = None, parameter: str | None = None
) -> Problem:
    """One violation in words. ``name`` and ``parameter`` are given for a query
    parameter; otherwise the field is named by its path in the body."""
    path = list(error.absolute_path)
    if error.validator == "required":
        # jsonschema reports one error per missing property, naming it in the message.
        missing = [name for name in error.validator_value if name not in error.instance]
        path.append(next((name for name in missing if repr(name) in error.message), missing[0]))
        return Problem(f"{display_name(path)} is required", field=pointer_of(path))
    field = None if parameter else pointer_of(path)
    name = name or display_name(path)
    if error.validator == "type":
        message = f"{name} must be {_describe_types(error.validator_value)}"
        if not path and parameter is None:
            message = f"The request body must be {_describe_types(error.validator_value)}"
    elif error.validator == "enum":
        choices = ", ".join(json.dumps(choice) for choice in error.validator_value)
        message = f"{name} must be one of {choices}"
    elif error.validator == "minimum":
        message = f"{name} must be at least {error.validator_value}"
    elif error.validator == "maximum":
        message = f"{name} must be at most {error.validator_value}"
    elif error.validator == "minLength":
        message = (
            f"{name} must not be empty"
            if error.validator_value == 1
            else (f"{name} must have at least {error.validator_value} characters")
        )
    elif error.validator in ("anyOf", "oneOf") and error.context:
        message = f"{name} must be {_describe_alternatives(error)}"
    else:
        message = f"{name}: {error.message}"
    return Problem(message, field=field, parameter=parameter)


def _leaf_errors(error: ValidationError) -> Iterable[ValidationError]:
    for sub in error.context or ():
        if sub.validator in ("anyOf", "oneOf") and sub.context:
            yield from _leaf_errors(sub)
        else:
            yield sub


def _describe_alternatives(error: ValidationError) -> str:
    """What a value of ``anyOf``/``oneOf`` may be, in the words of its
    alternatives' own refusals (an id: an integer, a string of digits, null)."""
    words: list[str] = []
    for leaf in _leaf_errors(error):
        if leaf.validator == "type":
            word = _describe_types(leaf.validator_value)
        elif leaf.validator == "pattern":
            word = f"a string matching {leaf.validator_value}"
        else:
            continue
        if word not in words:
            words.append(word)
    return " or ".join(words) if words else f"valid: {error.message}"


def schema_problems(validator: Draft202012Validator, instance: Any) -> list[Problem]:
    """Every violation of the schema, ordered by field so responses are stable."""
    problems = [_problem(error) for error in validator.iter_errors(instance)]
    return sorted(problems, key=lambda problem: problem.field or "")


def validate_body(operation: Operation, instance: Any) -> None:
    """Raise a 422 listing every violation of the operation's body schema."""
    if operation.body_gate is not None and operation.body_gate.is_valid(instance):
        return
    assert operation.body_validator is not None
    problems = schema_problems(operation.body_validator, instance)
    if problems:
        raise ApiError(422, problems)


_BOOLEANS = {"true": True, "false": False}


def _coerce(raw: str, schema: dict[str, Any]) -> Any:
    """A query string value as the type its schema names; ValueError if it is not one."""
    kind = schema.get("type", "string")
    if kind == "integer":
        return parse_whole_number(raw, signed=True)
    if kind == "boolean":
        if raw not in _BOOLEANS:
            raise ValueError("true or false")
        return _BOOLEANS[raw]
    return raw


def parse_query(parameters: Iterable[QueryParameter], args: Mapping[str, str]) -> dict[str, Any]:
    """Typed query parameters with the spec's defaults filled in; a bad value is
    a 400 naming the parameter (every bad one at once). Unknown ones are ignored."""
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for parameter in parameters:
        raw = args.get(parameter.name)
        if raw is None:
            if parameter.required:
                problems.append(Problem(f"{parameter.name} is required", parameter=parameter.name))
            else:
                values[parameter.name] = parameter.schema.get("default")
            continue
        try:
            value = _coerce(raw, parameter.schema)
        except ValueError as expected:
            problems.append(
                Problem(f"{parameter.name} must be {expected}", parameter=parameter.name)
            )
            continue
        if not parameter.gate.is_valid(value):
            for error in parameter.validator.iter_errors(value):
                problems.append(_problem(error, name=parameter.name, parameter=parameter.name))
        values[parameter.name] = value
    if problems:
        raise ApiError(400, problems)
    return values
