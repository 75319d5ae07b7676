"""A person in several workspaces: joining a second one with one click, switching, making
a new one, renaming it, and what happens when they are removed from the one they are in.

The workspace comes only from the session row, so every check goes through
`auth.authenticate` with the real session id, as each request and event does."""

from __future__ import annotations

import pytest

from backend_services.assistants import service as assistants
from backend_services.assistants.service import AssistantInput
from backend_services.core.errors import (
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    WorkspaceLeft,
)
from backend_services.identity import auth, my_workspaces, team
from backend_services.models import Role
from tests.support.accounts import PW, join_by_invitation, signed_in_owner
from tests.support.smtp_server import SmtpTestServer


async def test_a_member_of_two_workspaces_switches_and_sees_only_the_chosen_one(
    clean: None, smtp: SmtpTestServer
) -> None:
    anna, anna_sid = await signed_in_owner("anna@example.com", "Anna's shop")
    bob, _ = await signed_in_owner("bob@example.com", "Bob's bikes")
    await assistants.create_assistant(anna, AssistantInput(name="Anna's helper"))
    bikes = await assistants.create_assistant(bob, AssistantInput(name="Bike expert"))
    assert bikes.id is not None
    bikes_id = await join_by_invitation(bob, "anna@example.com", smtp)
    assert bikes_id == bob.workspace_id

    here = await auth.authenticate(anna_sid)
    choices = await my_workspaces.list_mine(here)
    assert [(c.name, c.role, c.current) for c in choices] == [
        ("Anna's shop", "owner", True), ("Bob's bikes", "operator", False)]

    assert await my_workspaces.switch(here, bikes_id) == "Bob's bikes"
    there = await auth.authenticate(anna_sid)
    assert (there.workspace_id, there.role, there.workspace_name) == (
        bikes_id, Role.OPERATOR, "Bob's bikes")
    assert [a.name for a in await assistants.list_assistants(there)] == ["Bike expert"]
    # In Bob's workspace she is an operator: owner-only work is refused there ...
    with pytest.raises(PermissionDenied):
        await my_workspaces.rename(there, "Anna's bikes now")
    # ... and her own workspace's assistant is out of reach until she switches back.
    mine = (await assistants.list_assistants(here))[0]
    with pytest.raises(NotFound):
        await assistants.get_assistant(there, mine.id)

    # A workspace she does not belong to: refused, and the session stays where it was.
    carol, _ = await signed_in_owner("carol@example.com", "Carol's cafe")
    with pytest.raises(NotFound):
        await my_workspaces.switch(there, carol.workspace_id)
    assert (await auth.authenticate(anna_sid)).workspace_id == bikes_id

    # The next login starts where she was last active.
    again = await auth.login(email="anna@example.com", password=PW)
    assert again.principal.workspace_id == bikes_id


async def test_a_new_workspace_is_owned_by_its_maker_and_the_session_moves_into_it(
    clean: None,
) -> None:
    anna, sid = await signed_in_owner("anna@example.com", "Anna's shop")
    with pytest.raises(ValidationFailed):
        await my_workspaces.create(anna, "   ")
    made = await my_workspaces.create(anna, "  Second   shop ")
    now = await auth.authenticate(sid)
    assert (now.workspace_id, now.role, now.workspace_name) == (made, Role.OWNER, "Second shop")
    assert await assistants.list_assistants(now) == []  # starts empty, nothing carried over
    assert await my_workspaces.rename(now, "Anna's outlet") == "Anna's outlet"
    assert (await auth.authenticate(sid)).workspace_name == "Anna's outlet"
    assert {c.name for c in await my_workspaces.list_mine(now)} == {"Anna's shop",
                                                                    "Anna's outlet"}


async def test_removed_from_the_workspace_one_is_in_moves_the_session_not_ends_it(
    clean: None, smtp: SmtpTestServer
) -> None:
    anna, anna_sid = await signed_in_owner("anna@example.com", "Anna's shop")
    bob, _ = await signed_in_owner("bob@example.com", "Bob's bikes")
    bikes_id = await join_by_invitation(bob, "anna@example.com", smtp)
    await my_workspaces.switch(await auth.authenticate(anna_sid), bikes_id)
    membership = next(m for m in await team.list_members(bob) if m.email == "anna@example.com")
    await team.remove_member(bob, membership.membership_id)

    # The event that finds out is not carried out (it was meant for Bob's workspace) ...
    with pytest.raises(WorkspaceLeft):
        await auth.authenticate(anna_sid)
    # ... and the login goes on in her own workspace.
    back = await auth.authenticate(anna_sid)
    assert back.workspace_id == anna.workspace_id

    # Someone removed from the only workspace they had: the login ends.
    op_id = await auth.create_user(email="op@example.com", password=PW, name="Op",
                                   workspace_id=anna.workspace_id, role=Role.OPERATOR)
    assert op_id
    op_sid = (await auth.login(email="op@example.com", password=PW)).session_id
    only = next(m for m in await team.list_members(anna) if m.email == "op@example.com")
    await team.remove_member(anna, only.membership_id)
    with pytest.raises(NotAuthenticated) as ended:
        await auth.authenticate(op_sid)
    assert not isinstance(ended.value, WorkspaceLeft)
