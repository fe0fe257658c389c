"""Loading ``openapi.yaml`` and turning its operations into validators.

Everything the server knows about the contract comes from here: which paths
and methods exist, which operationId serves each, and the JSON Schema (Draft
2020-12, the dialect of OpenAPI 3.1) that a request body must satisfy.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import jsonschema_rs
import yaml

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry

# The spec is registered under this URI so that schemas anywhere in it can be
# compiled with their ``#/components/...`` references intact.
SPEC_URI = "urn:mockserver:openapi"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

try:  # libyaml's loader is several times faster; start-up time matters.
    _YamlLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _YamlLoader = yaml.SafeLoader


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


class SpecError(Exception):
    """The spec cannot be served: unreadable, or missing what the server needs."""


def escape_pointer_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class QueryParameter:
    name: str
    schema: dict[str, Any]
    validator: "Draft202012Validator"
    # jsonschema-rs, for the fast yes/no (see Operation.body_gate).
    gate: Any
    required: bool = False


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str  # upper case, as in HTTP
    path: str  # the OpenAPI path template, e.g. /api-auth/apps/{app_slug}
    body_validator: "Draft202012Validator | None"
    body_required: bool
    # The same body schema compiled by jsonschema-rs: a valid body passes in
    # about a microsecond, where jsonschema takes a hundred or more. Only a
    # body it refuses goes through ``body_validator`` for the field-by-field
    # messages.
    body_gate: Any = None
    documented_statuses: frozenset[int] = field(default_factory=frozenset)
    # The body's top-level properties: anything else in a body is ignored.
    body_properties: frozenset[str] | None = None
    query_parameters: tuple[QueryParameter, ...] = ()
    # Each documented status with its response object, references resolved.
    responses: dict[int, dict[str, Any]] = field(default_factory=dict)


class Spec:
    """A loaded OpenAPI document with one compiled validator per request body."""

    def __init__(self, document: dict[str, Any], source: str = "<memory>") -> None:
        if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
            raise SpecError(f"{source}: not an OpenAPI document (no 'paths' mapping)")
        self.document = document
        self.source = source
        self.operations: list[Operation] = list(self._read_operations())

    @cached_property
    def _registry(self) -> "Registry":
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        return Registry().with_resource(
            SPEC_URI, Resource(contents=self.document, specification=DRAFT202012)
        )

    def validator(
        self, pointer: str, format_checker: "FormatChecker | None" = None
    ) -> "Draft202012Validator":
        """The schema at ``pointer`` (a JSON pointer into the spec), compiled on first use."""

        def build() -> "Draft202012Validator":
            from jsonschema import Draft202012Validator

            return Draft202012Validator(
                {"$ref": f"{SPEC_URI}#{pointer}"},
                registry=self._registry,
                format_checker=format_checker,
            )

        return LazyValidator(build)  # type: ignore[return-value]

    def component_validator(self, schema_name: str) -> "Draft202012Validator":
        return self.validator(f"/components/schemas/{escape_pointer_token(schema_name)}")

    def resolve(self, node: Any) -> Any:
        """Follow local ``$ref``s until a node that is not a reference."""
        return self.resolve_at(node, "")[0]

    def resolve_at(self, node: Any, pointer: str) -> tuple[Any, str]:
        """Like :meth:`resolve`, also returning the JSON pointer of the node reached."""
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            pointer = node["$ref"].removeprefix("#")
            target: Any = self.document
            for token in pointer.removeprefix("/").split("/"):
                target = target[token.replace("~1", "/").replace("~0", "~")]
            node = target
        return node, pointer

    def operation(self, operation_id: str) -> Operation:
        for operation in self.operations:
            if operation.operation_id == operation_id:
                return operation
        raise KeyError(operation_id)

    def _read_operations(self) -> Any:
        for path, path_item in self.document["paths"].items():
            for method in HTTP_METHODS:
                details = path_item.get(method)
                if details is None:
                    continue
                operation_id = details.get("operationId")
                if not operation_id:
                    raise SpecError(f"{self.source}: {method.upper()} {path} has no operationId")
                pointer = f"/paths/{escape_pointer_token(path)}/{method}"
                body_schema = self._body_schema(details)
                yield Operation(
                    operation_id=operation_id,
                    method=method.upper(),
                    path=path,
                    body_validator=self._body_validator(details, pointer),
                    body_gate=self._body_gate(details, pointer),
                    body_required=bool(details.get("requestBody", {}).get("required", False)),
                    documented_statuses=frozenset(
                        int(status) for status in details.get("responses", {}) if status.isdigit()
                    ),
                    body_properties=(
                        frozenset(body_schema.get("properties", {}))
                        if body_schema is not None
                        else None
                    ),
                    query_parameters=tuple(
                        self._query_parameters(
                            path_item, details, f"/paths/{escape_pointer_token(path)}", pointer
                        )
                    ),
                    responses={
                        int(status): self.resolve(response)
                        for status, response in details.get("responses", {}).items()
                        if status.isdigit()
                    },
                )

    def _query_parameters(
        self, path_item: dict[str, Any], details: dict[str, Any], path_pointer: str, pointer: str
    ) -> Any:
        """The operation's query parameters, with those its path item declares
        for every operation (an operation's own parameter of the same name wins)."""
        declared: dict[str, QueryParameter] = {}
        for where, nodes in (
            (path_pointer, path_item.get("parameters", [])),
            (pointer, details.get("parameters", [])),
        ):
            for index, node in enumerate(nodes):
                parameter, at = self.resolve_at(node, f"{where}/parameters/{index}")
                if parameter.get("in") == "query":
                    declared[parameter["name"]] = QueryParameter(
                        name=parameter["name"],
                        schema=self.resolve(parameter.get("schema", {})),
                        validator=self.validator(f"{at}/schema"),
                        gate=self.gate(f"{at}/schema"),
                        required=bool(parameter.get("required", False)),
                    )
        return declared.values()

    def _body_schema(self, details: dict[str, Any]) -> dict[str, Any] | None:
        content = self.resolve(details.get("requestBody", {})).get("content", {})
        if "application/json" not in content:
            return None
        return self.resolve(content["application/json"].get("schema", {}))

    def gate(self, pointer: str) -> Any:
        """Compile the schema at ``pointer`` with jsonschema-rs, for a fast yes/no.

        The schema is a reference into a root that carries the spec's paths and
        components, so that every ``#/components/...`` reference resolves.
        """
        root = {
            "$ref": "#" + quote(pointer, safe="/~"),  # a URI fragment: braces are escaped
            "paths": self.document["paths"],
            "components": self.document.get("components", {}),
        }
        return jsonschema_rs.Draft202012Validator(root)

    def _body_gate(self, details: dict[str, Any], pointer: str) -> Any:
        if self._body_schema(details) is None:
            return None
        return self.gate(
            f"{pointer}/requestBody/content/{escape_pointer_token('application/json')}/schema"
        )

    def _body_validator(
        self, details: dict[str, Any], pointer: str
    ) -> "Draft202012Validator | None":
        content = details.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            return None
        media_pointer = f"{pointer}/requestBody/content/{escape_pointer_token('application/json')}"
        return self.validator(f"{media_pointer}/schema")


def load_spec(path: Path) -> Spec:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError(f"{path}: cannot read the spec: {error.strerror}") from None
    try:
        document = yaml.load(text, Loader=_YamlLoader)
    except yaml.YAMLError as error:
        raise SpecError(f"{path}: not valid YAML: {error}") from None
    return Spec(document, source=str(path))
