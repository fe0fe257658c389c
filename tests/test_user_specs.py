"""Specs a user brings (--spec, mockserver check): any valid OpenAPI 3.1
way of writing the contract is served; a broken one is refused by name."""

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ContractClient
from local_servers import run_to_exit
from test_create_app import only_error

from mockserver import Settings, create_app
from mockserver.contract.resources import default_spec_path

APPS = "/api-auth/apps"


def bundled() -> dict[str, Any]:
    return yaml.safe_load(default_spec_path().read_text())


def rewritten(document: dict[str, Any]) -> dict[str, Any]:
    """The bundled contract written another valid way: the create body, the
    ``limit`` parameter and a 200 response behind ``$ref``s, the update body
    optional, and every status key an integer (``200:`` unquoted in YAML)."""
    document = copy.deepcopy(document)
    components = document["components"]
    apps = document["paths"][APPS]
    components["requestBodies"] = {"CreateApp": apps["post"]["requestBody"]}
    apps["post"]["requestBody"] = {"$ref": "#/components/requestBodies/CreateApp"}
    parameters = apps["get"]["parameters"]
    index = next(i for i, p in enumerate(parameters) if p["name"] == "limit")
    components.setdefault("parameters", {})["Limit"] = parameters[index]
    parameters[index] = {"$ref": "#/components/parameters/Limit"}
    components["responses"]["AppCreated"] = apps["post"]["responses"]["200"]
    apps["post"]["responses"]["200"] = {"$ref": "#/components/responses/AppCreated"}
    document["paths"][f"{APPS}/{{app_slug}}"]["patch"]["requestBody"]["required"] = False
    for path_item in document["paths"].values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"] = {int(k): v for k, v in operation["responses"].items()}
    return document


def write(tmp_path: Path, document: dict[str, Any]) -> Path:
    spec = tmp_path / "openapi.yaml"
    spec.write_text(yaml.safe_dump(document, sort_keys=False))
    return spec


@pytest.fixture
def rewritten_client(tmp_path: Path) -> ContractClient:
    spec = write(tmp_path, rewritten(bundled()))
    assert "\n        200:\n" in spec.read_text()  # the keys really are YAML integers
    return ContractClient(create_app(Settings(spec_path=spec)))


def test_integer_status_keys_and_referenced_responses_are_served(rewritten_client) -> None:
    created = rewritten_client.create(app_slug="from-a-user-spec")
    assert created.status_code == 200 and created.get_json()["app_slug"] == "from-a-user-spec"
    forced = rewritten_client.create(headers={"Prefer": "code=403"})
    assert only_error(forced, 403)["message"] == "API auth app creation requires Growth plan"


def test_a_referenced_request_body_is_validated(rewritten_client) -> None:
    response = rewritten_client.post(APPS, json={"app_slug": 1})
    assert response.status_code == 422
    fields = {error["field"] for error in response.get_json()["errors"]}
    assert fields == {"/app_slug", "/name", "/key_prefix"}


def test_a_referenced_query_parameter_is_validated(rewritten_client) -> None:
    assert only_error(rewritten_client.get(f"{APPS}?limit=0"), 400)["parameter"] == "limit"
    assert len(rewritten_client.get(f"{APPS}?limit=1").get_json()["data"]) == 1


def test_an_optional_request_body_may_be_left_out(rewritten_client) -> None:
    before = rewritten_client.get(f"{APPS}/billing-sync").get_json()
    response = rewritten_client.patch(f"{APPS}/billing-sync")
    assert response.status_code == 200
    after = response.get_json()
    assert {**after, "updated_at": None} == {**before, "updated_at": None}  # nothing changed
    # Where the body is required, leaving it out is still the 400 saying so.
    required = rewritten_client.post(APPS, headers={"Content-Type": "application/json"})
    assert "empty" in only_error(required, 400)["detail"]


# --- broken specs: exit 2 naming the pointer, never a traceback -------------------------


def dangling_reference(document: dict[str, Any]) -> dict[str, Any]:
    body = document["paths"][APPS]["post"]["requestBody"]["content"]["application/json"]
    body["schema"] = {"$ref": "#/components/schemas/NoSuchSchema"}
    return document


def uncompilable_body_schema(document: dict[str, Any]) -> dict[str, Any]:
    schema = document["components"]["schemas"]["CreateApiAuthAppRequest"]
    schema["properties"]["app_slug"] = {"type": "text"}
    return document


def reference_cycle(document: dict[str, Any]) -> dict[str, Any]:
    document["components"]["schemas"]["A"] = {"$ref": "#/components/schemas/B"}
    document["components"]["schemas"]["B"] = {"$ref": "#/components/schemas/A"}
    body = document["paths"][APPS]["post"]["requestBody"]["content"]["application/json"]
    body["schema"] = {"$ref": "#/components/schemas/A"}
    return document


BROKEN = [
    (
        dangling_reference,
        "#/paths/~1api-auth~1apps/post/requestBody/content/application~1json/schema",
    ),
    (uncompilable_body_schema, "#/components/schemas/CreateApiAuthAppRequest/properties/app_slug"),
    (reference_cycle, "cycle"),
]


BROKEN_IDS = [breaking.__name__ for breaking, _ in BROKEN]


def mockserver(*args: str) -> subprocess.CompletedProcess[str]:
    return run_to_exit([sys.executable, "-m", "mockserver", *args], timeout=120)


@pytest.mark.parametrize(("breaking", "named"), BROKEN, ids=BROKEN_IDS)
def test_check_refuses_a_broken_spec_naming_the_pointer(tmp_path, breaking, named) -> None:
    spec = write(tmp_path, breaking(bundled()))
    result = mockserver("check", "--spec", str(spec))
    assert result.returncode == 2, result.stderr
    assert named in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("breaking", "named"), BROKEN, ids=BROKEN_IDS)
def test_serve_refuses_a_broken_spec_naming_the_pointer(tmp_path, breaking, named) -> None:
    spec = write(tmp_path, breaking(bundled()))
    result = mockserver("serve", "--port", "0", "--workers", "1", "--spec", str(spec))
    assert result.returncode == 2, result.stderr
    assert named in result.stderr and "Traceback" not in result.stderr
