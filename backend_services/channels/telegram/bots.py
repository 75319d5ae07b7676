"""Telegram bots of a workspace: connect, list, stop/start/restart, switch mode, delete.

A tenant admin pastes a token from @BotFather; it is checked with `getMe` before anything
is stored, then kept encrypted next to a random per-bot webhook secret. The fleet never
sees the dashboard: it reads `fleet_bots()` / `fleet_bot()` (the only functions that hand
out a decrypted token) and is prompted by `FleetChanged` events after every commit. Every
change bumps the channel's `version`, so a worker can tell that the bot it runs is out of
date and restart just that one.

What a bot is doing is not stored here: the fleet reports it in Redis (`status`), and
`BotView.status` combines the desired state with that report, saying "offline" honestly
when the fleet has stopped reporting.

Tenant wall: every dashboard function takes the principal and looks rows up by
(id, workspace), so another workspace's bot looks exactly like a missing one.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.assistants import service as assistants
from backend_services.channels.telegram import api as telegram_api
from backend_services.channels.telegram import status as bot_status
from backend_services.channels.telegram.events import FleetAction, publish_fleet_changed
from backend_services.core import audit, ratelimit
from backend_services.core.db import session_scope
from backend_services.core.errors import Conflict, NotFound, ValidationFailed
from backend_services.core.literals import one_of
from backend_services.core.principal import Principal
from backend_services.core.scoped import in_workspace
from backend_services.core.security import decrypt_secret, encrypt_secret
from backend_services.core.settings import get_settings
from backend_services.core.views import view_from
from backend_services.models import Assistant, Channel, Role, Workspace

log = logging.getLogger(__name__)

KIND = "telegram"
Mode = Literal["polling", "webhook"]
MODES: tuple[Mode, ...] = get_args(Mode)
Desired = Literal["running", "stopped"]
DESIRED: tuple[Desired, ...] = get_args(Desired)
# Shown on the page: the fleet's report combined with what the tenant asked for.
DisplayStatus = Literal["running", "starting", "stopping", "stopped", "error", "offline"]
WEBHOOK_PATH = "/api/telegram/webhook/{channel_id}"
# Token checks call Telegram; a workspace gets this many per minute.
TOKEN_CHECKS_PER_MINUTE = 20
_DUMMY_SECRET = secrets.token_urlsafe(32)


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class BotView:
    """What the Channels page shows of a bot. Never a token or a secret."""

    id: int
    assistant_id: int
    assistant_name: str
    bot_id: int
    username: str
    name: str
    mode: Mode
    desired: Desired
    status: DisplayStatus
    error: str
    worker: str
    last_activity: datetime | None
    messages_today: int
    version: int
    created_at: datetime

    @property
    def link(self) -> str:
        return f"https://t.me/{self.username}"


@dataclass(frozen=True)
class FleetBot:
    """Everything a fleet worker needs to run one bot. Holds the decrypted token: keep it
    in memory only; `repr` hides the secrets so a logged FleetBot leaks nothing."""

    channel_id: int
    workspace_id: int
    assistant_id: int
    bot_id: int
    username: str
    token: str = field(repr=False)
    mode: Mode
    webhook_secret: str = field(repr=False)
    webhook_url: str
    version: int


def webhook_base() -> str:
    s = get_settings()
    return (s.telegram_webhook_base or s.base_url).rstrip("/")


def webhook_url(channel_id: int) -> str:
    """Where Telegram posts a webhook-mode bot's updates (the fleet calls setWebhook)."""
    return webhook_base() + WEBHOOK_PATH.format(channel_id=channel_id)


def display_status(
    desired_running: bool, version: int, st: bot_status.BotStatus | None
) -> tuple[DisplayStatus, str]:
    """(status, error) for the page, from the desired state and the fleet's last report.

    A report that is missing or stale means nobody runs the bot: "offline" when it should
    run, "stopped" when it should not. A report about an older version of the channel
    means the fleet has not applied the latest change yet: "starting" (or "stopping").
    """
    reported = st.status if st is not None and not st.stale else None
    if not desired_running:
        return ("stopping", "") if reported in ("running", "starting") else ("stopped", "")
    if reported is None or st is None:
        seconds = bot_status.stale_after()
        return "offline", (
            f"The bot fleet has not reported on this bot for over {seconds} s. "
            "It starts again by itself once the fleet is back."
        )
    if st.version is not None and st.version < version:
        return "starting", ""
    if reported == "error":
        return "error", st.error or "The bot stopped with an error."
    if reported == "stopped":
        return "starting", ""
    return reported, ""


def _view(row: Channel, assistant_name: str, st: bot_status.BotStatus | None) -> BotView:
    assert row.id is not None
    shown, error = display_status(row.is_active, row.version, st)
    return view_from(
        BotView, row, assistant_name=assistant_name, bot_id=int(row.external_id or 0),
        mode=_stored_mode(row.mode), desired="running" if row.is_active else "stopped",
        status=shown, error=error, worker=st.worker if st else "",
        last_activity=st.last_activity if st else None,
        messages_today=st.messages_today if st else 0,
    )


def _fleet_bot(row: Channel) -> FleetBot:
    assert row.id is not None
    return view_from(
        FleetBot, row, channel_id=row.id, bot_id=int(row.external_id),
        token=decrypt_secret(row.token_encrypted), mode=_stored_mode(row.mode),
        webhook_secret=decrypt_secret(row.webhook_secret_encrypted),
        webhook_url=webhook_url(row.id),
    )


# --------------------------------------------------------------------------- helpers


def _stored_mode(mode: str) -> Mode:
    """The column's value as a Mode (only `_clean_mode` output is ever stored)."""
    return one_of(mode, MODES) or "polling"


def _clean_mode(posted: str) -> Mode:
    mode = one_of(posted, MODES)
    if mode is None:
        raise ValidationFailed("Choose long polling or webhook mode.")
    if mode == "webhook":
        official = urlsplit(telegram_api.api_base()).hostname == "api.telegram.org"
        if official and urlsplit(webhook_base()).scheme != "https":
            raise ValidationFailed(
                "Webhook mode needs this app to be reachable by Telegram over HTTPS, and it "
                "is not configured so (REPLYX_TELEGRAM_WEBHOOK_BASE). Keep long polling: it "
                "works everywhere."
            )
    return mode



BOT_NOT_FOUND = "Bot not found."


async def _owned(
    session: AsyncSession, principal: Principal, channel_id: int, *, lock: bool = False
) -> Channel:
    """The workspace's bot; another workspace's looks missing."""
    row = await in_workspace(session, Channel, channel_id, principal,
                             missing=BOT_NOT_FOUND, lock=lock)
    if row.kind != KIND:
        raise NotFound(BOT_NOT_FOUND)
    return row


async def _check_token(
    principal: Principal, raw_token: str
) -> tuple[str, telegram_api.BotIdentity]:
    token, bot_id = telegram_api.clean_token(raw_token)
    await ratelimit.hit_or_raise(
        "telegram-token-check", str(principal.workspace_id), TOKEN_CHECKS_PER_MINUTE, 60,
        "token checks",
    )
    me = await telegram_api.get_me(token)
    if me.bot_id != bot_id:
        raise ValidationFailed(telegram_api.REFUSED)
    return token, me


def _target(row: Channel) -> str:
    return f"channel:{row.id}:@{row.username}"


async def _changed(session: AsyncSession, principal: Principal, row: Channel, action: str,
                   details: dict[str, Any] | None = None) -> None:
    """A change to the bot: a new version (the fleet restarts whoever runs an older one),
    stored and audited."""
    row.version += 1
    row.updated_at = datetime.now(UTC)
    session.add(row)
    await audit.record_by(session, principal, action, _target(row), details)


async def _settled(principal: Principal, row: Channel, *, changed: bool) -> BotView:
    """After the commit of an edit: the fleet is told when something changed; the page
    gets the bot as it is now."""
    if changed:
        await _announce(row, "changed")
    assert row.id is not None
    return await _view_of(principal, row.id)


async def _announce(row: Channel, action: FleetAction) -> None:
    """After commit: show "starting" at once (the fleet overwrites it), tell the fleet."""
    assert row.id is not None
    if row.is_active and action != "removed":
        await bot_status.report_status(row.id, "starting", version=row.version)
    await publish_fleet_changed(row.workspace_id, row.id, action, row.version)


async def _view_of(principal: Principal, channel_id: int) -> BotView:
    async with session_scope() as session:
        row = await _owned(session, principal, channel_id)
        assistant = await session.get(Assistant, row.assistant_id)
        name = assistant.name if assistant else ""
    return _view(row, name, (await bot_status.statuses([channel_id]))[channel_id])


# --------------------------------------------------------------------------- dashboard


async def add_bot(
    principal: Principal, assistant_id: int, token: str, *, mode: str = "polling"
) -> BotView:
    """Connect a bot: check the token with Telegram, store it encrypted, start it."""
    principal.require(Role.ADMIN)
    mode = _clean_mode(mode)
    async with session_scope() as session:
        await assistants.in_scope(session, principal, assistant_id)
    token, me = await _check_token(principal, token)
    try:
        async with session_scope() as session:
            assistant = await assistants.in_scope(session, principal, assistant_id)
            existing = (
                await session.exec(
                    select(Channel).where(
                        Channel.kind == KIND, Channel.external_id == str(me.bot_id)
                    )
                )
            ).first()
            if existing is not None:
                raise _duplicate(principal, me.username, existing,
                                 await session.get(Assistant, existing.assistant_id))
            row = Channel(
                workspace_id=principal.workspace_id,
                assistant_id=int(assistant_id),
                kind=KIND,
                name=me.first_name[:120],
                token_encrypted=encrypt_secret(token),
                webhook_secret_encrypted=encrypt_secret(secrets.token_urlsafe(32)),
                external_id=str(me.bot_id),
                username=me.username[:64],
                mode=mode,
                is_active=True,
                version=1,
                updated_at=datetime.now(UTC),
            )
            session.add(row)
            await session.flush()
            await audit.record_by(
                session, principal, "telegram_bot_added", _target(row),
                {"bot_id": me.bot_id, "assistant_id": assistant.id, "mode": mode},
            )
    except IntegrityError:
        # Someone connected the same bot between the check and the insert.
        raise Conflict(
            f"@{me.username} is already connected to an assistant. Disconnect it there first."
        ) from None
    await _announce(row, "added")
    return _view(row, assistant.name, (await bot_status.statuses([row.id or 0])).get(row.id or 0))


def _duplicate(
    principal: Principal, username: str, existing: Channel, assistant: Assistant | None
) -> Conflict:
    if existing.workspace_id == principal.workspace_id:
        where = f"the assistant “{assistant.name}”" if assistant else "an assistant"
        return Conflict(f"@{username} is already connected to {where} here.")
    return Conflict(
        f"@{username} is already connected to another workspace. Disconnect it there first, "
        "or create a new bot with @BotFather."
    )


async def list_bots(principal: Principal) -> list[BotView]:
    """The workspace's bots, oldest first, with what the fleet last reported."""
    principal.require(Role.OPERATOR)
    async with session_scope() as session:
        rows = list(
            await session.exec(
                select(Channel, Assistant.name)
                .join(Assistant, col(Assistant.id) == col(Channel.assistant_id))
                .where(Channel.workspace_id == principal.workspace_id, Channel.kind == KIND)
                .order_by(col(Channel.id))
            )
        )
    found = await bot_status.statuses([c.id for c, _ in rows if c.id is not None])
    return [_view(c, name, found.get(c.id or 0)) for c, name in rows]


async def get_bot(principal: Principal, channel_id: int) -> BotView:
    principal.require(Role.OPERATOR)
    return await _view_of(principal, channel_id)


async def set_desired(principal: Principal, channel_id: int, desired: str) -> BotView:
    """Start ("running") or stop ("stopped") a bot; the fleet follows within seconds."""
    principal.require(Role.ADMIN)
    if one_of(desired, DESIRED) is None:
        raise ValidationFailed("A bot is either running or stopped.")
    running = desired == "running"
    async with session_scope() as session:
        row = await _owned(session, principal, channel_id, lock=True)
        if row.is_active == running:
            changed = False
        else:
            changed = True
            row.is_active = running
            await _changed(session, principal, row,
                           "telegram_bot_started" if running else "telegram_bot_stopped")
    return await _settled(principal, row, changed=changed)


async def restart(principal: Principal, channel_id: int) -> BotView:
    """Restart a bot (and start it if it was stopped): a fresh start after an error."""
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        row = await _owned(session, principal, channel_id, lock=True)
        row.is_active = True
        await _changed(session, principal, row, "telegram_bot_restarted")
    await _announce(row, "restart")
    return await _view_of(principal, channel_id)


async def delete_bot(principal: Principal, channel_id: int) -> None:
    """Disconnect a bot. Its conversations stay (their channel becomes empty); a
    webhook-mode bot is also told to stop calling us (best effort)."""
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        row = await _owned(session, principal, channel_id, lock=True)
        token = decrypt_secret(row.token_encrypted) if row.mode == "webhook" else ""
        workspace_id, target = row.workspace_id, _target(row)
        await session.delete(row)
        await audit.record_by(session, principal, "telegram_bot_deleted", target)
    await bot_status.forget(int(channel_id))
    await publish_fleet_changed(workspace_id, int(channel_id), "removed")
    if token and not await telegram_api.delete_webhook_quietly(token):
        log.warning("could not remove the webhook of deleted channel %s", channel_id)


async def set_mode(principal: Principal, channel_id: int, mode: str) -> BotView:
    """Switch between long polling and webhook; the fleet sets or deletes the webhook."""
    principal.require(Role.ADMIN)
    mode = _clean_mode(mode)
    async with session_scope() as session:
        row = await _owned(session, principal, channel_id, lock=True)
        changed = row.mode != mode
        if changed:
            old, row.mode = row.mode, mode
            await _changed(session, principal, row, "telegram_bot_mode_changed",
                           {"from": old, "to": mode})
    return await _settled(principal, row, changed=changed)


async def change_assistant(principal: Principal, channel_id: int, assistant_id: int) -> BotView:
    """Let another assistant of the workspace answer through this bot from now on."""
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        row = await _owned(session, principal, channel_id, lock=True)
        assistant = await assistants.in_scope(session, principal, assistant_id)
        changed = row.assistant_id != assistant.id
        if changed:
            old, row.assistant_id = row.assistant_id, int(assistant_id)
            await _changed(session, principal, row, "telegram_bot_assistant_changed",
                           {"from": old, "to": int(assistant_id)})
    return await _settled(principal, row, changed=changed)


async def replace_token(principal: Principal, channel_id: int, token: str) -> BotView:
    """Store a new token of the same bot (after /revoke in @BotFather)."""
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        await _owned(session, principal, channel_id)
    token, me = await _check_token(principal, token)
    async with session_scope() as session:
        row = await _owned(session, principal, channel_id, lock=True)
        if row.external_id != str(me.bot_id):
            raise ValidationFailed(
                f"This token belongs to another bot (@{me.username}), not @{row.username}. "
                "To connect that bot, add it as a new bot."
            )
        row.token_encrypted = encrypt_secret(token)
        row.username, row.name = me.username[:64], me.first_name[:120]
        await _changed(session, principal, row, "telegram_bot_token_replaced")
    await _announce(row, "changed")
    return await _view_of(principal, channel_id)


# --------------------------------------------------------------------------- the fleet


async def fleet_bots() -> list[FleetBot]:
    """Every bot that should run, across all workspaces (system level: the fleet only)."""
    async with session_scope() as session:
        rows = list(
            await session.exec(
                select(Channel)
                .join(Workspace, col(Workspace.id) == col(Channel.workspace_id))
                .where(Channel.kind == KIND, col(Channel.is_active),
                       col(Workspace.blocked_at).is_(None))
                .order_by(col(Channel.id))
            )
        )
    return [_fleet_bot(r) for r in rows]


async def fleet_bot(channel_id: int) -> FleetBot | None:
    """The bot as it should run now, or None when it is stopped or gone."""
    async with session_scope() as session:
        row = await session.get(Channel, int(channel_id))
        workspace = await session.get(Workspace, row.workspace_id) if row else None
    if row is None or row.kind != KIND or not row.is_active:
        return None
    if workspace is None or workspace.blocked_at is not None:
        return None
    return _fleet_bot(row)


async def verify_webhook_secret(channel_id: int, secret: str) -> FleetBot | None:
    """The running bot whose webhook secret this is, or None (compared in constant time)."""
    bot = await fleet_bot(channel_id)
    expected = bot.webhook_secret if bot is not None else _DUMMY_SECRET
    ok = hmac.compare_digest(expected.encode(), (secret or "").encode())
    return bot if ok and bot is not None else None
