"""The platform admin runs the platform without a shell: blocking a workspace (and what that
stops), platform administration granted and revoked, platform settings that apply, and the
audit log viewer every one of those actions shows up in — for the admin, and for a
workspace's owner within their own workspace only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest

from backend_services.channels.telegram import bots
from backend_services.core import bans
from backend_services.core.db import session_scope
from backend_services.core.errors import (
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    WorkspaceLeft,
)
from backend_services.identity import (
    audit_viewer,
    auth,
    my_workspaces,
    platform_admin,
    platform_settings,
    team,
    workspace_admin,
)
from backend_services.identity.audit_viewer import STAFF, AuditFilter
from backend_services.models import AuditLog, Role, Workspace
from backend_services.widget import settings as widget
from backend_services.widget.settings import WidgetInput
from tests.integration.conversation_helpers import PW, shop
from tests.support.accounts import signed_in_owner
from tests.support.accounts import signed_in_platform_admin as _admin
from tests.support.fleet_events import fleet_actions
from tests.support.smtp_server import SmtpTestServer
from tests.support.telegram_server import TelegramTestServer, serving

TOKEN = "7001001001:AAHfLq9x2Ck3vYw8PzR4mTn6sBd1eUgJ0aQ"
SHOP = "https://shop.example.com"


@pytest.fixture
async def telegram(clean: None, env: pytest.MonkeyPatch) -> AsyncIterator[TelegramTestServer]:
    async with serving(env, {TOKEN: "shop_help_bot"}) as server:
        yield server


async def test_a_blocked_workspace_is_closed_to_its_members_widget_and_bots_until_unblocked(
    telegram: TelegramTestServer,
) -> None:
    root, _ = await _admin()
    s = await shop("a")
    assert s.bot.id is not None
    owner_sid = (await auth.login(email="owner-a@example.com", password=PW)).session_id
    anna_sid = (await auth.login(email="anna-a@example.com", password=PW)).session_id
    # Anna also has a workspace of her own; Boris only this one.
    await auth.create_user(email="anna-a@example.com", password=PW, name="Anna",
                           workspace_id=root.workspace_id, role=Role.OPERATOR)
    public_id = (await widget.update_settings(
        s.owner, s.bot.id, WidgetInput(allowed_origins=(SHOP,)))).public_id
    bot = await bots.add_bot(s.owner, s.bot.id, TOKEN)
    assert [b.channel_id for b in await bots.fleet_bots()] == [bot.id]

    with pytest.raises(ValidationFailed, match="why"):
        await workspace_admin.set_blocked(root, s.owner.workspace_id, True, "  ")
    with pytest.raises(PermissionDenied):
        await workspace_admin.set_blocked(s.owner, s.owner.workspace_id, True, "self")
    await workspace_admin.set_blocked(root, s.owner.workspace_id, True, "Unpaid invoices")

    # Members: the owner's session ends with the reason; Anna's moves to her other workspace.
    with pytest.raises(NotAuthenticated, match=r"blocked.*Unpaid invoices"):
        await auth.authenticate(owner_sid)
    with pytest.raises(NotAuthenticated, match="Unpaid invoices"):
        await auth.login(email="owner-a@example.com", password=PW)
    with pytest.raises(WorkspaceLeft, match="Unpaid invoices"):
        await auth.authenticate(anna_sid)
    assert (await auth.authenticate(anna_sid)).workspace_id == root.workspace_id
    anna_elsewhere = await auth.authenticate(anna_sid)
    with pytest.raises(PermissionDenied, match="blocked"):
        await my_workspaces.switch(anna_elsewhere, s.owner.workspace_id)
    assert [c.blocked for c in await my_workspaces.list_mine(anna_elsewhere)
            if c.id == s.owner.workspace_id] == [True]
    # Visitors and Telegram: no widget, no bot.
    assert await widget.public_config(public_id) is None
    assert await bots.fleet_bots() == []
    assert await bots.fleet_bot(bot.id) is None
    assert (bot.id, "changed") in await fleet_actions()
    # The admin sees it blocked, with the reason.
    detail = await workspace_admin.workspace_detail(root, s.owner.workspace_id)
    assert (detail.row.blocked, detail.row.blocked_reason) == (True, "Unpaid invoices")
    assert [m.email for m in detail.members] == [
        "owner-a@example.com", "anna-a@example.com", "boris-a@example.com"]
    assert [a.name for a in detail.assistants] == ["Bot a"] and detail.bots == 1

    await workspace_admin.set_blocked(root, s.owner.workspace_id, False)
    assert await widget.public_config(public_id) is not None
    assert [b.channel_id for b in await bots.fleet_bots()] == [bot.id]
    back = await auth.login(email="owner-a@example.com", password=PW)
    assert back.principal.workspace_id == s.owner.workspace_id
    actions = [(a.action, a.details) for a in (await audit_viewer.search(
        root, AuditFilter(workspace=str(s.owner.workspace_id)))).lines
        if a.action.startswith("workspace_")]
    assert actions[:2] == [("workspace_unblocked", ""),
                           ("workspace_blocked", '{"reason": "Unpaid invoices"}')]


async def test_the_workspace_list_shows_members_use_and_balance_and_finds_by_name(
    clean: None,
) -> None:
    root, _ = await _admin()
    a = await shop("a")
    await shop("b")
    rows = await workspace_admin.list_workspaces(root)
    assert {r.name for r in rows} == {"Platform", "Shop a", "Shop b"}
    row_a = next(r for r in rows if r.name == "Shop a")
    assert (row_a.members, row_a.assistants, row_a.blocked) == (3, 1, False)
    assert row_a.balance  # every workspace has a balance in the platform's currency
    assert [r.name for r in await workspace_admin.list_workspaces(root, "shop A")] == ["Shop a"]
    assert [r.id for r in await workspace_admin.list_workspaces(
        root, str(a.owner.workspace_id))] == [a.owner.workspace_id]
    with pytest.raises(PermissionDenied):
        await workspace_admin.list_workspaces(a.owner)
    with pytest.raises(PermissionDenied):
        await workspace_admin.workspace_detail(a.owner, a.owner.workspace_id)
    with pytest.raises(NotFound):
        await workspace_admin.workspace_detail(root, 999_999)

    await workspace_admin.set_storage_quota(root, a.owner.workspace_id, 50)
    assert (await workspace_admin.workspace_detail(root, a.owner.workspace_id)
            ).storage_quota_mb == 50
    with pytest.raises(ValidationFailed):
        await workspace_admin.set_storage_quota(root, a.owner.workspace_id, 0)


async def test_platform_administration_is_granted_and_revoked_but_never_by_oneself(
    clean: None,
) -> None:
    root, _ = await _admin()
    s = await shop("a")
    anna = s.anna
    await platform_admin.set_platform_admin(root, anna.user_id, True)
    anna_now = (await auth.login(email="anna-a@example.com", password=PW)).principal
    assert anna_now.is_platform_admin
    assert [r.email for r in await platform_admin.list_users(anna_now, "Anna")] == [
        "anna-a@example.com"]  # matches the name as well as the e-mail
    with pytest.raises(ValidationFailed, match="own"):
        await platform_admin.set_platform_admin(anna_now, anna_now.user_id, False)
    await platform_admin.set_platform_admin(root, anna.user_id, False)
    assert not (await auth.login(email="anna-a@example.com", password=PW)).principal \
        .is_platform_admin
    with pytest.raises(PermissionDenied):
        await platform_admin.set_platform_admin(s.owner, s.owner.user_id, True)
    row = next(r for r in await platform_admin.list_users(root, "owner-a"))
    assert row.workspaces == "Shop a (owner)"


async def test_sign_up_mode_and_new_workspace_limits_apply_where_people_act(
    clean: None, smtp: SmtpTestServer
) -> None:
    root, _ = await _admin()
    owner, _ = await signed_in_owner("olga@example.com", "Olga's")
    with pytest.raises(PermissionDenied):
        await platform_settings.update(owner, {"signup_mode": "closed"})
    # One bad value saves none of the others.
    with pytest.raises(ValidationFailed):
        await platform_settings.update(root, {"signup_mode": "closed",
                                              "workspaces_per_person": "many"})
    assert (await platform_settings.current()).signup_mode == "open"

    await platform_settings.update(root, {"signup_mode": "invite_only",
                                          "new_workspace_storage_mb": "20",
                                          "workspaces_per_person": "2"})
    with pytest.raises(PermissionDenied, match="invitation"):
        await auth.signup(email="new@example.com", password=PW, name="N", workspace_name="")
    await team.invite(owner, "newbie@example.com", Role.OPERATOR)
    token = smtp.wait_for("newbie@example.com", "invited").link("/invite").split("token=")[1]
    await team.accept_invitation(token, name="Newbie", password=PW)  # invitations still work

    second = await my_workspaces.create(owner, "Olga's second")
    async with session_scope() as session:
        ws = await session.get(Workspace, second)
        assert ws is not None and ws.storage_quota_bytes == 20 * 1024 * 1024
    with pytest.raises(ValidationFailed, match="most one person"):
        await my_workspaces.create(owner, "Olga's third")

    await platform_settings.update(root, {"signup_mode": "closed"})
    await team.invite(owner, "late@example.com", Role.OPERATOR)
    token = smtp.wait_for("late@example.com", "invited").link("/invite").split("token=")[1]
    with pytest.raises(PermissionDenied, match="not taking new accounts"):
        await team.accept_invitation(token, name="Late", password=PW)
    with pytest.raises(PermissionDenied, match="not taking new accounts"):
        await auth.signup(email="new@example.com", password=PW, name="N", workspace_name="")
    changes = (await audit_viewer.search(root, AuditFilter(
        action="platform_settings_changed"))).lines
    assert [c.target for c in changes] == [
        "signup_mode", "new_workspace_storage_mb, signup_mode, workspaces_per_person"]


async def test_every_admin_action_is_audited_and_found_in_the_viewer(clean: None) -> None:
    root, _ = await _admin()
    s = await shop("a")
    ws = s.owner.workspace_id
    await platform_admin.set_blocked(root, s.boris.user_id, True)
    await platform_admin.set_blocked(root, s.boris.user_id, False)
    await platform_admin.set_platform_admin(root, s.anna.user_id, True)
    await platform_admin.set_platform_admin(root, s.anna.user_id, False)
    await workspace_admin.set_blocked(root, ws, True, "Spam")
    await workspace_admin.set_blocked(root, ws, False)
    await workspace_admin.set_storage_quota(root, ws, 10)
    await platform_settings.update(root, {"workspaces_per_person": 3})
    banned = None
    while banned is None:  # each failure counts; the ban comes at the configured number
        banned = await bans.record_failure(bans.LOGIN, "203.0.113.9")
    await bans.lift_ban(root, "203.0.113.9")
    admin_actions = {"user_blocked", "user_unblocked", "platform_admin_granted",
                     "platform_admin_revoked", "workspace_blocked", "workspace_unblocked",
                     "workspace_quota_changed", "platform_settings_changed", "ban_lifted"}
    page = await audit_viewer.search(root, AuditFilter(actor="root@example.com"))
    seen = {line.action for line in page.lines}
    assert admin_actions <= seen, admin_actions - seen
    assert all(line.actor == "Root <root@example.com>" for line in page.lines)
    assert set(await audit_viewer.actions(root)) >= admin_actions

    # Filters: by action, by workspace name, by dates.
    only = await audit_viewer.search(root, AuditFilter(action="workspace_blocked"))
    assert [(x.action, x.workspace) for x in only.lines] == [("workspace_blocked", "Shop a")]
    today = datetime.now(UTC).date()
    assert (await audit_viewer.search(root, AuditFilter(
        action="workspace_blocked", since=today, until=today))).total == 1
    assert (await audit_viewer.search(root, AuditFilter(
        action="workspace_blocked", until=today - timedelta(days=1)))).total == 0
    with pytest.raises(ValidationFailed):
        await audit_viewer.search(root, AuditFilter(since=today, until=date(2000, 1, 1)))

    # The owner sees their own workspace's log, staff as "Platform administrator", and
    # nothing of another workspace whatever they filter on.
    other = await shop("b")
    own = await audit_viewer.search(s.owner, AuditFilter(), own_workspace=True)
    assert own.total > 0
    names = {x.workspace for x in own.lines}
    assert names == {"Shop a"}
    staff = [x for x in own.lines if x.action == "workspace_blocked"]
    assert [x.actor for x in staff] == [STAFF]
    crossed = await audit_viewer.search(
        s.owner, AuditFilter(workspace=str(other.owner.workspace_id)), own_workspace=True)
    assert {x.workspace for x in crossed.lines} <= {"Shop a"}
    with pytest.raises(PermissionDenied):
        await audit_viewer.search(s.anna, AuditFilter(), own_workspace=True)
    with pytest.raises(PermissionDenied):
        await audit_viewer.search(s.owner, AuditFilter())


async def test_the_viewer_pages_through_a_long_log_and_the_csv_holds_every_row(
    clean: None,
) -> None:
    root, _ = await _admin()
    async with session_scope() as session:
        for i in range(120):
            session.add(AuditLog(action="test_marker", target=f"=cmd|{i}"))
    flt = AuditFilter(action="test_marker")
    first = await audit_viewer.search(root, flt, 1)
    last = await audit_viewer.search(root, flt, 99)  # past the end: the last page
    assert (first.total, first.pages, len(first.lines)) == (120, 3, 50)
    assert (last.page, len(last.lines)) == (3, 20)
    ids = [x.id for p in (1, 2, 3) for x in (await audit_viewer.search(root, flt, p)).lines]
    assert len(set(ids)) == 120 and ids == sorted(ids, reverse=True)

    body = b"".join([c async for c in await audit_viewer.csv_chunks(root, flt)]).decode()
    lines = body.strip().splitlines()
    assert lines[0].startswith("id,time_utc,action,actor")
    assert len(lines) == 121
    # A cell a spreadsheet would run as a formula is quoted as text.
    assert all(",'=cmd|" in line for line in lines[1:])
    with pytest.raises(PermissionDenied):
        await audit_viewer.csv_chunks((await shop("x")).owner, flt)
