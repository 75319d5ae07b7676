"""Workspaces are walled off, and roles decide who may manage what (service level)."""

from __future__ import annotations

import asyncio

import pytest

from backend_services.assistants import service as assistants
from backend_services.assistants.service import AssistantInput
from backend_services.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.identity import auth, team
from backend_services.models import Role
from tests.support.smtp_server import SmtpTestServer

PW = "Correct-horse-9"


async def _owner(email: str, ws_name: str) -> Principal:
    result = await auth.signup(email=email, password=PW, name=email[0].upper(),
                               workspace_name=ws_name)
    await auth.create_user(email=email, password=PW, name="x", workspace_id=None)
    principal = (await auth.login(email=email, password=PW)).principal
    assert principal.workspace_id == result.workspace_id
    return principal


async def _member(ws: int, email: str, role: Role) -> Principal:
    await auth.create_user(email=email, password=PW, name="m", workspace_id=ws, role=role)
    return (await auth.login(email=email, password=PW)).principal


async def test_workspace_a_cannot_read_change_or_delete_workspace_b_assistant(clean: None) -> None:
    a = await _owner("a@example.com", "A")
    b = await _owner("b@example.com", "B")
    theirs = await assistants.create_assistant(b, AssistantInput(name="B bot"))
    assert theirs.id is not None
    with pytest.raises(NotFound):
        await assistants.get_assistant(a, theirs.id)
    with pytest.raises(NotFound):
        await assistants.update_assistant(a, theirs.id, AssistantInput(name="hijacked"))
    with pytest.raises(NotFound):
        await assistants.delete_assistant(a, theirs.id)
    assert [x.name for x in await assistants.list_assistants(b)] == ["B bot"]
    assert await assistants.list_assistants(a) == []


async def test_a_forged_principal_for_another_workspace_needs_a_session(clean: None) -> None:
    """The workspace comes from the session row, never from what the client claims."""
    a = await _owner("a@example.com", "A")
    b = await _owner("b@example.com", "B")
    sid = (await auth.login(email="a@example.com", password=PW)).session_id
    again = await auth.authenticate(sid)
    assert again.workspace_id == a.workspace_id != b.workspace_id


async def test_operator_cannot_manage_assistants_or_team(clean: None) -> None:
    owner = await _owner("o@example.com", "O")
    op = await _member(owner.workspace_id, "op@example.com", Role.OPERATOR)
    made = await assistants.create_assistant(owner, AssistantInput(name="Bot"))
    assert made.id is not None
    assert [x.name for x in await assistants.list_assistants(op)] == ["Bot"]
    with pytest.raises(PermissionDenied):
        await assistants.create_assistant(op, AssistantInput(name="Mine"))
    with pytest.raises(PermissionDenied):
        await assistants.update_assistant(op, made.id, AssistantInput(name="Renamed"))
    with pytest.raises(PermissionDenied):
        await assistants.delete_assistant(op, made.id)
    with pytest.raises(PermissionDenied):
        await team.list_members(op)
    with pytest.raises(PermissionDenied):
        await team.invite(op, "x@example.com", Role.OPERATOR)


async def test_assistant_fields_are_validated_with_clear_messages(clean: None) -> None:
    owner = await _owner("o@example.com", "O")
    cases = [
        (AssistantInput(name="  "), "name"),
        (AssistantInput(name="x" * 81), "too long"),
        (AssistantInput(name="ok", temperature=3.0), "Temperature"),
        (AssistantInput(name="ok", language="xx"), "language"),
        (AssistantInput(name="ok", system_prompt="p" * 8001), "system prompt"),
        (AssistantInput(name="ok", chunk_max_tokens=50), "Chunk size"),
        (AssistantInput(name="ok", chunk_overlap_tokens=400), "overlap"),
        (AssistantInput(name="ok", fallback_models=tuple("abcdef")), "fallback"),
    ]
    for data, message in cases:
        with pytest.raises(ValidationFailed, match=message):
            await assistants.create_assistant(owner, data)
    assert await assistants.list_assistants(owner) == []
    made = await assistants.create_assistant(owner, AssistantInput(
        name="ok", model="m1", fallback_models=(" m2", "m1", "m2 ", ""), chunk_max_tokens=500,
        chunk_overlap_tokens=60))
    assert (made.fallback_models, made.chunk_max_tokens) == (["m2"], 500)


async def test_invited_operator_joins_through_the_mailed_link(
    clean: None, smtp: SmtpTestServer
) -> None:
    owner = await _owner("o@example.com", "Acme")
    await team.invite(owner, "new@example.com", Role.OPERATOR)
    mail = await asyncio.to_thread(smtp.wait_for, "new@example.com", "invited")
    token = mail.link("/invite").split("token=")[1]
    info = await team.describe_invitation(token)
    assert (info.workspace_name, info.role, info.has_account) == ("Acme", "operator", False)
    with pytest.raises(ValidationFailed):
        await team.accept_invitation(token, name="New", password="short")
    await team.accept_invitation(token, name="New", password=PW)
    op = (await auth.login(email="new@example.com", password=PW)).principal
    assert (op.workspace_id, op.role) == (owner.workspace_id, Role.OPERATOR)
    with pytest.raises(ValidationFailed, match="already been used"):
        await team.accept_invitation(token, name="Again", password=PW)
    with pytest.raises(Conflict):
        await team.invite(owner, "new@example.com", Role.OPERATOR)


async def test_admins_cannot_grant_ownership_and_a_workspace_keeps_an_owner(
    clean: None
) -> None:
    owner = await _owner("o@example.com", "O")
    admin = await _member(owner.workspace_id, "ad@example.com", Role.ADMIN)
    members = {m.email: m for m in await team.list_members(owner)}
    with pytest.raises(PermissionDenied):
        await team.change_role(admin, members["ad@example.com"].membership_id, Role.OWNER)
    with pytest.raises(PermissionDenied):
        await team.change_role(admin, members["o@example.com"].membership_id, Role.OPERATOR)
    with pytest.raises(ValidationFailed, match="at least one owner"):
        await team.change_role(owner, members["o@example.com"].membership_id, Role.ADMIN)


async def test_members_of_another_workspace_cannot_be_changed(clean: None) -> None:
    a = await _owner("a@example.com", "A")
    b = await _owner("b@example.com", "B")
    b_members = await team.list_members(b)
    with pytest.raises(NotFound):
        await team.change_role(a, b_members[0].membership_id, Role.OPERATOR)
    with pytest.raises(NotFound):
        await team.remove_member(a, b_members[0].membership_id)


async def test_removed_member_loses_access_on_the_next_request(clean: None) -> None:
    owner = await _owner("o@example.com", "O")
    await _member(owner.workspace_id, "op@example.com", Role.OPERATOR)
    sid = (await auth.login(email="op@example.com", password=PW)).session_id
    members = {m.email: m for m in await team.list_members(owner)}
    await team.remove_member(owner, members["op@example.com"].membership_id)
    with pytest.raises(auth.NotAuthenticated):
        await auth.authenticate(sid)
