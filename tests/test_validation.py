"""Body parsing and schema messages, below the HTTP layer."""

import pytest
from contract import contract

from mockserver.contract.errors import ApiError
from mockserver.contract.validation import parse_json_body, schema_problems


def create_validator():
    return contract().operation("createApiAuthApp").body_validator


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"", "empty"),
        (b"\xc3\x28", "UTF-8"),
        (b'{"a": NaN}', "not valid JSON"),
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
        (b'["\\udc00"]', "surrogate"),
    ],
)
def test_unparseable_bodies_are_400_with_a_reason(raw: bytes, detail: str) -> None:
    with pytest.raises(ApiError) as raised:
        parse_json_body(raw)
    assert raised.value.status == 400
    assert detail in raised.value.problems[0].detail


def test_a_valid_surrogate_pair_is_accepted() -> None:
    assert parse_json_body(b'["\\ud83d\\ude80"]') == ["🚀"]


def test_schema_problems_name_each_field_with_a_pointer() -> None:
    problems = schema_problems(
        create_validator(), {"app_slug": ["x"], "name": "n", "permissions": ["a", None]}
    )
    assert [(p.field, p.message) for p in problems] == [
        ("/app_slug", "app_slug must be a string"),
        ("/key_prefix", "key_prefix is required"),
        ("/permissions/1", "permissions[1] must be a string"),
    ]


def test_nullable_fields_say_null_is_allowed() -> None:
    (problem,) = schema_problems(
        create_validator(), {"app_slug": "a", "name": "n", "key_prefix": "k", "workspace_id": True}
    )
    # An id is an integer or a string of digits (FlexibleId), or null.
    assert problem.message == "workspace_id must be an integer or a string or null"


def test_a_valid_body_has_no_problems() -> None:
    body = {"app_slug": "a", "name": "n", "key_prefix": "k", "extra": {"deep": [1, 2]}}
    assert schema_problems(create_validator(), body) == []
