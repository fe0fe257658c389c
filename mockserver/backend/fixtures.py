"""The world the server starts from: the deployment, its API keys, rate-limit
schemes and the directory of organizations, workspaces and users.

Fixtures are YAML files in one directory (``--fixtures DIR`` replaces the
bundled set). They are checked whole at start-up; every problem is reported
with its file, its entry and the rule it breaks, because a demo that starts
with a silently ignored typo is worse than one that does not start.
"""

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mockserver.backend.apikeys import (
    NotAMember,
    key_scope,
    new_key,
    secret_format_problem,
    secret_hash,
)
from mockserver.backend.clock import format_timestamp, parse_timestamp
from mockserver.backend.directory import Organization, User, Workspace, read_directory
from mockserver.backend.ids import EPOCH, compose, ticks_at
from mockserver.backend.ratelimits import complete_rule, rule_problems
from mockserver.backend.records import new_app
from mockserver.backend.rules import RuleBroken, check_create_scope
from mockserver.contract.spec import SPEC_URI, Spec, escape_pointer_token
from mockserver.contract.validation import display_name
from mockserver.contract.validators import gate_registry, surely_valid

if TYPE_CHECKING:
    from referencing import Registry

try:  # libyaml's loader is several times faster; start-up time matters.
    _YamlLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _YamlLoader = yaml.SafeLoader

FORMAT_URI = "urn:mockserver:fixture-format"
FORMAT_PATH = Path(__file__).resolve().parent / "fixture_schema.yaml"
REQUIRED_FILES = ("deployment.yaml",)
GROWTH_PLAN = "growth"
# Schemes in the fixtures without their own timestamps are dated here.
_FIXTURE_STAMP = "2025-06-01T00:00:00Z"
# A fixture key without its own id gets one made from its time and this sequence base.
_KEY_SEQUENCE_BASE = 128


_MICROSECOND = timedelta(microseconds=1)


class FixtureError(Exception):
    """Fixtures that cannot be served; ``problems`` lists every one found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Deployment:
    id: str
    plan: str
    name: str | None = None

    @property
    def may_create_api_auth_apps(self) -> bool:
        return self.plan.lower() == GROWTH_PLAN


@dataclass(frozen=True)
class ApiKey:
    key: str
    name: str | None = None
    expires_at: datetime | None = None
    # Calls made with this key are limited by this scheme's rules (mode per_key).
    rate_limit_scheme_slug: str | None = None
    # What calls it may make ("read", "write"; http/auth.py); None: every call.
    permissions: frozenset[str] | None = None


@dataclass(frozen=True)
class RateLimitScheme:
    id: str
    slug: str
    name: str
    description: str | None
    rules: tuple[dict[str, Any], ...]
    created_at: str
    updated_at: str

    def record(self) -> dict[str, Any]:
        """The scheme as the store keeps it."""
        return {
            "id": self.id,
            "slug": self.slug,
            "name": self.name,
            "description": self.description,
            "rules": [dict(rule) for rule in self.rules],
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class AuditHistory:
    """How much made-up audit history a new state gets (backend/history.py)."""

    days: int = 7
    checks_per_day: int = 250


@dataclass(frozen=True)
class Fixtures:
    deployment: Deployment
    api_keys: dict[str, ApiKey]
    schemes: dict[str, RateLimitScheme]
    organizations: dict[str, Organization]
    workspaces: dict[str, Workspace]
    users: dict[str, User]
    # Demo apps, oldest first, as the store keeps them (without rate_limits).
    apps: tuple[dict[str, Any], ...] = ()
    # Demo keys of the apps: (key, app id, secret hash, created µs since the epoch).
    app_keys: tuple[tuple[dict[str, Any], str, str, int], ...] = ()
    # None: no demo history.
    audit_history: AuditHistory | None = None
    source: Path | None = None

    @property
    def default_key(self) -> str:
        return next(iter(self.api_keys))


def _fixture_format() -> Any:
    with FORMAT_PATH.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_YamlLoader)


def _format_registry(spec: Spec, fixture_format: Any) -> "Registry":
    # Imported here: jsonschema only words what jsonschema-rs refused (_Loader.read).
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    return Registry().with_resources(
        [
            (FORMAT_URI, Resource(contents=fixture_format, specification=DRAFT202012)),
            (SPEC_URI, Resource(contents=spec.document, specification=DRAFT202012)),
        ]
    )


class _Loader:
    """Reads one fixture directory, collecting problems instead of stopping at the first."""

    def __init__(self, directory: Path, spec: Spec) -> None:
        self.directory = directory
        self.spec = spec
        self.problems: list[str] = []
        self._format = _fixture_format()

    @cached_property
    def _registry(self) -> "Registry":
        return _format_registry(self.spec, self._format)

    @cached_property
    def _gate_registry(self) -> Any:
        return gate_registry([(FORMAT_URI, self._format), (SPEC_URI, self.spec.document)])

    def fail(self, file_name: str, entry: str, message: str) -> None:
        where = f"{self.directory / file_name}"
        self.problems.append(f"{where}: {entry}: {message}" if entry else f"{where}: {message}")

    def read(self, file_name: str, required: bool) -> dict[str, Any] | None:
        path = self.directory / file_name
        if not path.is_file():
            if required:
                self.fail(file_name, "", "file is missing")
            return None
        try:
            document = yaml.load(path.read_text(encoding="utf-8"), Loader=_YamlLoader)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            self.fail(file_name, "", f"cannot be read as YAML: {error}")
            return None
        document = {} if document is None else document
        # jsonschema only words what jsonschema-rs refused (contract/validators.py).
        reference = f"{FORMAT_URI}#/files/{escape_pointer_token(file_name)}"
        if surely_valid(self._gate_registry, reference, document):
            return document
        from jsonschema import Draft202012Validator

        validator = Draft202012Validator(
            {"$ref": f"{FORMAT_URI}#/files/{file_name}"}, registry=self._registry
        )
        errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))
        for error in errors:
            self.fail(
                file_name, self._entry_name(document, list(error.absolute_path)), error.message
            )
        return None if errors else document

    @staticmethod
    def _entry_name(document: Any, path: list[Any]) -> str:
        """Name an entry by its position and, where it has one, its slug, id or key:
        ``rate_limit_schemes[1] ('standard-api').rules[2].unit``."""
        if not path:
            return "top level"
        head, rest = path[:2], path[2:]
        label = display_name(head)
        try:
            entry = document[head[0]][head[1]] if len(head) == 2 else None
        except (KeyError, IndexError, TypeError):
            entry = None
        if isinstance(entry, dict):
            name = entry.get("slug", entry.get("id", entry.get("key")))
            if name is not None:
                label += f" ({name!r})"
        if rest:
            tail = display_name(rest)
            label += tail if tail.startswith("[") else f".{tail}"
        return label


def load_fixtures(directory: Path, spec: Spec) -> Fixtures:
    """Load and check a fixture directory; raise FixtureError listing every problem."""
    directory = Path(directory)
    loader = _Loader(directory, spec)
    if not directory.is_dir():
        raise FixtureError([f"{directory}: fixture directory does not exist"])
    deployment_doc = loader.read("deployment.yaml", required=True)
    schemes_doc = loader.read("rate_limit_schemes.yaml", required=False) or {}
    directory_doc = loader.read("directory.yaml", required=False) or {}
    apps_doc = loader.read("apps.yaml", required=False) or {}
    if loader.problems:
        raise FixtureError(loader.problems)
    assert deployment_doc is not None

    rule_schema = spec.component_schema("RateLimitRule")
    deployment = Deployment(
        id=str(deployment_doc["deployment"]["id"]),
        plan=deployment_doc["deployment"]["plan"],
        name=deployment_doc["deployment"].get("name"),
    )
    api_keys = _api_keys(loader, deployment_doc["api_keys"])
    schemes = _schemes(loader, schemes_doc.get("rate_limit_schemes", []), rule_schema)
    organizations, workspaces, users = read_directory(loader.fail, directory_doc)
    fixtures = Fixtures(
        deployment=deployment,
        api_keys=api_keys,
        schemes=schemes,
        organizations=organizations,
        workspaces=workspaces,
        users=users,
        source=directory,
    )
    for slug in sorted({key.rate_limit_scheme_slug for key in api_keys.values()} - {None}):
        if slug not in schemes:
            loader.fail("deployment.yaml", "api_keys", f"unknown rate_limit_scheme_slug {slug!r}")
    if not loader.problems:
        apps = _apps(loader, apps_doc.get("apps", []), fixtures)
        fixtures = replace(
            fixtures, apps=apps, audit_history=_audit_history(apps_doc.get("audit_history"))
        )
        fixtures = replace(fixtures, app_keys=_app_keys(loader, apps_doc.get("apps", []), fixtures))
    if loader.problems:
        raise FixtureError(loader.problems)
    return fixtures


def _api_keys(loader: _Loader, entries: list[dict[str, Any]]) -> dict[str, ApiKey]:
    keys: dict[str, ApiKey] = {}
    for index, entry in enumerate(entries):
        where = f"api_keys[{index}] ({entry['key']!r})"
        if entry["key"] in keys:
            loader.fail("deployment.yaml", where, "the same key is listed twice")
            continue
        expires_at = entry.get("expires_at")
        if expires_at is not None and not isinstance(expires_at, datetime):
            try:
                expires_at = parse_timestamp(str(expires_at))
            except ValueError as error:
                loader.fail("deployment.yaml", where, f"expires_at: {error}")
                continue
        permissions = entry.get("permissions")
        keys[entry["key"]] = ApiKey(
            entry["key"],
            entry.get("name"),
            expires_at,
            entry.get("rate_limit_scheme_slug"),
            None if permissions is None else frozenset(permissions),
        )
    return keys


def _schemes(
    loader: _Loader, entries: list[dict[str, Any]], rule_schema: dict[str, Any]
) -> dict[str, RateLimitScheme]:
    schemes: dict[str, RateLimitScheme] = {}
    for index, entry in enumerate(entries):
        where = f"rate_limit_schemes[{index}] ({entry['slug']!r})"
        if entry["slug"] in schemes:
            loader.fail("rate_limit_schemes.yaml", where, "the same slug is used twice")
            continue
        for rule_index, rule in enumerate(entry["rules"]):
            for problem in rule_problems(rule):
                loader.fail("rate_limit_schemes.yaml", f"{where}.rules[{rule_index}]", problem)
        created_at = _timestamp(loader, "rate_limit_schemes.yaml", where, entry, "created_at")
        updated_at = _timestamp(loader, "rate_limit_schemes.yaml", where, entry, "updated_at")
        default_id = compose(
            ticks_at(parse_timestamp(created_at or _FIXTURE_STAMP)), index % 256, 0
        )
        schemes[entry["slug"]] = RateLimitScheme(
            id=str(entry.get("id", default_id)),
            slug=entry["slug"],
            name=entry["name"],
            description=entry.get("description"),
            rules=tuple(complete_rule(rule, rule_schema) for rule in entry["rules"]),
            created_at=created_at or _FIXTURE_STAMP,
            updated_at=updated_at or created_at or _FIXTURE_STAMP,
        )
    return schemes


def _timestamp(
    loader: _Loader, file_name: str, where: str, entry: dict[str, Any], key: str
) -> str | None:
    """An entry's timestamp in the API's format; YAML may have parsed it already."""
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return format_timestamp(value)
    try:
        return format_timestamp(parse_timestamp(str(value)))
    except ValueError as error:
        loader.fail(file_name, where, f"{key}: {error}")
        return None


def _apps(
    loader: _Loader, entries: list[dict[str, Any]], fixtures: Fixtures
) -> tuple[dict[str, Any], ...]:
    """Demo apps, checked by the same rules as a create, completed as a create would."""
    apps: list[dict[str, Any]] = []
    seen_slugs: set[str] = set()
    seen_ids: set[str] = set()
    for index, entry in enumerate(entries):
        app_id = str(entry["id"])
        where = f"apps[{index}] ({entry['app_slug']!r})"
        if entry["app_slug"] in seen_slugs:
            loader.fail("apps.yaml", where, "the same app_slug is used twice")
        if app_id in seen_ids:
            loader.fail("apps.yaml", where, "the same id is used twice")
        seen_slugs.add(entry["app_slug"])
        seen_ids.add(app_id)
        try:
            scope = check_create_scope(fixtures, entry)
        except RuleBroken as broken:
            loader.fail("apps.yaml", f"{where}.{broken.field}", broken.message)
            continue
        created_at = _timestamp(loader, "apps.yaml", where, entry, "created_at") or ""
        updated_at = _timestamp(loader, "apps.yaml", where, entry, "updated_at")
        fields = {**entry, "updated_at": updated_at}
        apps.append(
            new_app(
                fields, scope, app_id=app_id, deployment_id=fixtures.deployment.id, now=created_at
            )
        )
    return tuple(sorted(apps, key=lambda app: app["created_at"]))


def _app_keys(
    loader: _Loader, entries: list[dict[str, Any]], fixtures: Fixtures
) -> tuple[tuple[dict[str, Any], str, str, int], ...]:
    """Demo keys, made as a create would make them; each secret must pass the
    gateway's format check, or no one could ever use the key."""
    apps = {app["app_slug"]: app for app in fixtures.apps}
    made: list[tuple[dict[str, Any], str, str, int]] = []
    seen_secrets: set[str] = set()
    seen_ids: set[str] = set()
    for index, entry in enumerate(entries):
        app = apps[entry["app_slug"]]
        for key_index, spec in enumerate(entry.get("keys", [])):
            where = f"apps[{index}] ({entry['app_slug']!r}).keys[{key_index}] ({spec['name']!r})"
            problem = secret_format_problem(spec["secret"])
            if problem is not None:
                loader.fail("apps.yaml", f"{where}.secret", f"{spec['secret']!r}: {problem}")
                continue
            secret = spec["secret"].strip()
            if secret in seen_secrets:
                loader.fail("apps.yaml", f"{where}.secret", "the same secret is used twice")
                continue
            seen_secrets.add(secret)
            try:
                scope = key_scope(fixtures, app)
            except NotAMember as refused:
                loader.fail("apps.yaml", where, str(refused))
                continue
            created_at = _timestamp(loader, "apps.yaml", where, spec, "created_at")
            created_at = created_at or app["created_at"]
            expires_at = _timestamp(loader, "apps.yaml", where, spec, "expires_at")
            created = parse_timestamp(created_at)
            key_id = str(
                spec.get("id", compose(ticks_at(created), _KEY_SEQUENCE_BASE + key_index, 0))
            )
            if key_id in seen_ids:
                loader.fail("apps.yaml", where, f"the key id {key_id} is used twice")
                continue
            seen_ids.add(key_id)
            fields = {**spec, "expires_at": expires_at}
            key = new_key(app, fields, scope, key_id=key_id, secret=secret, now=created_at)
            micros = (created - EPOCH) // _MICROSECOND
            made.append((key, app["id"], secret_hash(secret), micros))
    return tuple(made)


def _audit_history(setting: dict[str, Any] | bool | None) -> AuditHistory | None:
    if not isinstance(setting, dict):  # false or null: none (the schema allows no true)
        return None
    return AuditHistory(**setting)
