"""Who may change rules: the decision and its inputs from users.info."""

from __future__ import annotations

from typing import Any

from handlers.permissions import AdminCache, check_permission, managers_hint
from storage.models import Workspace, WorkspaceStatus


class FakeUsersInfo:
    """Answers users.info like Slack for a few known users, and counts the calls."""

    def __init__(self, users: dict[str, dict[str, Any]]) -> None:
        self.users = users
        self.calls = 0

    async def users_info(self, *, user: str) -> dict[str, Any]:
        self.calls += 1
        return {"ok": True, "user": self.users[user]}


WORKSPACE = Workspace(
    team_id="T0001",
    name="Acme",
    agency_id="ag-acme",
    client_id=None,
    status=WorkspaceStatus.ACTIVE,
    installer_user_id="U0INSTALLER",
    managers=("U0MANAGER",),
)


async def check(user_id: str, users: dict[str, dict[str, Any]]) -> bool:
    client = FakeUsersInfo(users)
    permission = await check_permission(client=client, cache=AdminCache(), workspace=WORKSPACE, user_id=user_id)  # type: ignore[arg-type]
    return permission.can_manage


async def test_admin_of_workspace_may_manage() -> None:
    assert await check("U0ADMIN", {"U0ADMIN": {"is_admin": True, "team_id": "T0001"}})


async def test_owner_may_manage() -> None:
    assert await check("U0OWNER", {"U0OWNER": {"is_owner": True, "team_id": "T0001"}})


async def test_member_may_not_manage() -> None:
    assert not await check("U0MEMBER", {"U0MEMBER": {"is_admin": False, "team_id": "T0001"}})


async def test_admin_of_other_organisation_may_not_manage() -> None:
    # A Slack Connect user is an admin at home, which gives no rights here.
    assert not await check("U0GUEST", {"U0GUEST": {"is_admin": True, "team_id": "T0THEIRS"}})


async def test_installer_and_managers_may_manage_without_lookup() -> None:
    client = FakeUsersInfo({})
    for user in ("U0INSTALLER", "U0MANAGER"):
        permission = await check_permission(client=client, cache=AdminCache(), workspace=WORKSPACE, user_id=user)  # type: ignore[arg-type]
        assert permission.can_manage
    assert client.calls == 0


async def test_admin_answer_is_cached() -> None:
    client = FakeUsersInfo({"U0ADMIN": {"is_admin": True, "team_id": "T0001"}})
    cache = AdminCache()
    for _ in range(3):
        await check_permission(client=client, cache=cache, workspace=WORKSPACE, user_id="U0ADMIN")  # type: ignore[arg-type]
    assert client.calls == 1


def test_managers_hint_names_people() -> None:
    assert managers_hint(WORKSPACE) == "workspace admins and owners, <@U0INSTALLER> and <@U0MANAGER>"
