"""Accounts and sessions, through the services, against real PostgreSQL, Valkey and SMTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from backend_services.core.db import session_scope
from backend_services.core.errors import NotAuthenticated, RateLimited, ValidationFailed
from backend_services.core.mailer import MailError
from backend_services.core.security import token_hash
from backend_services.identity import auth, platform_admin, team
from backend_services.models import (
    AuditLog,
    AuthToken,
    Balance,
    Membership,
    Role,
    User,
    UserSession,
    Workspace,
)
from replyx_app.admin_account import create_platform_admin
from tests.support.smtp_server import SmtpTestServer

PW = "Correct-horse-9"


async def _confirmed_owner(smtp: SmtpTestServer, email: str = "ann@example.com") -> int:
    result = await auth.signup(email=email, password=PW, name="Ann", workspace_name="Ann Co")
    mail = await asyncio.to_thread(smtp.wait_for, email, "Confirm")
    await auth.confirm_email(mail.link("/confirm").split("token=")[1])
    return result.workspace_id


async def _actions() -> list[str]:
    async with session_scope() as s:
        return [a.action for a in await s.exec(select(AuditLog).order_by(AuditLog.id))]


async def test_signup_mails_a_confirmation_and_login_waits_for_it(
    clean: None, smtp: SmtpTestServer
) -> None:
    await auth.signup(email="Bob@Example.com", password=PW, name="Bob", workspace_name="")
    with pytest.raises(NotAuthenticated, match="Confirm your e-mail"):
        await auth.login(email="bob@example.com", password=PW)
    mail = await asyncio.to_thread(smtp.wait_for, "bob@example.com", "Confirm")
    token = mail.link("/confirm").split("token=")[1]
    assert await auth.confirm_email(token) == "bob@example.com"
    result = await auth.login(email="BOB@example.com", password=PW)
    assert result.principal.role == Role.OWNER
    assert result.principal.workspace_name == "Bob's workspace"
    with pytest.raises(ValidationFailed, match="already been used"):
        await auth.confirm_email(token)
    assert result.principal.language == "en"


async def test_the_language_of_the_sign_up_page_becomes_the_persons(
    clean: None, smtp: SmtpTestServer
) -> None:
    await auth.signup(email="olga@example.com", password=PW, name="Ольга", workspace_name="",
                      language="ru")
    await auth.signup(email="hans@example.com", password=PW, name="Hans", workspace_name="",
                      language="de")  # a language we do not have: English
    async with session_scope() as session:
        languages = {u.email: u.language for u in await session.exec(select(User))}
    assert languages == {"olga@example.com": "ru", "hans@example.com": "en"}


async def test_duplicate_signup_and_weak_passwords_are_refused(
    clean: None, smtp: SmtpTestServer
) -> None:
    await auth.signup(email="c@example.com", password=PW, name="C", workspace_name="C")
    with pytest.raises(Exception, match="already exists"):
        await auth.signup(email="C@example.com", password=PW, name="C", workspace_name="C")
    for weak in ("short1", "alllowercaseletters", "1234567890123"):
        with pytest.raises(ValidationFailed):
            await auth.signup(email="d@example.com", password=weak, name="D", workspace_name="")
    with pytest.raises(ValidationFailed, match="valid e-mail"):
        await auth.signup(email="not-an-address", password=PW, name="E", workspace_name="")


async def test_wrong_password_locks_the_account_and_says_when_to_retry(
    clean: None, smtp: SmtpTestServer
) -> None:
    await _confirmed_owner(smtp)
    for _ in range(5):
        with pytest.raises(NotAuthenticated, match="Wrong e-mail or password"):
            await auth.login(email="ann@example.com", password="Wrong-password-1", ip="10.0.0.1")
    with pytest.raises(RateLimited) as locked:
        await auth.login(email="ann@example.com", password=PW, ip="10.0.0.2")
    assert 0 < locked.value.retry_after <= 300
    assert f"Try again in {locked.value.retry_after} s" in locked.value.message
    assert (await _actions()).count("login_failure") == 5


async def test_many_failures_from_one_ip_lock_that_ip_for_every_account(
    clean: None, smtp: SmtpTestServer
) -> None:
    await _confirmed_owner(smtp)
    for i in range(20):
        with pytest.raises(NotAuthenticated):
            await auth.login(email=f"nobody{i}@example.com", password="x", ip="10.9.9.9")
    with pytest.raises(RateLimited):
        await auth.login(email="ann@example.com", password=PW, ip="10.9.9.9")
    assert (await auth.login(email="ann@example.com", password=PW, ip="10.1.1.1")).session_id


async def test_session_ids_are_random_128_bit_and_only_their_hash_is_stored(
    clean: None, smtp: SmtpTestServer
) -> None:
    await _confirmed_owner(smtp)
    a = await auth.login(email="ann@example.com", password=PW)
    b = await auth.login(email="ann@example.com", password=PW)
    assert a.session_id != b.session_id
    assert len(a.session_id) >= 22  # 16 random bytes, URL-safe base64
    async with session_scope() as s:
        rows = list(await s.exec(select(UserSession)))
    assert {r.id_hash for r in rows} == {token_hash(a.session_id), token_hash(b.session_id)}
    assert all(a.session_id not in r.id_hash for r in rows)


async def test_logout_ends_the_session_at_once(clean: None, smtp: SmtpTestServer) -> None:
    await _confirmed_owner(smtp)
    sid = (await auth.login(email="ann@example.com", password=PW)).session_id
    assert (await auth.authenticate(sid)).email == "ann@example.com"
    await auth.logout(sid)
    with pytest.raises(NotAuthenticated):
        await auth.authenticate(sid)
    assert "logout" in await _actions()


async def test_idle_and_absolute_expiry_end_sessions(clean: None, smtp: SmtpTestServer) -> None:
    await _confirmed_owner(smtp)
    idle = (await auth.login(email="ann@example.com", password=PW)).session_id
    old = (await auth.login(email="ann@example.com", password=PW)).session_id
    async with session_scope() as s:
        row = await s.get(UserSession, token_hash(idle))
        assert row is not None
        row.last_seen_at = datetime.now(UTC) - timedelta(hours=9)
        s.add(row)
        row2 = await s.get(UserSession, token_hash(old))
        assert row2 is not None
        row2.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        s.add(row2)
    for sid in (idle, old):
        with pytest.raises(NotAuthenticated, match="expired"):
            await auth.authenticate(sid)


async def test_blocking_an_account_ends_its_sessions(clean: None, smtp: SmtpTestServer) -> None:
    await _confirmed_owner(smtp)
    await auth.create_user(email="root@example.com", password=PW, name="Root", workspace_id=1,
                           platform_admin=True)
    admin = (await auth.login(email="root@example.com", password=PW)).principal
    sid = (await auth.login(email="ann@example.com", password=PW)).session_id
    ann = await auth.authenticate(sid)
    await platform_admin.set_blocked(admin, ann.user_id, True)
    with pytest.raises(NotAuthenticated):
        await auth.authenticate(sid)
    with pytest.raises(NotAuthenticated, match="blocked"):
        await auth.login(email="ann@example.com", password=PW)
    assert "user_blocked" in await _actions()


async def test_password_reset_end_to_end_through_smtp(clean: None, smtp: SmtpTestServer) -> None:
    await _confirmed_owner(smtp)
    before = (await auth.login(email="ann@example.com", password=PW)).session_id
    await auth.request_password_reset("ann@example.com", ip="10.0.0.5")
    await auth.request_password_reset("nobody@example.com", ip="10.0.0.5")  # same answer
    mail = await asyncio.to_thread(smtp.wait_for, "ann@example.com", "Reset")
    assert smtp.count_to("nobody@example.com") == 0
    token = mail.link("/reset").split("token=")[1]
    await auth.reset_password(token, "Brand-new-pass-7")
    with pytest.raises(NotAuthenticated):
        await auth.authenticate(before)  # every old session ended
    with pytest.raises(NotAuthenticated):
        await auth.login(email="ann@example.com", password=PW)
    assert (await auth.login(email="ann@example.com", password="Brand-new-pass-7")).session_id
    with pytest.raises(ValidationFailed, match="already been used"):
        await auth.reset_password(token, "Another-pass-8")
    assert {"password_reset_requested", "password_reset"} <= set(await _actions())


async def test_expired_reset_link_is_refused(clean: None, smtp: SmtpTestServer) -> None:
    await _confirmed_owner(smtp)
    await auth.request_password_reset("ann@example.com")
    mail = await asyncio.to_thread(smtp.wait_for, "ann@example.com", "Reset")
    token = mail.link("/reset").split("token=")[1]
    async with session_scope() as s:
        row = (await s.exec(select(AuthToken).where(AuthToken.token_hash == token_hash(token))))
        t = row.one()
        t.expires_at = datetime.now(UTC) - timedelta(minutes=1)
        s.add(t)
    with pytest.raises(ValidationFailed, match="expired"):
        await auth.reset_password(token, "Brand-new-pass-7")


async def test_smtp_failure_is_reported_clearly(clean: None, smtp: SmtpTestServer) -> None:
    await _confirmed_owner(smtp)
    smtp.set_refusing(True)
    try:
        with pytest.raises(MailError, match="could not send"):
            await auth.request_password_reset("ann@example.com")
    finally:
        smtp.set_refusing(False)


async def test_role_change_applies_on_the_next_request_and_is_audited(
    clean: None, smtp: SmtpTestServer
) -> None:
    ws = await _confirmed_owner(smtp)
    owner = (await auth.login(email="ann@example.com", password=PW)).principal
    await auth.create_user(email="op@example.com", password=PW, name="Op", workspace_id=ws,
                           role=Role.OPERATOR)
    sid = (await auth.login(email="op@example.com", password=PW)).session_id
    assert (await auth.authenticate(sid)).role == Role.OPERATOR
    members = {m.email: m for m in await team.list_members(owner)}
    await team.change_role(owner, members["op@example.com"].membership_id, Role.ADMIN)
    assert (await auth.authenticate(sid)).role == Role.ADMIN
    async with session_scope() as s:
        rows = list(await s.exec(select(AuditLog).where(AuditLog.action == "role_change")))
    assert rows and rows[0].details == {"from": "operator", "to": "admin"}


async def test_audit_rows_for_signup_login_and_logout(clean: None, smtp: SmtpTestServer) -> None:
    await _confirmed_owner(smtp)
    sid = (await auth.login(email="ann@example.com", password=PW, ip="10.0.0.7")).session_id
    await auth.logout(sid, ip="10.0.0.7")
    actions = await _actions()
    for expected in ("signup", "email_confirmed", "login_success", "logout"):
        assert expected in actions
    async with session_scope() as s:
        login_row = (await s.exec(select(AuditLog).where(AuditLog.action == "login_success")))
        assert login_row.one().ip == "10.0.0.7"


async def test_login_ticket_is_single_use(clean: None, smtp: SmtpTestServer) -> None:
    await _confirmed_owner(smtp)
    sid = (await auth.login(email="ann@example.com", password=PW)).session_id
    ticket = await auth.issue_login_ticket(sid, "browser-1")
    assert await auth.redeem_login_ticket(ticket, "browser-1") == sid
    assert await auth.redeem_login_ticket(ticket, "browser-1") is None
    assert await auth.redeem_login_ticket("forged", "browser-1") is None
    # Bound to the browser that signed in: another browser's redemption is void (and the
    # ticket is spent, so the real browser cannot be raced afterwards either).
    stolen = await auth.issue_login_ticket(sid, "browser-1")
    assert await auth.redeem_login_ticket(stolen, "browser-2") is None
    assert await auth.redeem_login_ticket(stolen, "browser-1") is None


async def test_users_are_stored_with_argon2_hashes(clean: None, smtp: SmtpTestServer) -> None:
    await _confirmed_owner(smtp)
    async with session_scope() as s:
        user = (await s.exec(select(User))).one()
    assert user.password_hash.startswith("$argon2id$")
    assert PW not in user.password_hash


async def test_changing_the_password_signs_out_every_other_session(
    clean: None, smtp: SmtpTestServer
) -> None:
    await _confirmed_owner(smtp)
    here = await auth.login(email="ann@example.com", password=PW)
    elsewhere = (await auth.login(email="ann@example.com", password=PW)).session_id
    with pytest.raises(ValidationFailed, match="current password"):
        await auth.change_password(here.principal, "Not-the-password-1", "Brand-new-pass-7")
    await auth.change_password(here.principal, PW, "Brand-new-pass-7")
    assert (await auth.authenticate(here.session_id)).email == "ann@example.com"
    with pytest.raises(NotAuthenticated):
        await auth.authenticate(elsewhere)


async def test_signup_whose_mail_fails_leaves_no_account_behind(
    clean: None, smtp: SmtpTestServer
) -> None:
    smtp.set_refusing(True)
    try:
        with pytest.raises(MailError):
            await auth.signup(email="zed@example.com", password=PW, name="Zed", workspace_name="")
    finally:
        smtp.set_refusing(False)
    await auth.signup(email="zed@example.com", password=PW, name="Zed", workspace_name="")
    assert await asyncio.to_thread(smtp.wait_for, "zed@example.com", "Confirm")


async def _workspace_of(email: str) -> tuple[str, list[tuple[int, str]], list[str]]:
    """The workspace an account belongs to: its name, balance rows, member roles."""
    async with session_scope() as s:
        user = (await s.exec(select(User).where(User.email == email))).one()
        membership = (await s.exec(select(Membership).where(Membership.user_id == user.id))).one()
        ws = await s.get(Workspace, membership.workspace_id)
        assert ws is not None
        balances = [(int(b.amount_minor), b.currency) for b in
                    await s.exec(select(Balance).where(Balance.workspace_id == ws.id))]
        roles = [m.role for m in
                 await s.exec(select(Membership).where(Membership.workspace_id == ws.id))]
        return ws.name, balances, roles


async def test_sign_up_and_create_admin_make_workspaces_the_same_way(
    clean: None, smtp: SmtpTestServer
) -> None:
    await auth.signup(email="owner@example.com", password=PW, name="Ann", workspace_name="Ann Co")
    await create_platform_admin("root@example.com", PW, "Root")
    signed_up = await _workspace_of("owner@example.com")
    admin = await _workspace_of("root@example.com")
    assert signed_up == ("Ann Co", [(0, "USD")], ["owner"])
    assert admin == ("Platform administration", [(0, "USD")], ["owner"])
