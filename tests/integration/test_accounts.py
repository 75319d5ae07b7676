"""One's own account (where one is signed in, a new address, deleting the account) and
deleting a workspace (typed name, grace period, export first, then everything goes)."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile

import pytest
import sqlalchemy as sa

from backend_services.assistants import service as assistants
from backend_services.assistants.service import AssistantInput
from backend_services.core import file_store
from backend_services.core.db import session_scope
from backend_services.core.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from backend_services.identity import account, auth, my_workspaces, team, workspace_deletion
from tests.support.accounts import PW, join_by_invitation, signed_in_owner
from tests.support.smtp_server import SmtpTestServer

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
PHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
         "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")


async def test_one_sees_where_one_is_signed_in_and_signs_out_elsewhere(clean: None) -> None:
    anna, laptop = await signed_in_owner("anna@example.com", "Shop", FIREFOX)
    phone = (await auth.login(email="anna@example.com", password=PW, user_agent=PHONE)
             ).session_id
    third = (await auth.login(email="anna@example.com", password=PW)).session_id
    here = await auth.authenticate(laptop)
    seen = await account.list_sessions(here)
    assert sorted(s.device for s in seen) == ["Firefox on Windows", "Safari on iPhone",
                                              "Unknown device"]
    assert [s.device for s in seen if s.current] == ["Firefox on Windows"]

    # Someone else's handle ends nothing.
    bob, bob_sid = await signed_in_owner("bob@example.com", "Bob's")
    bob_handle = (await account.list_sessions(await auth.authenticate(bob_sid)))[0].handle
    with pytest.raises(NotFound):
        await account.sign_out(here, bob_handle)
    assert (await auth.authenticate(bob_sid)).user_id == bob.user_id

    phone_handle = next(s.handle for s in seen if s.device == "Safari on iPhone")
    assert await account.sign_out(here, phone_handle) == 1
    with pytest.raises(NotAuthenticated):
        await auth.authenticate(phone)
    assert await account.sign_out(here, None) == 1  # every other one: the third
    with pytest.raises(NotAuthenticated):
        await auth.authenticate(third)
    assert [s.current for s in await account.list_sessions(here)] == [True]
    del anna


async def test_a_new_address_applies_only_once_it_is_confirmed(
    clean: None, smtp: SmtpTestServer
) -> None:
    anna, sid = await signed_in_owner("anna@example.com", "Shop")
    await signed_in_owner("taken@example.com", "Other")
    with pytest.raises(ValidationFailed):
        await account.request_email_change(anna, "new@example.com", "Wrong-password-1")
    with pytest.raises(Conflict):
        await account.request_email_change(anna, "Taken@Example.com", PW)
    await account.request_email_change(anna, "New@Example.com", PW)
    confirm = await asyncio.to_thread(smtp.wait_for, "new@example.com", "Confirm your new")
    notice = await asyncio.to_thread(smtp.wait_for, "anna@example.com", "being changed")
    assert "new@example.com" in notice.text
    # Until the new address confirms, the old one is the account's.
    await auth.login(email="anna@example.com", password=PW)

    token = confirm.link("/confirm-email-change").split("token=")[1]
    assert await account.confirm_email_change(token) == "new@example.com"
    assert (await auth.login(email="new@example.com", password=PW)).principal.user_id == \
        anna.user_id
    with pytest.raises(NotAuthenticated):
        await auth.login(email="anna@example.com", password=PW)
    with pytest.raises(ValidationFailed, match="already been used"):
        await account.confirm_email_change(token)
    assert (await auth.authenticate(sid)).email == "new@example.com"


async def test_an_account_goes_only_when_no_workspace_is_left_without_an_owner(
    clean: None, smtp: SmtpTestServer
) -> None:
    anna, anna_sid = await signed_in_owner("anna@example.com", "Anna's shop")
    bob, _ = await signed_in_owner("bob@example.com", "Bob's bikes")
    await join_by_invitation(bob, "anna@example.com", smtp)

    with pytest.raises(ValidationFailed, match="only owner of Anna's shop"):
        await account.delete_account(anna, PW)
    await workspace_deletion.request(anna, "Anna's shop")
    with pytest.raises(ValidationFailed, match="password"):
        await account.delete_account(anna, "Not-her-password-1")
    await account.delete_account(anna, PW)

    with pytest.raises(NotAuthenticated):
        await auth.authenticate(anna_sid)
    with pytest.raises(NotAuthenticated):
        await auth.login(email="anna@example.com", password=PW)
    assert [m.email for m in await team.list_members(bob)] == ["bob@example.com"]
    # The address is free again: a new account can use it.
    await auth.signup(email="anna@example.com", password=PW, name="Anna again",
                      workspace_name="Fresh start")


async def test_a_workspace_is_deleted_after_its_grace_period_with_everything_in_it(
    clean: None, smtp: SmtpTestServer
) -> None:
    anna, anna_sid = await signed_in_owner("anna@example.com", "Anna's shop")
    bob, _ = await signed_in_owner("bob@example.com", "Bob's bikes")
    await assistants.create_assistant(anna, AssistantInput(name="Anna helper"))
    await assistants.create_assistant(bob, AssistantInput(name="Bob helper"))
    await file_store.get_store().put(file_store.upload_key(anna.workspace_id, "faq.txt"),
                                     b"Refunds take five days.")
    await join_by_invitation(anna, "bob@example.com", smtp)
    bob_in_anna = (await auth.login(email="bob@example.com", password=PW)).session_id
    await my_workspaces.switch(await auth.authenticate(bob_in_anna), anna.workspace_id)

    # The export first: the workspace's own records and files, no secrets, no one else's.
    exported = io.BytesIO()
    await workspace_deletion.write_export(anna, exported)
    archive = zipfile.ZipFile(exported)
    names = set(archive.namelist())
    assert {"workspace.json", "members.jsonl", "assistants.jsonl", "messages.jsonl",
            "files/faq.txt"} <= names
    exported = [json.loads(line) for line in archive.read("assistants.jsonl").splitlines()]
    assert [a["name"] for a in exported] == ["Anna helper"]
    everything = b"".join(archive.read(n) for n in names)
    assert b"Bob helper" not in everything and b"password_hash" not in everything
    operator = await auth.authenticate(bob_in_anna)
    with pytest.raises(PermissionDenied):
        await workspace_deletion.write_export(operator, io.BytesIO())
    with pytest.raises(PermissionDenied):
        await workspace_deletion.request(operator, "Anna's shop")

    with pytest.raises(ValidationFailed, match="exactly"):
        await workspace_deletion.request(anna, "Anna shop")
    assert (await workspace_deletion.state_of(anna)).delete_after is None
    when = await workspace_deletion.request(anna, "Anna's shop")
    assert (await workspace_deletion.state_of(anna)).delete_after == when
    assert await workspace_deletion.purge_due() == 0  # the grace period is not over
    await workspace_deletion.cancel(anna)
    assert (await workspace_deletion.state_of(anna)).delete_after is None
    await workspace_deletion.request(anna, "Anna's shop")
    async with session_scope() as s:  # the grace period runs out
        await s.exec(sa.text(  # type: ignore[call-overload]
            "UPDATE workspaces SET delete_after = now() - interval '1 s' WHERE id = :w"
        ).bindparams(w=anna.workspace_id))
    assert await workspace_deletion.purge_due() == 1

    async with session_scope() as s:
        tables = (await s.exec(sa.text(  # type: ignore[call-overload]
            "SELECT table_name FROM information_schema.columns WHERE column_name = "
            "'workspace_id' AND table_schema = 'public'"))).scalars().all()
        left = {t: n for t in tables if (n := (await s.exec(sa.text(  # type: ignore[call-overload]
            f"SELECT count(*) FROM {t} WHERE workspace_id = :w"
        ).bindparams(w=anna.workspace_id))).scalar_one())}
    assert left == {}  # stored_files too: the file went with the workspace
    assert await file_store.get_store().get(
        file_store.upload_key(anna.workspace_id, "faq.txt")) is None
    with pytest.raises(NotAuthenticated):
        await auth.authenticate(anna_sid)  # her only workspace is gone
    # Bob's browser was in Anna's workspace: it moves to his own, and his is untouched.
    moved = await auth.authenticate(bob_in_anna)
    assert moved.workspace_id == bob.workspace_id
    assert [a.name for a in await assistants.list_assistants(moved)] == ["Bob helper"]
