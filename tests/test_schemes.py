"""Rate-limit schemes over HTTP, and how apps resolve their rules from them."""

from pathlib import Path

import pytest
import yaml
from conftest import ContractClient
from test_create_app import only_error

SCHEMES = "/api-auth/rate-limit-schemes"
APPS = "/api-auth/apps"
FIXTURE_SLUGS = [
    entry["slug"]
    for entry in yaml.safe_load(
        (Path(__file__).parents[1] / "fixtures" / "rate_limit_schemes.yaml").read_text()
    )["rate_limit_schemes"]
]
BURST = {"unit": "second", "duration": 10, "max_requests": 50}


def create_scheme(client: ContractClient, **fields):
    body = {"slug": "burst", "name": "Burst", "rules": [BURST]}
    body.update(fields)
    return client.post(SCHEMES, json=body)


def test_the_fixture_schemes_are_listed_most_recently_updated_first(client: ContractClient) -> None:
    listing = client.get(SCHEMES).get_json()
    assert listing["total"] == len(listing["schemes"]) == len(FIXTURE_SLUGS)
    assert sorted(scheme["slug"] for scheme in listing["schemes"]) == sorted(FIXTURE_SLUGS)
    stamps = [scheme["updated_at"] for scheme in listing["schemes"]]
    assert stamps == sorted(stamps, reverse=True)


def test_create_fills_in_rule_defaults_and_trims(client: ContractClient) -> None:
    response = create_scheme(client, slug="  burst  ", name=" Burst ", description="Short bursts")
    assert response.status_code == 200
    scheme = response.get_json()
    assert scheme["slug"] == "burst" and scheme["name"] == "Burst"
    assert scheme["description"] == "Short bursts"
    assert scheme["rules"] == [{**BURST, "mode": "per_app", "endpoints": ["*"], "priority": 0}]
    assert scheme["deployment_id"] == "9042835537924242"
    assert scheme["created_at"] == scheme["updated_at"]
    assert client.get(f"{SCHEMES}/burst").get_json() == scheme
    assert client.get(SCHEMES).get_json()["schemes"][0] == scheme


def test_a_limit_past_64_bits_is_kept_exactly(client: ContractClient) -> None:
    """JSON has no integer limit, and the contract sets none for max_requests."""
    huge = 2**70 + 1
    created = create_scheme(client, rules=[{**BURST, "max_requests": huge}])
    assert created.status_code == 200
    assert created.get_json()["rules"][0]["max_requests"] == huge
    stored = client.get(f"{SCHEMES}/burst").get_json()
    assert stored["rules"][0]["max_requests"] == huge


@pytest.mark.parametrize(
    ("fields", "message", "field"),
    [
        ({"slug": "   "}, "Scheme slug is required", "/slug"),
        ({"name": ""}, "Scheme name is required", "/name"),
        ({"rules": []}, "Rate limit scheme must include at least one rule", "/rules"),
        (
            {"rules": [{"unit": "second", "duration": 1801, "max_requests": 1}]},
            "duration 1801 exceeds the cap of 1800 for unit 'second'",
            "/rules/0/duration",
        ),
        (
            {"rules": [BURST, {"unit": "month", "duration": 2, "max_requests": 1}]},
            "duration must be 1 for unit 'month' (got 2)",
            "/rules/1/duration",
        ),
    ],
)
def test_create_rules_are_400_naming_the_field(
    client: ContractClient, fields: dict, message: str, field: str
) -> None:
    error = only_error(create_scheme(client, **fields), 400)
    assert (error["message"], error["field"]) == (message, field)
    only_error(client.get(f"{SCHEMES}/burst"), 404)


def test_every_broken_rule_is_named_at_once(client: ContractClient) -> None:
    response = create_scheme(
        client,
        name=" ",
        rules=[
            {"unit": "hour", "duration": 721, "max_requests": 1},
            BURST,
            {"unit": "day", "duration": 31, "max_requests": 1},
        ],
    )
    assert response.status_code == 400
    assert [e["field"] for e in response.get_json()["errors"]] == [
        "/name",
        "/rules/0/duration",
        "/rules/2/duration",
    ]


def test_create_validates_rules_against_the_schema(client: ContractClient) -> None:
    response = create_scheme(
        client, rules=[{"unit": "week", "duration": 0, "max_requests": "many", "mode": "x"}]
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.get_json()["errors"]}
    assert fields == {
        "/rules/0/unit",
        "/rules/0/duration",
        "/rules/0/max_requests",
        "/rules/0/mode",
    }


def test_a_duplicate_slug_is_409_with_the_backend_message(client: ContractClient) -> None:
    error = only_error(create_scheme(client, slug="default-rate-limits"), 409)
    assert error["message"] == "Rate limit scheme 'default-rate-limits' already exists"


def test_get_an_unknown_scheme_is_404(client: ContractClient) -> None:
    assert (
        only_error(client.get(f"{SCHEMES}/nope"), 404)["message"] == "Rate limit scheme not found"
    )


def test_patch_changes_what_is_given_and_keeps_what_is_null(client: ContractClient) -> None:
    created = create_scheme(client, description="Old").get_json()
    rules = [{"unit": "minute", "duration": 5, "max_requests": 10, "priority": 3}]
    updated = client.patch(
        f"{SCHEMES}/burst", json={"name": "Renamed", "description": None, "rules": rules}
    ).get_json()
    assert updated["name"] == "Renamed"
    assert updated["description"] == "Old"
    assert updated["rules"] == [{**rules[0], "mode": "per_app", "endpoints": ["*"]}]
    assert updated["created_at"] == created["created_at"]
    assert updated["updated_at"] > created["updated_at"]
    assert client.get(SCHEMES).get_json()["schemes"][0]["slug"] == "burst"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"name": "  "}, "Scheme name cannot be empty"),
        ({"rules": []}, "Rate limit scheme must include at least one rule"),
        (
            {"rules": [{"unit": "millisecond", "duration": 60001, "max_requests": 1}]},
            "duration 60001 exceeds the cap of 60000 for unit 'millisecond'",
        ),
    ],
)
def test_patch_rules_are_400_and_change_nothing(
    client: ContractClient, patch: dict, message: str
) -> None:
    before = create_scheme(client).get_json()
    assert only_error(client.patch(f"{SCHEMES}/burst", json=patch), 400)["message"] == message
    assert client.get(f"{SCHEMES}/burst").get_json() == before


def test_patch_an_unknown_scheme_is_404(client: ContractClient) -> None:
    only_error(client.patch(f"{SCHEMES}/nope", json={"name": "x"}), 404)


def test_delete_is_204_and_the_scheme_is_gone(client: ContractClient) -> None:
    create_scheme(client)
    response = client.delete(f"{SCHEMES}/burst")
    assert response.status_code == 204 and response.data == b""
    only_error(client.get(f"{SCHEMES}/burst"), 404)
    only_error(client.delete(f"{SCHEMES}/burst"), 404)
    assert "burst" not in [s["slug"] for s in client.get(SCHEMES).get_json()["schemes"]]


def test_a_scheme_an_app_uses_cannot_be_deleted(client: ContractClient) -> None:
    error = only_error(client.delete(f"{SCHEMES}/standard-api"), 400)
    assert (
        error["message"] == "Cannot delete rate limit scheme while it is assigned to API auth apps"
    )
    assert client.get(f"{SCHEMES}/standard-api").status_code == 200


def test_once_its_apps_are_deleted_a_scheme_can_be(client: ContractClient) -> None:
    create_scheme(client)
    client.create(rate_limit_scheme_slug="burst")
    only_error(client.delete(f"{SCHEMES}/burst"), 400)
    client.delete(f"{APPS}/my-integration")
    assert client.delete(f"{SCHEMES}/burst").status_code == 204


def test_apps_resolve_a_scheme_changed_through_the_api(client: ContractClient) -> None:
    client.create(rate_limit_scheme_slug="default-rate-limits")
    rules = [{"unit": "hour", "duration": 1, "max_requests": 7, "mode": "per_key"}]
    client.patch(f"{SCHEMES}/default-rate-limits", json={"rules": rules})
    app = client.get(f"{APPS}/my-integration").get_json()
    assert app["rate_limits"] == [{**rules[0], "endpoints": ["*"], "priority": 0}]


def test_an_app_naming_a_scheme_created_later_resolves_it(client: ContractClient) -> None:
    assert client.create(rate_limit_scheme_slug="burst").get_json()["rate_limits"] == []
    create_scheme(client)
    listed = client.get(f"{APPS}?search=my-integration").get_json()["data"][0]
    assert listed["rate_limits"] == [
        {**BURST, "mode": "per_app", "endpoints": ["*"], "priority": 0}
    ]
