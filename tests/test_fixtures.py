"""Fixture loading: the bundled world, and every way a fixture can be wrong."""

import sys
from pathlib import Path

import pytest
import yaml
from contract import contract
from local_servers import run_to_exit

from mockserver.backend.fixtures import FixtureError, load_fixtures
from mockserver.contract.resources import default_fixtures_dir


def edit(fixture_dir: Path, file_name: str, change) -> None:
    path = fixture_dir / file_name
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def problems_of(fixture_dir: Path) -> list[str]:
    with pytest.raises(FixtureError) as raised:
        load_fixtures(fixture_dir, contract())
    return raised.value.problems


def test_the_bundled_fixtures_hold_the_documented_world() -> None:
    fixtures = load_fixtures(default_fixtures_dir(), contract())
    assert fixtures.default_key == "sk_test_mock"
    assert fixtures.deployment.may_create_api_auth_apps
    assert {w.id: w.organization_id for w in fixtures.workspaces.values()} == {
        "3001": "2001",
        "3002": "2002",
    }
    assert fixtures.users["1001"].organization_ids == {"2001"}
    assert fixtures.users["1001"].workspace_ids == {"3001"}
    assert not fixtures.users["1002"].organization_ids and not fixtures.users["1002"].workspace_ids
    assert len(fixtures.schemes["default-rate-limits"].rules) == 1
    # The default dev key may make every call; the bundled read-only key, reads.
    assert fixtures.api_keys["sk_test_mock"].permissions is None
    assert fixtures.api_keys["sk_test_readonly"].permissions == {"read"}
    assert any(len(scheme.rules) > 1 for scheme in fixtures.schemes.values())


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nope") == [
        f"{tmp_path / 'nope'}: fixture directory does not exist"
    ]


def test_a_missing_deployment_file_is_named(fixture_dir: Path) -> None:
    (fixture_dir / "deployment.yaml").unlink()
    (problem,) = problems_of(fixture_dir)
    assert "deployment.yaml" in problem and "missing" in problem


def test_broken_yaml_is_named(fixture_dir: Path) -> None:
    (fixture_dir / "directory.yaml").write_text("users: [unclosed\n")
    (problem,) = problems_of(fixture_dir)
    assert "directory.yaml" in problem and "YAML" in problem


def test_a_structural_error_names_file_entry_and_rule(fixture_dir: Path) -> None:
    edit(
        fixture_dir,
        "rate_limit_schemes.yaml",
        lambda d: d["rate_limit_schemes"][1]["rules"][2].update(unit="fortnight"),
    )
    (problem,) = problems_of(fixture_dir)
    assert "rate_limit_schemes.yaml" in problem
    assert "rate_limit_schemes[1]" in problem and "rules[2].unit" in problem
    assert "'standard-api'" in problem
    assert "fortnight" in problem


def test_every_problem_is_reported_not_just_the_first(fixture_dir: Path) -> None:
    edit(fixture_dir, "deployment.yaml", lambda d: d["api_keys"].append({"name": "no key"}))
    edit(fixture_dir, "directory.yaml", lambda d: d["users"].append({"id": "x1"}))
    problems = problems_of(fixture_dir)
    assert any("deployment.yaml" in p and "'key' is a required property" in p for p in problems)
    assert any("directory.yaml" in p and "users[2] ('x1').id" in p for p in problems)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"unit": "second", "duration": 2000, "max_requests": 1}, "cap of 1800 for unit 'second'"),
        ({"unit": "millisecond", "duration": 60001, "max_requests": 1}, "cap of 60000"),
        ({"unit": "minute", "duration": 1441, "max_requests": 1}, "cap of 1440"),
        ({"unit": "hour", "duration": 721, "max_requests": 1}, "cap of 720"),
        ({"unit": "day", "duration": 31, "max_requests": 1}, "cap of 30"),
        ({"unit": "calendar_month", "duration": 2, "max_requests": 1}, "must be 1"),
        ({"unit": "minute", "duration": 0, "max_requests": 1}, "minimum of 1"),
        ({"unit": "minute", "duration": 1, "max_requests": 0}, "minimum of 1"),
        ({"unit": "minute", "duration": 1, "max_requests": 5, "mode": "per_moon"}, "per_moon"),
    ],
)
def test_rate_limit_rule_limits(fixture_dir: Path, rule: dict, expected: str) -> None:
    edit(
        fixture_dir,
        "rate_limit_schemes.yaml",
        lambda d: d["rate_limit_schemes"][0]["rules"].append(rule),
    )
    (problem,) = problems_of(fixture_dir)
    assert "rate_limit_schemes[0] ('default-rate-limits')" in problem
    assert "rules[1]" in problem
    assert expected in problem


def test_a_scheme_without_rules_is_refused(fixture_dir: Path) -> None:
    edit(
        fixture_dir,
        "rate_limit_schemes.yaml",
        lambda d: d["rate_limit_schemes"][0].update(rules=[]),
    )
    (problem,) = problems_of(fixture_dir)
    assert "rate_limit_schemes[0]" in problem and "rules" in problem


@pytest.mark.parametrize(
    ("file_name", "change", "expected"),
    [
        (
            "deployment.yaml",
            lambda d: d["api_keys"].append({"key": "sk_test_mock"}),
            "listed twice",
        ),
        ("deployment.yaml", lambda d: d["api_keys"][0].update(expires_at="soon"), "expires_at"),
        ("deployment.yaml", lambda d: d["deployment"].update(id="dep_1"), "deployment.id"),
        (
            "rate_limit_schemes.yaml",
            lambda d: d["rate_limit_schemes"].append(d["rate_limit_schemes"][0]),
            "used twice",
        ),
        (
            "directory.yaml",
            lambda d: d["users"][1].update(organizations=["2999"]),
            "unknown organization '2999'",
        ),
        (
            "directory.yaml",
            lambda d: d["users"][1].update(workspaces=["3999"]),
            "unknown workspace '3999'",
        ),
        (
            "directory.yaml",
            lambda d: d["users"][1].update(workspaces=["3002"]),
            "not of its organization '2002'",
        ),
        (
            "directory.yaml",
            lambda d: d["organizations"].append(d["organizations"][0]),
            "used twice",
        ),
        (
            "directory.yaml",
            lambda d: d["users"][0]["organizations"][0].update(roles=["janitor"]),
            "janitor",
        ),
        (
            "deployment.yaml",
            lambda d: d["api_keys"][0].update(rate_limit_scheme_slug="nowhere"),
            "nowhere",
        ),
        (
            "apps.yaml",
            lambda d: d["apps"][0]["keys"][0].update(secret="sk_live_" + "A" * 42 + "!"),
            "Billing worker",
        ),
        (
            "apps.yaml",
            lambda d: d["apps"][0]["keys"][1].update(secret=d["apps"][0]["keys"][0]["secret"]),
            "the same secret is used twice",
        ),
        (
            "apps.yaml",
            lambda d: d["apps"][0]["keys"][0].update(expires_at="tomorrow"),
            "expires_at",
        ),
    ],
)
def test_consistency_rules(fixture_dir: Path, file_name: str, change, expected: str) -> None:
    edit(fixture_dir, file_name, change)
    problems = problems_of(fixture_dir)
    assert any(file_name in p and expected in p for p in problems), problems


def test_serve_refuses_bad_fixtures_with_exit_code_2(fixture_dir: Path) -> None:
    edit(
        fixture_dir,
        "rate_limit_schemes.yaml",
        lambda d: d["rate_limit_schemes"][0]["rules"][0].update(unit="day", duration=45),
    )
    result = run_to_exit(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--fixtures", str(fixture_dir)]
    )
    assert result.returncode == 2
    assert "rate_limit_schemes.yaml" in result.stderr
    assert "rate_limit_schemes[0] ('default-rate-limits').rules[0]" in result.stderr
    assert "cap of 30 for unit 'day'" in result.stderr


def test_a_management_key_permission_other_than_read_or_write_is_named_at_start_up(
    fixture_dir: Path,
) -> None:
    edit(
        fixture_dir,
        "deployment.yaml",
        lambda d: d["api_keys"][0].update(permissions=["read", "admin"]),
    )
    (problem,) = problems_of(fixture_dir)
    assert "deployment.yaml" in problem
    assert "api_keys[0] ('sk_test_mock').permissions[1]" in problem and "'admin'" in problem
    result = run_to_exit(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--fixtures", str(fixture_dir)]
    )
    assert result.returncode == 2
    assert "permissions[1]" in result.stderr and "'admin'" in result.stderr
