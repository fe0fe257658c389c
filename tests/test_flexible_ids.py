"""Two corrections from reading the backend: ids read as integers or digit
strings, and timestamps with only their significant sub-second digits."""

from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import ContractClient

from mockserver import Settings, create_app


@pytest.mark.parametrize("user_id", [1001, "1001"])
def test_ids_are_read_as_an_integer_or_a_digit_string_and_answered_as_strings(
    client: ContractClient, user_id: Any
) -> None:
    response = client.create(user_id=user_id, organization_id=2001, workspace_id="3001")
    assert response.status_code == 200, response.get_json()
    app = response.get_json()
    assert (app["user_id"], app["organization_id"], app["workspace_id"]) == ("1001", "2001", "3001")


@pytest.mark.parametrize("field", ["user_id", "organization_id", "workspace_id"])
@pytest.mark.parametrize("value", ["10x1", " 1001", "", "-5", 1001.5, True, "99999999999999999999"])
def test_any_other_id_is_a_422_naming_the_field(
    client: ContractClient, field: str, value: Any
) -> None:
    response = client.create(**{field: value})
    assert response.status_code == 422
    assert [error["field"] for error in response.get_json()["errors"]] == [f"/{field}"]


def test_an_update_reads_ids_the_same_way(client: ContractClient) -> None:
    assert client.create(user_id=1001).status_code == 200
    good = client.patch("/api-auth/apps/my-integration", json={"organization_id": 2001})
    assert good.status_code == 200 and good.get_json()["organization_id"] == "2001"
    bad = client.patch("/api-auth/apps/my-integration", json={"workspace_id": "three"})
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "/workspace_id"


@pytest.mark.parametrize(
    ("micros", "written"),
    [
        (0, "2026-01-02T03:04:05Z"),
        (120_000, "2026-01-02T03:04:05.120Z"),
        (123_000, "2026-01-02T03:04:05.123Z"),
        (123_400, "2026-01-02T03:04:05.123400Z"),
        (1, "2026-01-02T03:04:05.000001Z"),
    ],
)
def test_timestamps_keep_only_significant_groups_of_sub_second_digits(
    micros: int, written: str
) -> None:
    frozen = datetime(2026, 1, 2, 3, 4, 5, micros, tzinfo=UTC)
    client = ContractClient(create_app(Settings(frozen_time=frozen)))
    app = client.create().get_json()
    assert app["created_at"] == app["updated_at"] == written
