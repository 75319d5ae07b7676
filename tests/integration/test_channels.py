"""Telegram bots on the Channels page, at the service level: a tenant admin connects a bot
by pasting its token (checked with getMe against the Telegram test server), controls it,
and sees what the fleet reports; the fleet reads what should run and hears every change.

Real PostgreSQL, Valkey and a real Bot API server on 127.0.0.1 (tests/support).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import asdict

import pytest
import pytest_asyncio
from sqlmodel import col, select

from backend_services.channels.telegram import bots
from backend_services.channels.telegram import status as bot_status
from backend_services.channels.telegram.events import FLEET_STREAM, FLEET_STREAM_KEY, FleetChanged
from backend_services.conversations import dialogs
from backend_services.conversations.actors import contact_actor
from backend_services.core import events
from backend_services.core.db import session_scope
from backend_services.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from backend_services.core.redis_client import get_redis
from backend_services.core.security import decrypt_secret
from backend_services.core.settings import reset_settings_cache
from backend_services.models import AuditLog, Channel, Dialog, Role
from tests.integration.conversation_helpers import Shop, assistant, member, shop
from tests.support.telegram_server import TelegramTestServer

TOKEN = "7001001001:AAHfLq9x2Ck3vYw8PzR4mTn6sBd1eUgJ0aQ"
TOKEN_2 = "7001001001:AAG2newSecretAfterRevokeXyZ98765432"
OTHER = "7002002002:AAEotherBotSecretPart0123456789abcd"


@pytest_asyncio.fixture
async def telegram(clean: None, env: pytest.MonkeyPatch) -> AsyncIterator[TelegramTestServer]:
    """The Bot API test server, with the app's `telegram_api_base` pointing at it."""
    async with TelegramTestServer() as server:
        server.add_bot(TOKEN, "shop_help_bot", first_name="Shop help")
        server.add_bot(OTHER, "other_bot", first_name="Other")
        env.setenv("REPLYX_TELEGRAM_API_BASE", server.base_url)
        reset_settings_cache()
        yield server


async def fleet_stream() -> list[FleetChanged]:
    """Everything on the `fleet` stream so far, oldest first."""
    entries = await get_redis().xrange(FLEET_STREAM_KEY)
    out = []
    for _, fields in entries:
        event = events.decode(fields["event"])
        assert isinstance(event, FleetChanged)
        out.append(event)
    return out


def fleet_missing() -> bots.FleetBot:
    raise AssertionError("the fleet should run this bot")


async def connected(s: Shop, token: str = TOKEN, mode: str = "polling") -> bots.BotView:
    assert s.bot.id is not None
    return await bots.add_bot(s.owner, s.bot.id, token, mode=mode)


# --------------------------------------------------------------------------- connecting


async def test_admin_connects_a_bot_by_token_and_the_fleet_gets_it_decrypted(
    telegram: TelegramTestServer,
) -> None:
    s = await shop("a")
    view = await connected(s)
    assert (view.username, view.bot_id, view.name, view.link) == (
        "shop_help_bot", 7001001001, "Shop help", "https://t.me/shop_help_bot")
    assert (view.assistant_id, view.assistant_name, view.mode, view.desired) == (
        s.bot.id, "Bot a", "polling", "running")
    assert view.status == "starting"  # until the fleet reports
    assert [c.ok for c in telegram.calls(TOKEN, "getMe")] == [True]

    async with session_scope() as session:
        row = await session.get(Channel, view.id)
    assert row is not None
    assert TOKEN not in row.token_encrypted and decrypt_secret(row.token_encrypted) == TOKEN
    secret = decrypt_secret(row.webhook_secret_encrypted)
    assert len(secret) >= 32 and secret not in row.webhook_secret_encrypted

    fleet = await bots.fleet_bots()
    assert [(b.channel_id, b.workspace_id, b.assistant_id, b.bot_id, b.username, b.token,
             b.mode, b.webhook_secret, b.version) for b in fleet] == [
        (view.id, s.owner.workspace_id, s.bot.id, 7001001001, "shop_help_bot", TOKEN,
         "polling", secret, 1)]
    assert fleet[0].webhook_url.endswith(f"/api/telegram/webhook/{view.id}")
    assert await bots.fleet_bot(view.id) == fleet[0]
    assert [b.username for b in await bots.list_bots(s.anna)] == ["shop_help_bot"]


@pytest.mark.parametrize("pasted", ["", "hello", "7001001001", "7001001001:short",
                                    "AAHfLq9x2Ck3vYw8PzR4mTn6sBd1eUgJ0aQ:7001001001",
                                    "7001001001:AAHf Lq9x2Ck3vYw8PzR4mTn6sBd1eUgJ0aQ"])
async def test_something_that_is_not_a_token_is_refused_without_asking_telegram(
    telegram: TelegramTestServer, pasted: str
) -> None:
    s = await shop("a")
    with pytest.raises(ValidationFailed, match="does not look like a bot token"):
        await connected(s, pasted)
    assert telegram.calls() == []
    assert await bots.list_bots(s.owner) == []


async def test_a_token_pasted_with_spaces_around_it_is_accepted(
    telegram: TelegramTestServer,
) -> None:
    view = await connected(await shop("a"), f"  {TOKEN}\n")
    assert (await bots.fleet_bot(view.id) or fleet_missing()).token == TOKEN


async def test_a_revoked_or_unknown_token_is_refused_with_a_clear_message(
    telegram: TelegramTestServer,
) -> None:
    s = await shop("a")
    telegram.revoke(TOKEN)
    with pytest.raises(ValidationFailed, match=r"wrong or has been revoked\. Copy it again"):
        await connected(s, TOKEN)
    with pytest.raises(ValidationFailed, match="Telegram refused this token"):
        await connected(s, "7003003003:AAEneverRegisteredWithTelegram0000")
    assert await bots.list_bots(s.owner) == []
    assert await bots.fleet_bots() == []


async def test_telegram_failing_or_unreachable_is_explained_and_nothing_is_stored(
    telegram: TelegramTestServer, env: pytest.MonkeyPatch
) -> None:
    s = await shop("a")
    telegram.fail_next(TOKEN, "getMe", 502, raw="<html>502 Bad Gateway</html>")
    with pytest.raises(ValidationFailed, match="Could not reach Telegram"):
        await connected(s)
    telegram.fail_next(TOKEN, "getMe", 429, retry_after=17)
    with pytest.raises(ValidationFailed, match="Try again in 17 s"):
        await connected(s)
    env.setenv("REPLYX_TELEGRAM_API_BASE", "http://127.0.0.1:9")  # nothing listens there
    reset_settings_cache()
    with pytest.raises(ValidationFailed, match="Could not reach Telegram"):
        await connected(s)
    assert await bots.list_bots(s.owner) == []


async def test_the_same_bot_cannot_be_connected_twice_here_or_in_another_workspace(
    telegram: TelegramTestServer,
) -> None:
    a, b = await shop("a"), await shop("b")
    await connected(a)
    second = await assistant(a.owner, "Second helper")
    assert second.id is not None
    with pytest.raises(Conflict, match="already connected to the assistant “Bot a”"):
        await bots.add_bot(a.owner, second.id, TOKEN)
    with pytest.raises(Conflict, match="another workspace") as refused:
        await connected(b)
    assert "Shop a" not in refused.value.message and "Bot a" not in refused.value.message
    assert await bots.list_bots(b.owner) == []
    assert len(await bots.fleet_bots()) == 1


async def test_two_admins_connecting_the_same_bot_at_once_get_one_bot(
    telegram: TelegramTestServer,
) -> None:
    a, b = await shop("a"), await shop("b")
    results = await asyncio.gather(connected(a), connected(b), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["BotView", "Conflict"]
    assert len(await bots.fleet_bots()) == 1


# --------------------------------------------------------------------------- the tenant wall


async def test_another_workspace_cannot_see_or_touch_a_bot_through_any_function(
    telegram: TelegramTestServer,
) -> None:
    a, b = await shop("a"), await shop("b")
    view = await connected(a)
    assert b.bot.id is not None and a.bot.id is not None
    for call in (
        bots.get_bot(b.owner, view.id),
        bots.set_desired(b.owner, view.id, "stopped"),
        bots.restart(b.owner, view.id),
        bots.set_mode(b.owner, view.id, "webhook"),
        bots.change_assistant(b.owner, view.id, b.bot.id),
        bots.replace_token(b.owner, view.id, TOKEN_2),
        bots.delete_bot(b.owner, view.id),
    ):
        with pytest.raises(NotFound, match="Bot not found"):
            await call
    assert await bots.list_bots(b.owner) == []
    # Nor can A point its bot at B's assistant, or connect a bot to it.
    with pytest.raises(NotFound, match="Assistant not found"):
        await bots.change_assistant(a.owner, view.id, b.bot.id)
    with pytest.raises(NotFound, match="Assistant not found"):
        await bots.add_bot(a.owner, b.bot.id, OTHER)
    after = await bots.get_bot(a.owner, view.id)
    assert (after.desired, after.mode, after.assistant_id, after.version) == (
        "running", "polling", a.bot.id, 1)
    assert [e.action for e in await fleet_stream()] == ["added"]
    assert telegram.calls(TOKEN_2) == []  # B's attempt never reached Telegram


async def test_operators_see_bots_but_only_admins_change_them(
    telegram: TelegramTestServer,
) -> None:
    s = await shop("a")
    admin = await member(s.owner.workspace_id, "admin-a@example.com", "Ada", Role.ADMIN)
    assert s.bot.id is not None
    view = await bots.add_bot(admin, s.bot.id, TOKEN)
    assert [b.id for b in await bots.list_bots(s.anna)] == [view.id]
    assert (await bots.get_bot(s.anna, view.id)).username == "shop_help_bot"
    for call in (
        bots.add_bot(s.anna, s.bot.id, OTHER),
        bots.set_desired(s.anna, view.id, "stopped"),
        bots.restart(s.anna, view.id),
        bots.set_mode(s.anna, view.id, "webhook"),
        bots.change_assistant(s.anna, view.id, s.bot.id),
        bots.replace_token(s.anna, view.id, TOKEN_2),
        bots.delete_bot(s.anna, view.id),
    ):
        with pytest.raises(PermissionDenied):
            await call
    assert telegram.calls(OTHER) == []
    assert (await bots.get_bot(s.owner, view.id)).version == 1


# --------------------------------------------------------------------------- secrets


async def test_the_token_never_shows_in_views_events_audit_or_logs(
    telegram: TelegramTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    s = await shop("a")
    async with events.subscribe(FleetChanged) as sub:
        view = await connected(s)
        telegram.add_bot(TOKEN_2, "shop_help_bot", first_name="Shop help")
        replaced = await bots.replace_token(s.owner, view.id, TOKEN_2)
        stopped = await bots.set_desired(s.owner, view.id, "stopped")
        heard = [await asyncio.wait_for(anext(sub), 10) for _ in range(3)]
    fleet_bot = bots.FleetBot(1, 1, 1, 1, "x", TOKEN, "polling", "s3cr3t", "u", 1)
    shown = [repr(view), repr(replaced), repr(stopped), json.dumps(asdict(view), default=str),
             repr(fleet_bot), *(e.to_json() for e in heard),
             *(json.dumps(e.model_dump(mode="json")) for e in await fleet_stream())]
    async with session_scope() as session:
        audit = list(await session.exec(select(AuditLog).order_by(col(AuditLog.id))))
    shown += [f"{a.action} {a.target} {json.dumps(a.details)}" for a in audit]
    assert [a.action for a in audit if a.action.startswith("telegram")] == [
        "telegram_bot_added", "telegram_bot_token_replaced", "telegram_bot_stopped"]
    assert "HTTP Request" in caplog.text  # httpx did log its requests: masked
    shown.append(caplog.text)
    for text in shown:
        for secret in (TOKEN, TOKEN_2, TOKEN.split(":")[1], TOKEN_2.split(":")[1], "s3cr3t"):
            assert secret not in text
    assert "7001001001:***" in caplog.text


async def test_an_error_the_fleet_reports_is_shown_without_any_token_in_it(
    telegram: TelegramTestServer,
) -> None:
    s = await shop("a")
    view = await connected(s)
    await bot_status.report_status(
        view.id, "error",
        f"TelegramUnauthorizedError: {telegram.url(TOKEN, 'getUpdates')} said Unauthorized",
        worker="w1", version=1)
    shown = await bots.get_bot(s.owner, view.id)
    assert shown.status == "error"
    assert "Unauthorized" in shown.error and TOKEN.split(":")[1] not in shown.error


# --------------------------------------------------------------------------- control


async def test_stop_start_and_restart_reach_the_fleet_with_a_new_version_each_time(
    telegram: TelegramTestServer,
) -> None:
    s = await shop("a")
    view = await connected(s)
    stopped = await bots.set_desired(s.owner, view.id, "stopped")
    assert (stopped.desired, stopped.status, stopped.version) == ("stopped", "stopping", 2)
    assert await bots.fleet_bot(view.id) is None and await bots.fleet_bots() == []
    again = await bots.set_desired(s.owner, view.id, "stopped")  # nothing to change
    assert again.version == 2
    started = await bots.set_desired(s.owner, view.id, "running")
    assert (started.desired, started.status, started.version) == ("running", "starting", 3)
    restarted = await bots.restart(s.owner, view.id)
    assert restarted.version == 4
    assert (await bots.fleet_bot(view.id) or fleet_missing()).version == 4
    with pytest.raises(ValidationFailed):
        await bots.set_desired(s.owner, view.id, "paused")
    assert [(e.action, e.channel_id, e.workspace_id, e.version)
            for e in await fleet_stream()] == [
        ("added", view.id, s.owner.workspace_id, 1),
        ("changed", view.id, s.owner.workspace_id, 2),
        ("changed", view.id, s.owner.workspace_id, 3),
        ("restart", view.id, s.owner.workspace_id, 4),
    ]


async def test_a_restart_of_a_stopped_bot_starts_it(telegram: TelegramTestServer) -> None:
    s = await shop("a")
    view = await connected(s)
    await bots.set_desired(s.owner, view.id, "stopped")
    restarted = await bots.restart(s.owner, view.id)
    assert (restarted.desired, restarted.status) == ("running", "starting")
    assert await bots.fleet_bot(view.id) is not None


async def test_the_fleet_hears_a_new_bot_on_pub_sub_and_through_its_consumer_group(
    telegram: TelegramTestServer,
) -> None:
    s = await shop("a")
    heard: list[FleetChanged] = []

    async def handle(event: events.Event) -> None:
        assert isinstance(event, FleetChanged)
        heard.append(event)

    consumer = events.StreamConsumer(FLEET_STREAM, "fleet-test", "c1", handle, block_ms=100)
    await consumer.run_once()  # the group exists before anything happens
    async with events.subscribe(FleetChanged) as sub:
        view = await connected(s)
        live = await asyncio.wait_for(anext(sub), 10)
    assert isinstance(live, FleetChanged)
    assert (live.action, live.channel_id, live.workspace_id) == (
        "added", view.id, s.owner.workspace_id)
    await consumer.run_once()
    assert [(e.action, e.channel_id) for e in heard] == [("added", view.id)]
    await bots.set_mode(s.owner, view.id, "webhook")
    await consumer.run_once()
    assert [e.action for e in heard] == ["added", "changed"]
    await consumer.run_once()  # acknowledged: nothing comes twice
    assert len(heard) == 2


async def test_switching_to_webhook_mode_gives_the_fleet_the_url_and_secret_to_set(
    telegram: TelegramTestServer, env: pytest.MonkeyPatch
) -> None:
    env.setenv("REPLYX_TELEGRAM_WEBHOOK_BASE", "https://bots.example.com/")
    reset_settings_cache()
    s = await shop("a")
    view = await connected(s)
    switched = await bots.set_mode(s.owner, view.id, "webhook")
    assert (switched.mode, switched.version) == ("webhook", 2)
    bot = await bots.fleet_bot(view.id)
    assert bot is not None and bot.mode == "webhook"
    assert bot.webhook_url == f"https://bots.example.com/api/telegram/webhook/{view.id}"
    assert await bots.verify_webhook_secret(view.id, bot.webhook_secret) == bot
    assert await bots.verify_webhook_secret(view.id, bot.webhook_secret + "x") is None
    assert await bots.verify_webhook_secret(view.id, "") is None
    assert await bots.verify_webhook_secret(view.id + 1000, bot.webhook_secret) is None
    with pytest.raises(ValidationFailed, match="polling or webhook"):
        await bots.set_mode(s.owner, view.id, "smoke-signals")
    back = await bots.set_mode(s.owner, view.id, "polling")
    assert (back.mode, back.version) == ("polling", 3)


async def test_a_webhook_secret_of_one_bot_does_not_open_another_nor_a_stopped_bot(
    telegram: TelegramTestServer,
) -> None:
    a, b = await shop("a"), await shop("b")
    mine, theirs = await connected(a, mode="webhook"), await connected(b, OTHER, mode="webhook")
    my_bot, their_bot = await bots.fleet_bot(mine.id), await bots.fleet_bot(theirs.id)
    assert my_bot is not None and their_bot is not None
    assert my_bot.webhook_secret != their_bot.webhook_secret
    assert await bots.verify_webhook_secret(theirs.id, my_bot.webhook_secret) is None
    await bots.set_desired(a.owner, mine.id, "stopped")
    assert await bots.verify_webhook_secret(mine.id, my_bot.webhook_secret) is None


async def test_webhook_mode_against_the_real_telegram_needs_an_https_address(
    telegram: TelegramTestServer, env: pytest.MonkeyPatch
) -> None:
    s = await shop("a")
    view = await connected(s)
    env.setenv("REPLYX_TELEGRAM_API_BASE", "https://api.telegram.org")
    env.setenv("REPLYX_PUBLIC_URL", "http://localhost:3000")
    reset_settings_cache()
    with pytest.raises(ValidationFailed, match="HTTPS"):
        await bots.set_mode(s.owner, view.id, "webhook")
    assert (await bots.get_bot(s.owner, view.id)).mode == "polling"
    env.setenv("REPLYX_TELEGRAM_WEBHOOK_BASE", "https://bots.example.com")
    reset_settings_cache()
    assert (await bots.set_mode(s.owner, view.id, "webhook")).mode == "webhook"


async def test_another_assistant_can_take_over_a_bot(telegram: TelegramTestServer) -> None:
    s = await shop("a")
    view = await connected(s)
    sales = await assistant(s.owner, "Sales")
    assert sales.id is not None
    moved = await bots.change_assistant(s.owner, view.id, sales.id)
    assert (moved.assistant_id, moved.assistant_name, moved.version) == (sales.id, "Sales", 2)
    assert (await bots.fleet_bot(view.id) or fleet_missing()).assistant_id == sales.id


async def test_a_new_token_is_accepted_only_for_the_same_bot(
    telegram: TelegramTestServer,
) -> None:
    s = await shop("a")
    view = await connected(s)
    with pytest.raises(ValidationFailed, match="belongs to another bot \\(@other_bot\\)"):
        await bots.replace_token(s.owner, view.id, OTHER)
    telegram.revoke(TOKEN)
    telegram.add_bot(TOKEN_2, "shop_help_bot", first_name="Shop help")
    with pytest.raises(ValidationFailed, match="revoked"):
        await bots.replace_token(s.owner, view.id, TOKEN)
    replaced = await bots.replace_token(s.owner, view.id, TOKEN_2)
    assert (replaced.version, replaced.status) == (2, "starting")
    assert (await bots.fleet_bot(view.id) or fleet_missing()).token == TOKEN_2


async def test_deleting_a_bot_keeps_its_conversations_and_stops_its_webhook(
    telegram: TelegramTestServer,
) -> None:
    s = await shop("a")
    view = await connected(s, mode="webhook")
    assert s.bot.id is not None
    actor = await contact_actor(s.owner.workspace_id, s.bot.id, "telegram", "555001",
                                channel_id=view.id, name="Tg user")
    posted = await dialogs.visitor_message(actor, "Hello from Telegram", "tg:1:1")
    await bot_status.record_activity(view.id, incoming=1)
    await bots.delete_bot(s.owner, view.id)

    assert await bots.list_bots(s.owner) == [] and await bots.fleet_bot(view.id) is None
    with pytest.raises(NotFound):
        await bots.get_bot(s.owner, view.id)
    async with session_scope() as session:
        dialog = await session.get(Dialog, posted.dialog.id)
    assert dialog is not None and dialog.channel_id is None
    assert [m.content for m in await dialogs.history(s.owner, posted.dialog.id)][-1] == (
        "Hello from Telegram")
    assert (await fleet_stream())[-1].action == "removed"
    assert [c.ok for c in telegram.calls(TOKEN, "deleteWebhook")] == [True]
    gone = (await bot_status.statuses([view.id]))[view.id]
    assert (gone.status, gone.messages_today, gone.last_activity) == (None, 0, None)
    # The bot can be connected again, to any workspace.
    assert (await connected(await shop("b"))).username == "shop_help_bot"


# --------------------------------------------------------------------------- status


async def test_what_the_fleet_reports_shows_on_the_bot_with_activity_of_today(
    telegram: TelegramTestServer,
) -> None:
    s = await shop("a")
    view = await connected(s)
    await bot_status.report_status(view.id, "running", worker="host:1", version=1)
    before = time.time()
    await bot_status.record_activity(view.id, incoming=2)
    await bot_status.record_activity(view.id, incoming=1, outgoing=3)
    await bot_status.record_activity(view.id)  # nothing happened: nothing changes
    shown = await bots.get_bot(s.owner, view.id)
    assert (shown.status, shown.error, shown.worker, shown.messages_today) == (
        "running", "", "host:1", 6)
    assert shown.last_activity is not None and shown.last_activity.timestamp() >= before - 1
    raw = (await bot_status.statuses([view.id]))[view.id]
    assert (raw.messages_in_today, raw.messages_out_today, raw.stale) == (3, 3, False)

    await bot_status.report_status(view.id, "error", "Telegram refused the token (401)",
                                   worker="host:1", version=1)
    failed = (await bots.list_bots(s.owner))[0]
    assert (failed.status, failed.error) == ("error", "Telegram refused the token (401)")
    await bot_status.report_status(view.id, "running", worker="host:1", version=1)
    assert (await bots.get_bot(s.owner, view.id)).error == ""
    with pytest.raises(ValueError):
        await bot_status.report_status(view.id, "sleeping")  # type: ignore[arg-type]


async def test_a_report_about_an_older_version_shows_the_bot_as_starting(
    telegram: TelegramTestServer,
) -> None:
    s = await shop("a")
    view = await connected(s)
    await bot_status.report_status(view.id, "error", "Unauthorized", version=1)
    restarted = await bots.restart(s.owner, view.id)
    assert (restarted.status, restarted.error) == ("starting", "")
    await bot_status.report_status(view.id, "error", "Unauthorized", version=1)  # late
    assert (await bots.get_bot(s.owner, view.id)).status == "starting"
    await bot_status.report_status(view.id, "running", version=2)
    assert (await bots.get_bot(s.owner, view.id)).status == "running"


async def test_a_bot_the_fleet_stopped_reporting_on_shows_fleet_offline(
    telegram: TelegramTestServer,
) -> None:
    s = await shop("a")
    running = await connected(s)
    stopped = await connected(s, OTHER)
    await bot_status.report_statuses([
        bot_status.StatusReport(running.id, "running", version=1),
        bot_status.StatusReport(stopped.id, "running", version=1),
    ])
    await bots.set_desired(s.owner, stopped.id, "stopped")
    later = time.time() + bot_status.stale_after() + 1  # as seen that much later
    seen = await bot_status.statuses([running.id, stopped.id], now=later)
    assert seen[running.id].stale and seen[stopped.id].stale
    status, error = bots.display_status(True, 1, seen[running.id])
    assert status == "offline" and "has not reported" in error
    assert bots.display_status(False, 2, seen[stopped.id]) == ("stopped", "")
    fresh = await bot_status.statuses([running.id])
    assert bots.display_status(True, 1, fresh[running.id]) == ("running", "")


async def test_statuses_of_unknown_bots_are_empty_and_stale(clean: None) -> None:
    seen = await bot_status.statuses([424242, 424242])
    assert list(seen) == [424242]
    assert (seen[424242].status, seen[424242].stale, seen[424242].messages_today) == (None, True, 0)
    assert await bot_status.statuses([]) == {}
