"""The deployment's directory, from ``directory.yaml``: organizations with
their workspaces and roles, and users with their memberships.

A membership names the organization or workspace (its id), and may give its
own ``membership_id`` and the names of its roles; a key of an app whose user
is a member gets the membership ids and the permissions of those roles, as
the backend resolves them. A membership written as a plain id gets a
membership id derived from the user and the organization or workspace (so it
is the same on every start) and no roles.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FILE_NAME = "directory.yaml"
# Reports a problem: (file name, entry, message).
Fail = Callable[[str, str, str], None]


@dataclass(frozen=True)
class Membership:
    id: str
    role_permissions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Workspace:
    id: str
    name: str
    organization_id: str
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class User:
    id: str
    name: str | None
    email: str | None
    organization_memberships: dict[str, Membership] = field(default_factory=dict)
    workspace_memberships: dict[str, Membership] = field(default_factory=dict)

    @property
    def organization_ids(self) -> frozenset[str]:
        return frozenset(self.organization_memberships)

    @property
    def workspace_ids(self) -> frozenset[str]:
        return frozenset(self.workspace_memberships)


def derived_membership_id(kind: str, user_id: str, group_id: str) -> str:
    """A stable 17-digit id, like the snowflakes of the day."""
    digest = hashlib.sha256(f"{kind}:{user_id}:{group_id}".encode()).digest()
    return str(10**16 + int.from_bytes(digest[:8], "big") % (9 * 10**16))


def _roles(entries: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    return {role["name"]: tuple(role.get("permissions", [])) for role in entries}


def _union(permission_lists: list[tuple[str, ...]]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for permissions in permission_lists:
        seen.update(dict.fromkeys(permissions))
    return tuple(seen)


def _memberships(
    fail: Fail,
    where: str,
    kind: str,
    user_id: str,
    entries: list[Any],
    roles_of: Callable[[str], dict[str, tuple[str, ...]] | None],
) -> dict[str, Membership]:
    memberships: dict[str, Membership] = {}
    for entry in entries:
        spec = entry if isinstance(entry, dict) else {"id": entry}
        group_id = str(spec["id"])
        roles = roles_of(group_id)
        if roles is None:
            fail(FILE_NAME, where, f"member of unknown {kind} {group_id!r}")
            continue
        if group_id in memberships:
            fail(FILE_NAME, where, f"member of {kind} {group_id!r} twice")
            continue
        held = []
        for role in spec.get("roles", []):
            if role not in roles:
                fail(FILE_NAME, where, f"role {role!r} is not a role of {kind} {group_id!r}")
                continue
            held.append(roles[role])
        membership_id = spec.get("membership_id")
        memberships[group_id] = Membership(
            str(membership_id)
            if membership_id is not None
            else derived_membership_id(kind, user_id, group_id),
            _union(held),
        )
    return memberships


def read_directory(
    fail: Fail, document: dict[str, Any]
) -> tuple[dict[str, Organization], dict[str, Workspace], dict[str, User]]:
    organizations: dict[str, Organization] = {}
    workspaces: dict[str, Workspace] = {}
    users: dict[str, User] = {}
    for index, entry in enumerate(document.get("organizations", [])):
        org_id = str(entry["id"])
        where = f"organizations[{index}] ({org_id!r})"
        if org_id in organizations:
            fail(FILE_NAME, where, "the same organization id is used twice")
            continue
        organizations[org_id] = Organization(org_id, entry["name"], _roles(entry.get("roles", [])))
        for ws_index, workspace in enumerate(entry.get("workspaces", [])):
            ws_id = str(workspace["id"])
            if ws_id in workspaces:
                fail(
                    FILE_NAME,
                    f"{where}.workspaces[{ws_index}] ({ws_id!r})",
                    "the same workspace id is used twice",
                )
                continue
            workspaces[ws_id] = Workspace(
                ws_id, workspace["name"], org_id, _roles(workspace.get("roles", []))
            )
    for index, entry in enumerate(document.get("users", [])):
        user_id = str(entry["id"])
        where = f"users[{index}] ({user_id!r})"
        if user_id in users:
            fail(FILE_NAME, where, "the same user id is used twice")
            continue
        org_memberships = _memberships(
            fail,
            where,
            "organization",
            user_id,
            entry.get("organizations", []),
            lambda org_id: organizations[org_id].roles if org_id in organizations else None,
        )
        ws_memberships = _memberships(
            fail,
            where,
            "workspace",
            user_id,
            entry.get("workspaces", []),
            lambda ws_id: workspaces[ws_id].roles if ws_id in workspaces else None,
        )
        for ws_id in sorted(ws_memberships):
            organization_id = workspaces[ws_id].organization_id
            if organization_id not in org_memberships:
                fail(
                    FILE_NAME,
                    where,
                    f"member of workspace {ws_id!r} but not of its organization "
                    f"{organization_id!r}",
                )
        users[user_id] = User(
            user_id, entry.get("name"), entry.get("email"), org_memberships, ws_memberships
        )
    return organizations, workspaces, users
