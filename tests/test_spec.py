"""openapi.yaml itself: a valid OpenAPI 3.1 document that the server can serve."""

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from mockserver.backend.operations import OPERATIONS
from mockserver.contract.resources import default_spec_path
from mockserver.contract.spec import Spec, SpecError, load_spec


def test_openapi_yaml_is_a_valid_openapi_3_1_document() -> None:
    document, _ = read_from_filename(str(default_spec_path()))
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_operation_has_a_handler_and_every_handler_an_operation() -> None:
    spec = load_spec(default_spec_path())
    assert {op.operation_id for op in spec.operations} == set(OPERATIONS)


def test_every_operation_documents_its_errors_with_the_envelope() -> None:
    spec = load_spec(default_spec_path())
    responses = spec.document["components"]["responses"]
    for operation in spec.operations:
        assert 500 in operation.documented_statuses
        details = spec.document["paths"][operation.path][operation.method.lower()]
        for status, response in details["responses"].items():
            if int(status) >= 400:
                target = responses[response["$ref"].rsplit("/", 1)[1]]
                schema = target["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, status


def test_an_operation_without_operation_id_is_refused() -> None:
    document = {"openapi": "3.1.0", "paths": {"/x": {"get": {"responses": {"200": {}}}}}}
    with pytest.raises(SpecError, match="GET /x has no operationId"):
        Spec(document, source="bad.yaml")


def test_query_parameters_of_a_path_item_apply_to_its_operations() -> None:
    limit = {"name": "limit", "in": "query", "schema": {"type": "integer"}}
    own = {"name": "limit", "in": "query", "schema": {"type": "string"}}
    document = {
        "openapi": "3.1.0",
        "paths": {
            "/x": {
                "parameters": [limit],
                "get": {"operationId": "getX", "responses": {"200": {"description": "ok"}}},
                "put": {
                    "operationId": "putX",
                    "parameters": [own],
                    "responses": {"200": {"description": "ok"}},
                },
            }
        },
    }
    spec = Spec(document)
    assert [p.schema["type"] for p in spec.operation("getX").query_parameters] == ["integer"]
    assert [p.schema["type"] for p in spec.operation("putX").query_parameters] == ["string"]
    assert spec.operation("getX").query_parameters[0].gate.is_valid(3)
