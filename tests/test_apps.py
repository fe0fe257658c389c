"""List, get, update and delete API auth apps over HTTP: a coherent world."""

from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from conftest import ContractClient
from test_create_app import only_error

APPS = "/api-auth/apps"
DEMO_SLUGS_NEWEST_FIRST = [
    entry["app_slug"]
    for entry in sorted(
        yaml.safe_load((Path(__file__).parents[1] / "fixtures" / "apps.yaml").read_text())["apps"],
        key=lambda entry: entry["created_at"],
        reverse=True,
    )
]
ACTIVE_DEMO_SLUGS = [slug for slug in DEMO_SLUGS_NEWEST_FIRST if slug != "legacy-webhooks"]


def slugs(response) -> list[str]:
    return [app["app_slug"] for app in response.get_json()["data"]]


# --- list ---------------------------------------------------------------------------


def test_a_fresh_server_lists_the_active_demo_apps_newest_first(client: ContractClient) -> None:
    page = client.get(APPS).get_json()
    assert [app["app_slug"] for app in page["data"]] == ACTIVE_DEMO_SLUGS
    assert page["limit"] == 50 and page["offset"] == 0 and page["has_more"] is False
    assert all(app["rate_limits"] or app["rate_limit_scheme_slug"] is None for app in page["data"])


def test_created_apps_come_first(client: ContractClient) -> None:
    client.create(app_slug="first")
    client.create(app_slug="second")
    assert slugs(client.get(APPS))[:2] == ["second", "first"]


def test_limit_offset_and_has_more_page_through_everything(client: ContractClient) -> None:
    for n in range(7):
        client.create(app_slug=f"page-{n}")
    seen: list[str] = []
    offset = 0
    while True:
        page = client.get(f"{APPS}?limit=4&offset={offset}").get_json()
        assert page["limit"] == 4 and page["offset"] == offset
        seen += [app["app_slug"] for app in page["data"]]
        if not page["has_more"]:
            break
        offset += 4
    assert seen == [f"page-{n}" for n in reversed(range(7))] + ACTIVE_DEMO_SLUGS


def test_search_finds_exactly_one_slug(client: ContractClient) -> None:
    client.create(app_slug="billing")
    assert slugs(client.get(f"{APPS}?search=billing")) == ["billing"]
    assert slugs(client.get(f"{APPS}?search=bill")) == []


def test_inactive_apps_are_listed_only_on_request(client: ContractClient) -> None:
    assert "legacy-webhooks" not in slugs(client.get(APPS))
    assert "legacy-webhooks" in slugs(client.get(f"{APPS}?include_inactive=true"))
    assert "legacy-webhooks" not in slugs(client.get(f"{APPS}?include_inactive=false"))


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=ten", "limit"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=1.5", "limit"),
        ("offset=-1", "offset"),
        ("offset=99999999999999999999", "offset"),
        ("offset=" + "1" * 5000, "offset"),
        # Only ASCII digits are a number: not a trailing newline, not other scripts' digits.
        ("limit=5%0A", "limit"),
        ("limit=%D9%A3", "limit"),
        ("limit=%C2%B2", "limit"),
        ("limit=1_0", "limit"),
        ("include_inactive=yes", "include_inactive"),
    ],
)
def test_a_bad_query_value_is_400_naming_the_parameter(
    client: ContractClient, query: str, parameter: str
) -> None:
    error = only_error(client.get(f"{APPS}?{query}"), 400)
    assert error["parameter"] == parameter
    assert parameter in error["message"]


def test_every_bad_query_parameter_is_reported(client: ContractClient) -> None:
    response = client.get(f"{APPS}?limit=x&offset=y&include_inactive=z")
    assert response.status_code == 400
    assert {e["parameter"] for e in response.get_json()["errors"]} == {
        "limit",
        "offset",
        "include_inactive",
    }


def test_listing_needs_a_key(client: ContractClient) -> None:
    only_error(client.get(APPS, auth=None), 401)


# --- get ----------------------------------------------------------------------------


def test_get_returns_what_create_returned(client: ContractClient) -> None:
    created = client.create(rate_limit_scheme_slug="standard-api").get_json()
    assert client.get(f"{APPS}/my-integration").get_json() == created


def test_get_an_unknown_app_is_404(client: ContractClient) -> None:
    assert only_error(client.get(f"{APPS}/nope"), 404)["message"] == "API key app not found"


def test_get_an_inactive_app_works(client: ContractClient) -> None:
    assert client.get(f"{APPS}/legacy-webhooks").get_json()["is_active"] is False


@pytest.mark.parametrize("slug", ["team/app", "with space", "ünï?cödé#1", "100%", "a.b", "..x"])
def test_slugs_that_need_encoding_work_in_paths(client: ContractClient, slug: str) -> None:
    assert client.create(app_slug=slug).status_code == 200
    path = f"{APPS}/{quote(slug, safe='')}"
    assert client.get(path).get_json()["app_slug"] == slug
    assert client.patch(path, json={"name": "Renamed"}).get_json()["name"] == "Renamed"
    assert client.delete(path).status_code == 200
    only_error(client.get(path), 404)


# --- patch --------------------------------------------------------------------------


def test_patch_changes_the_given_fields_and_keeps_the_rest(client: ContractClient) -> None:
    created = client.create(description="Old", permissions=["a"]).get_json()
    response = client.patch(
        f"{APPS}/my-integration",
        json={"name": "New name", "description": "New", "key_prefix": None, "permissions": ["b"]},
    )
    assert response.status_code == 200
    updated = response.get_json()
    assert updated["name"] == "New name"
    assert updated["description"] == "New"
    assert updated["key_prefix"] == created["key_prefix"]  # null means keep
    assert updated["permissions"] == ["b"]
    assert updated["resources"] == created["resources"]
    assert updated["id"] == created["id"] and updated["created_at"] == created["created_at"]
    assert updated["updated_at"] > created["updated_at"]
    assert client.get(f"{APPS}/my-integration").get_json() == updated


def test_an_empty_patch_changes_nothing_but_updated_at(client: ContractClient) -> None:
    created = client.create().get_json()
    updated = client.patch(f"{APPS}/my-integration", json={}).get_json()
    assert {k: v for k, v in updated.items() if k != "updated_at"} == {
        k: v for k, v in created.items() if k != "updated_at"
    }


def test_patch_re_resolves_rate_limits_when_the_scheme_changes(client: ContractClient) -> None:
    client.create(rate_limit_scheme_slug="default-rate-limits")
    updated = client.patch(
        f"{APPS}/my-integration", json={"rate_limit_scheme_slug": "standard-api"}
    ).get_json()
    assert updated["rate_limit_scheme_slug"] == "standard-api"
    assert [rule["priority"] for rule in updated["rate_limits"]] == [10, 5, 0, 20]


def test_deactivating_hides_an_app_from_the_default_list(client: ContractClient) -> None:
    client.create()
    assert client.patch(f"{APPS}/my-integration", json={"is_active": False}).status_code == 200
    assert "my-integration" not in slugs(client.get(APPS))
    assert client.get(f"{APPS}/my-integration").get_json()["is_active"] is False


def test_user_id_cannot_change_and_unknown_fields_are_ignored(client: ContractClient) -> None:
    created = client.create().get_json()
    updated = client.patch(
        f"{APPS}/my-integration", json={"user_id": "1001", "id": "1", "created_at": "x"}
    ).get_json()
    assert updated["user_id"] is None
    assert updated["id"] == created["id"] and updated["created_at"] == created["created_at"]


def test_an_app_with_a_user_can_move_workspace(client: ContractClient) -> None:
    client.create(user_id="1001", organization_id="2001")
    updated = client.patch(f"{APPS}/my-integration", json={"workspace_id": "3001"}).get_json()
    assert updated["workspace_id"] == "3001" and updated["organization_id"] == "2001"


PATCH_RULES = [
    (
        {"user_id": "1001"},
        {"permissions": ["x"]},
        "permissions/resources can only be updated when app is not attached to a user",
        "/permissions",
    ),
    (
        {"user_id": "1001"},
        {"resources": []},
        "permissions/resources can only be updated when app is not attached to a user",
        "/resources",
    ),
    (
        {},
        {"organization_id": "2001"},
        "organization_id/workspace_id cannot be set when app has no user_id",
        "/organization_id",
    ),
    (
        {},
        {"workspace_id": "3001"},
        "organization_id/workspace_id cannot be set when app has no user_id",
        "/workspace_id",
    ),
    (
        {"user_id": "1001"},
        {"organization_id": "2002"},
        "user_id is not a member of organization_id",
        "/user_id",
    ),
    (
        {"user_id": "1001"},
        {"workspace_id": "3999"},
        "workspace_id does not exist for this deployment",
        "/workspace_id",
    ),
    (
        {"user_id": "1001", "workspace_id": "3001"},
        {"organization_id": "2002"},
        "workspace_id does not belong to organization_id",
        "/workspace_id",
    ),
]


@pytest.mark.parametrize(("create", "patch", "message", "field"), PATCH_RULES)
def test_patch_rules_are_400_and_change_nothing(
    client: ContractClient, create: dict, patch: dict, message: str, field: str
) -> None:
    before = client.create(**create).get_json()
    error = only_error(client.patch(f"{APPS}/my-integration", json=patch), 400)
    assert error["message"] == message and error["field"] == field
    assert client.get(f"{APPS}/my-integration").get_json() == before


def test_patch_validates_the_body_against_the_schema(client: ContractClient) -> None:
    client.create()
    response = client.patch(f"{APPS}/my-integration", json={"is_active": "no", "name": 3})
    assert response.status_code == 422
    assert {e["field"] for e in response.get_json()["errors"]} == {"/is_active", "/name"}


def test_patch_an_unknown_app_is_404(client: ContractClient) -> None:
    only_error(client.patch(f"{APPS}/nope", json={"name": "x"}), 404)


# --- delete -------------------------------------------------------------------------


def test_delete_is_soft_and_the_app_is_gone_everywhere(client: ContractClient) -> None:
    client.create()
    response = client.delete(f"{APPS}/my-integration")
    assert response.status_code == 200 and response.get_json() == {}
    only_error(client.get(f"{APPS}/my-integration"), 404)
    only_error(client.patch(f"{APPS}/my-integration", json={"name": "x"}), 404)
    only_error(client.delete(f"{APPS}/my-integration"), 404)
    assert "my-integration" not in slugs(client.get(f"{APPS}?include_inactive=true"))
    assert slugs(client.get(f"{APPS}?search=my-integration")) == []


def test_a_deleted_slug_can_be_created_again(client: ContractClient) -> None:
    first = client.create(name="First").get_json()
    client.delete(f"{APPS}/my-integration")
    second = client.create(name="Second").get_json()
    assert second["id"] != first["id"] and second["name"] == "Second"
    assert client.get(f"{APPS}/my-integration").get_json() == second


def test_the_whole_lifecycle(client: ContractClient) -> None:
    created = client.create(app_slug="lifecycle", rate_limit_scheme_slug="default-rate-limits")
    assert created.status_code == 200
    assert slugs(client.get(APPS))[0] == "lifecycle"
    assert client.get(f"{APPS}/lifecycle").get_json() == created.get_json()
    renamed = client.patch(f"{APPS}/lifecycle", json={"name": "Renamed"}).get_json()
    assert client.get(f"{APPS}/lifecycle").get_json()["name"] == "Renamed" == renamed["name"]
    assert client.delete(f"{APPS}/lifecycle").get_json() == {}
    only_error(client.get(f"{APPS}/lifecycle"), 404)
    assert "lifecycle" not in slugs(client.get(APPS))
