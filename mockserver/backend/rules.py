"""The backend's rules about who an app belongs to, beyond what a schema can say.

Shared by the handlers (a broken rule is a 400) and the fixture loader (a
demo app in the fixtures must obey the same rules as one created by a call).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class RuleBroken(Exception):
    """A rule is broken; ``field`` names the body field it is about."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class _Workspace(Protocol):
    organization_id: str


class _User(Protocol):
    organization_ids: frozenset[str]
    workspace_ids: frozenset[str]


class Directory(Protocol):
    """The organizations, workspaces and users of a deployment."""

    organizations: Mapping[str, Any]
    workspaces: Mapping[str, _Workspace]
    users: Mapping[str, _User]


@dataclass(frozen=True)
class Scope:
    user_id: str | None
    organization_id: str | None
    workspace_id: str | None


def check_create_scope(directory: Directory, fields: Mapping[str, Any]) -> Scope:
    """Apply the create rules in the backend's order and return the app's scope.

    ``organization_id`` is filled in from the workspace when only
    ``workspace_id`` is given.
    """
    user_id = fields.get("user_id")
    if user_id is not None:
        for name in ("permissions", "resources"):
            if fields.get(name) is not None:
                raise RuleBroken(
                    "permissions/resources cannot be set when user_id is attached", name
                )
    return check_scope(
        directory, user_id, fields.get("organization_id"), fields.get("workspace_id")
    )


def check_scope(
    directory: Directory,
    user_id: str | None,
    organization_id: str | None,
    workspace_id: str | None,
) -> Scope:
    """Check that the organization, workspace and user exist and fit together."""
    given_organization = organization_id
    if workspace_id is not None:
        workspace = directory.workspaces.get(workspace_id)
        if workspace is None:
            raise RuleBroken("workspace_id does not exist for this deployment", "workspace_id")
        if organization_id is not None and organization_id != workspace.organization_id:
            raise RuleBroken("workspace_id does not belong to organization_id", "workspace_id")
        organization_id = workspace.organization_id
    if organization_id is not None and organization_id not in directory.organizations:
        raise RuleBroken("organization_id does not exist for this deployment", "organization_id")
    if user_id is not None:
        user = directory.users.get(user_id)
        if user is None:
            raise RuleBroken("user_id does not exist for this deployment", "user_id")
        if organization_id is not None and organization_id not in user.organization_ids:
            raise RuleBroken("user_id is not a member of organization_id", "user_id")
        if workspace_id is not None and workspace_id not in user.workspace_ids:
            raise RuleBroken("user_id is not a member of workspace_id", "user_id")
    elif organization_id is not None or workspace_id is not None:
        raise RuleBroken(
            "user_id is required when organization_id/workspace_id is provided",
            "organization_id" if given_organization is not None else "workspace_id",
        )
    return Scope(user_id, organization_id, workspace_id)


def check_update_scope(
    directory: Directory, app: Mapping[str, Any], changes: Mapping[str, Any]
) -> Scope:
    """The PATCH rules: permissions/resources only without a user, organization
    and workspace only with one; the result must pass the create checks."""
    has_user = app["user_id"] is not None
    if has_user:
        for name in ("permissions", "resources"):
            if changes.get(name) is not None:
                raise RuleBroken(
                    "permissions/resources can only be updated when app is not attached to a user",
                    name,
                )
    organization_id, workspace_id = changes.get("organization_id"), changes.get("workspace_id")
    if not has_user:
        for name, value in (("organization_id", organization_id), ("workspace_id", workspace_id)):
            if value is not None:
                raise RuleBroken(
                    "organization_id/workspace_id cannot be set when app has no user_id", name
                )
        return Scope(None, app["organization_id"], app["workspace_id"])
    if workspace_id is None:
        workspace_id = app["workspace_id"]
    if organization_id is None and changes.get("workspace_id") is None:
        organization_id = app["organization_id"]
    return check_scope(directory, app["user_id"], organization_id, workspace_id)
