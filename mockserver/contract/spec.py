"""Loading ``openapi.yaml`` and turning its operations into validators.

Everything the server knows about the contract comes from here: which paths
and methods exist, which operationId serves each, and the JSON Schema (Draft
2020-12, the dialect of OpenAPI 3.1) that a request body must satisfy.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import jsonschema_rs
import yaml

from mockserver.contract.validators import (
    LazyValidator,
    any_value,
    gate_registry,
    surely_a_schema,
)

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


# A chain of references longer than this is taken for a cycle.
_MAX_REFERENCE_HOPS = 64


class SpecError(Exception):
    """The spec cannot be served: unreadable, or missing what the server needs.
    Every problem of a document a user brings ends here, naming where it is."""


def escape_pointer_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pointer(tokens: Iterator[Any] | list[Any]) -> str:
    return "".join("/" + escape_pointer_token(str(token)) for token in tokens)


def json_keys(node: Any) -> Any:
    """The document with every mapping key a string, as in JSON. YAML reads
    an unquoted ``200:`` as the integer 200; OpenAPI means the string."""
    if isinstance(node, dict):
        return {_key_text(key): json_keys(value) for key, value in node.items()}
    if isinstance(node, list):
        return [json_keys(item) for item in node]
    return node


def _key_text(key: Any) -> str:
    if isinstance(key, bool) or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    return str(key)


def status_code(key: str) -> int | None:
    """A response key's status (``"200"`` -> 200); None for ``default``, ``2XX``..."""
    return int(key) if len(key) == 3 and key.isascii() and key.isdigit() else None


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
    # The operation's own ``security: []``: it needs no credentials at all.
    public: bool = False
    # Body properties whose schema is marked ``x-mockserver-decimal-string``
    # (FlexibleId): a number sent as an integer or as digits, kept as digits.
    decimal_string_properties: frozenset[str] = frozenset()


class Spec:
    """A loaded OpenAPI document with one compiled validator per request body.

    ``checked`` says the document was already served by this program in
    another process (a worker of ``serve`` gets the one its settings check
    read, serving/boot.py): its references and schemas are not checked again,
    which would import jsonschema at every worker's start-up.
    """

    def __init__(
        self, document: dict[str, Any], source: str = "<memory>", checked: bool = False
    ) -> None:
        if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
            raise SpecError(f"{source}: not an OpenAPI document (no 'paths' mapping)")
        self.document = document
        self.source = source
        self._checked = checked
        if not checked:
            self._check_references(document, [])
        self.operations: list[Operation] = []
        for path, method, details in self._operation_nodes():
            pointer = f"/paths/{escape_pointer_token(path)}/{method}"
            try:
                self.operations.append(self._operation(path, method, details, pointer))
            except SpecError:
                raise
            except Exception as error:  # whatever a malformed document breaks
                raise SpecError(
                    f"{source}: #{pointer}: cannot be served: {type(error).__name__}: {error}"
                ) from None

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

    def component_schema(self, name: str) -> Any:
        """The schema ``#/components/schemas/NAME`` that mockserver itself needs;
        SpecError naming it if the document has none."""
        schemas = self.document.get("components", {}).get("schemas", {})
        if not isinstance(schemas, dict) or name not in schemas:
            raise SpecError(f"{self.source}: #/components/schemas/{name}: mockserver needs it")
        return self.resolve(schemas[name])

    def component_validator(self, schema_name: str) -> "Draft202012Validator":
        return self.validator(f"/components/schemas/{escape_pointer_token(schema_name)}")

    def resolve(self, node: Any) -> Any:
        """Follow local ``$ref``s until a node that is not a reference."""
        return self.resolve_at(node, "")[0]

    def resolve_at(self, node: Any, pointer: str) -> tuple[Any, str]:
        """Like :meth:`resolve`, also returning the JSON pointer of the node
        reached. SpecError for a reference to nothing, outside the document,
        or in a cycle, naming where the reference is."""
        for _ in range(_MAX_REFERENCE_HOPS):
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
                return node, pointer
            node, pointer = self._target(node["$ref"], pointer), unquote(node["$ref"][1:])
        raise SpecError(f"{self.source}: #{pointer}: the references form a cycle")

    def _target(self, reference: str, at: str, decode: bool = True) -> Any:
        if not reference.startswith("#"):
            raise SpecError(
                f"{self.source}: #{at}/$ref: {reference!r} is outside the document; "
                "mockserver serves one self-contained file (only #/... references)"
            )
        target: Any = self.document
        # A reference is a URI fragment: braces in a path are written %7B...%7D.
        fragment = unquote(reference[1:]) if decode else reference[1:]
        for token in fragment.split("/")[1:] if fragment else []:
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and token in target:
                target = target[token]
            elif isinstance(target, list) and token.isascii() and token.isdigit():
                if int(token) >= len(target):
                    raise SpecError(f"{self.source}: #{at}/$ref: {reference!r} points at nothing")
                target = target[int(token)]
            else:
                raise SpecError(f"{self.source}: #{at}/$ref: {reference!r} points at nothing")
        return target

    def _check_references(self, node: Any, at: list[Any]) -> None:
        """Every ``$ref`` in the document resolves: a dangling one is found at
        load, named by its pointer, rather than as a 500 on the first request."""
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                self.resolve_at(node, _pointer(at))
            for key, value in node.items():
                self._check_references(value, [*at, key])
        elif isinstance(node, list):
            for index, item in enumerate(node):
                self._check_references(item, [*at, index])

    def operation(self, operation_id: str) -> Operation:
        for operation in self.operations:
            if operation.operation_id == operation_id:
                return operation
        raise KeyError(operation_id)

    def _operation_nodes(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Each (path, method, operation object), path items' references followed."""
        for path, item in self.document["paths"].items():
            path_item = self.resolve_at(item, f"/paths/{escape_pointer_token(path)}")[0]
            if not isinstance(path_item, dict):
                raise SpecError(
                    f"{self.source}: #/paths/{escape_pointer_token(path)}: not a mapping"
                )
            for method in HTTP_METHODS:
                details = path_item.get(method)
                if details is None:
                    continue
                if not isinstance(details, dict) or not details.get("operationId"):
                    raise SpecError(f"{self.source}: {method.upper()} {path} has no operationId")
                yield path, method, details

    def _operation(
        self, path: str, method: str, details: dict[str, Any], pointer: str
    ) -> Operation:
        path_item = self.resolve(self.document["paths"][path])
        body = self._request_body(details, pointer)
        responses = {
            status_code(str(key)): (str(key), response)
            for key, response in details.get("responses", {}).items()
        }
        responses.pop(None, None)
        return Operation(
            operation_id=details["operationId"],
            method=method.upper(),
            path=path,
            body_validator=None if body is None else self._checked_validator(body[1]),
            body_gate=None if body is None else self._gate_or_any(body[1]),
            body_required=bool(self.resolve(details.get("requestBody", {})).get("required")),
            documented_statuses=frozenset(status for status in responses if status is not None),
            body_properties=(
                frozenset(body[0].get("properties", {}))
                if body is not None and isinstance(body[0], dict)
                else None
            ),
            query_parameters=tuple(
                self._query_parameters(
                    path_item, details, f"/paths/{escape_pointer_token(path)}", pointer
                )
            ),
            responses={
                status: self.resolve_at(response, f"{pointer}/responses/{key}")[0]
                for status, (key, response) in responses.items()
                if status is not None
            },
            public=details.get("security") == [],
            decimal_string_properties=(
                frozenset(self._decimal_string_properties(body[0]))
                if body is not None
                else frozenset()
            ),
        )

    def _decimal_string_properties(self, body_schema: Any) -> Iterator[str]:
        """The body's top-level properties that are, or may be (an anyOf or
        oneOf branch), a schema marked ``x-mockserver-decimal-string``."""
        if not isinstance(body_schema, dict):
            return
        for name, schema in body_schema.get("properties", {}).items():
            schema = self.resolve(schema)
            branches = [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]
            if any(self.resolve(branch).get("x-mockserver-decimal-string") for branch in branches):
                yield name

    def _gate_or_any(self, pointer: str | None) -> Any:
        return jsonschema_rs.Draft202012Validator({}) if pointer is None else self.gate(pointer)

    def _checked_validator(self, pointer: str | None) -> "Draft202012Validator":
        """The validator of the schema at ``pointer`` (None: no schema, any
        value), once it is known to be a schema: one that does not compile is a
        SpecError naming where it breaks."""
        if pointer is None:
            return any_value()
        if self._checked:
            return self.validator(pointer)
        schema, at = self.resolve_at(self._target("#" + pointer, pointer, decode=False), pointer)
        if surely_a_schema(schema):
            return self.validator(pointer)
        from jsonschema import Draft202012Validator, SchemaError

        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as error:
            where = at + _pointer(list(error.absolute_path))
            raise SpecError(
                f"{self.source}: #{where}: not a valid JSON Schema: {error.message}"
            ) from None
        return self.validator(pointer)

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
                    # A parameter without a schema takes any string.
                    has_schema = "schema" in parameter
                    declared[parameter["name"]] = QueryParameter(
                        name=parameter["name"],
                        schema=self.resolve(parameter.get("schema", {})),
                        validator=self._checked_validator(f"{at}/schema")
                        if has_schema
                        else any_value(),
                        gate=self.gate(f"{at}/schema")
                        if has_schema
                        else jsonschema_rs.Draft202012Validator({}),
                        required=bool(parameter.get("required", False)),
                    )
        return declared.values()

    def _request_body(self, details: dict[str, Any], pointer: str) -> tuple[Any, str | None] | None:
        """The JSON body's schema and its pointer (through any ``$ref`` to a
        request body), or None if the operation takes no JSON body."""
        if "requestBody" not in details:
            return None
        request_body, at = self.resolve_at(details["requestBody"], f"{pointer}/requestBody")
        media = request_body.get("content", {}).get("application/json")
        if media is None:
            return None
        if "schema" not in media:  # any JSON at all
            return {}, None
        media_pointer = f"{at}/content/{escape_pointer_token('application/json')}"
        return self.resolve(media["schema"]), f"{media_pointer}/schema"

    def gate(self, pointer: str) -> Any:
        """Compile the schema at ``pointer`` with jsonschema-rs, for a fast yes/no.

        The schema is a reference into the document, registered under
        ``SPEC_URI``, so that every ``#/components/...`` reference resolves.
        """
        # A URI fragment: braces are escaped.
        reference = {"$ref": f"{SPEC_URI}#{quote(pointer, safe='/~')}"}
        return jsonschema_rs.Draft202012Validator(reference, registry=self._gate_registry)

    @cached_property
    def _gate_registry(self) -> Any:
        # A gate carrying the document itself read all of it again: 38 gates
        # took 120 ms of every worker's start-up, 3 ms this way.
        return gate_registry([(SPEC_URI, self.document)])


def load_document(path: Path) -> Any:
    """The YAML (or JSON) document at ``path``, keys as in JSON; SpecError if unreadable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise SpecError(f"{path}: cannot read the spec: {reason}") from None
    try:
        return json_keys(yaml.load(text, Loader=_YamlLoader))
    except yaml.YAMLError as error:
        raise SpecError(f"{path}: not valid YAML: {error}") from None


def load_spec(path: Path) -> Spec:
    return Spec(load_document(path), source=str(path))
