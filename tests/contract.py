"""Checks every response a test receives against openapi.yaml.

The expected shape of each response comes from the spec, never from the
test: the operation is found by method and path template, and the body is
validated against the schema documented for its status.
"""

import re
from datetime import datetime
from functools import cache
from typing import Any

from jsonschema import FormatChecker

from mockserver.contract.resources import default_spec_path, gateway_spec_path
from mockserver.contract.spec import Spec, escape_pointer_token, load_spec
from mockserver.tooling.admin import ADMIN_SPEC_PATH

FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_rfc3339(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
        raise ValueError(f"{value!r} is not RFC 3339")
    datetime.fromisoformat(value)
    return True


@cache
def contract() -> Spec:
    return load_spec(default_spec_path())


@cache
def admin_contract() -> Spec:
    return load_spec(ADMIN_SPEC_PATH)


@cache
def gateway_contract() -> Spec:
    return load_spec(gateway_spec_path())


GATEWAY_PREFIX = "/gateway/"


def _template_matches(template: str, path: str) -> bool:
    pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
    return re.match(pattern, path) is not None


def _resolve(spec: Spec, node: dict[str, Any], pointer: str) -> tuple[dict[str, Any], str]:
    """Follow a local ``$ref`` once, returning the target and its pointer."""
    ref = node.get("$ref")
    if ref is None:
        return node, pointer
    target: Any = spec.document
    for token in ref.removeprefix("#/").split("/"):
        target = target[token.replace("~1", "/").replace("~0", "~")]
    return target, ref.removeprefix("#")


def assert_conforms(method: str, path: str, status: int, headers: Any, body: Any) -> None:
    """Fail unless the response is one the spec documents for this request
    (openapi.yaml, the admin API's own document for /__admin/ paths, the
    gateway's for /gateway/ paths, which it documents without that prefix)."""
    spec = admin_contract() if path.startswith("/__admin/") else contract()
    path = path.split("?")[0]
    if path.startswith(GATEWAY_PREFIX):
        spec, path = gateway_contract(), path.removeprefix(GATEWAY_PREFIX[:-1])
    if _names_a_refused_header(status, body):
        # Refused before routing, whatever the path (README, "Statuses and
        # errors"): a Host the server does not answer, or a page of another
        # origin calling the admin API or the pages (403); a session header
        # that names no session (400), or a new session beyond --max-sessions
        # (429). No operation is involved, as with 404 and 405; the envelope
        # names the header at fault.
        _validate(contract(), "/components/schemas/ErrorEnvelope", body)
        return
    templates = [t for t in spec.document["paths"] if _template_matches(t, path)]
    operation = next(
        (
            spec.document["paths"][t].get(method.lower())
            for t in templates
            if method.lower() in spec.document["paths"][t]
        ),
        None,
    )
    if operation is None and method == "OPTIONS" and templates:
        # OPTIONS is answered for every path (CORS preflights, Allow): no body.
        assert status == 204 and body is None, f"OPTIONS {path} answered {status}"
        return
    if operation is None:
        # No operation: routing errors (404, 405) are sent in the documented envelope.
        assert status in (404, 405), f"{method} {path} matched no operation but got {status}"
        _validate(contract(), "/components/schemas/ErrorEnvelope", body)
        return
    template = next(t for t in templates if method.lower() in spec.document["paths"][t])
    responses = operation["responses"]
    if spec is admin_contract() and status == 404:
        # Started with --no-admin: the admin paths are not routed at all.
        _validate(contract(), "/components/schemas/ErrorEnvelope", body)
        return
    assert str(status) in responses, (
        f"{method} {template} answered {status}, which {spec.source} does not document"
    )
    pointer = f"/paths/{escape_pointer_token(template)}/{method.lower()}/responses/{status}"
    response, pointer = _resolve(spec, responses[str(status)], pointer)
    _check_headers(spec, response, pointer, headers)
    content = response.get("content")
    if not content:
        assert body is None, f"{status} documents no body"
        return
    media_type = headers.get("Content-Type", "").split(";")[0].strip()
    assert media_type in content, f"Content-Type {media_type!r} is not documented for {status}"
    if media_type == "application/json" or (
        media_type == "text/plain" and spec is gateway_contract()
    ):
        # A text body is validated as the string it is (the gateway's refusals).
        _validate(spec, f"{pointer}/content/{escape_pointer_token(media_type)}/schema", body)


_REFUSED_HEADERS = {
    403: ("Host", "Origin"),
    400: ("X-Mockserver-Session",),
    429: ("X-Mockserver-Session",),
}


def _names_a_refused_header(status: int, body: Any) -> bool:
    errors = body.get("errors") if isinstance(body, dict) else None
    return (
        isinstance(errors, list)
        and len(errors) == 1
        and isinstance(errors[0], dict)
        and errors[0].get("parameter") in _REFUSED_HEADERS.get(status, ())
    )


def _check_headers(spec: Spec, response: Any, pointer: str, headers: Any) -> None:
    """Each header the response documents: there when required, and its value
    as its schema says (a whole number for an integer, as HTTP writes it)."""
    for name, documented in (response.get("headers") or {}).items():
        header, at = _resolve(spec, documented, f"{pointer}/headers/{escape_pointer_token(name)}")
        value = headers.get(name)
        if value is None:
            assert not header.get("required"), f"the {name} header is required"
            continue
        if header.get("schema", {}).get("type") == "integer":
            whole = value.isascii() and value.isdigit()
            assert whole, f"the {name} header is not a whole number: {value!r}"
            value = int(value)
        _validate(spec, f"{at}/schema", value)


def _validate(spec: Spec, pointer: str, body: Any) -> None:
    errors = list(spec.validator(pointer, format_checker=FORMATS).iter_errors(body))
    assert not errors, "response breaks openapi.yaml: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or 'body'}: {e.message}" for e in errors
    )
