"""The Telegram Bot API test server behaves like Telegram for real aiogram and plain HTTP.

The fleet's tests and the benchmark rely on it, so each behaviour they lean on is checked
here through aiogram's own session pointed at the server with `TelegramAPIServer`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiohttp import web

from tests.support.telegram_server import TelegramTestServer

TOKEN = "123456789:AAtest-support-bot"
OTHER = "987654321:AAtest-other-bot"
CHAT = 4242


@pytest_asyncio.fixture
async def tg() -> AsyncIterator[TelegramTestServer]:
    server = TelegramTestServer()
    await server.start()
    server.add_bot(TOKEN, "support_bot")
    server.add_bot(OTHER, "other_bot")
    yield server
    await server.stop()


@contextlib.asynccontextmanager
async def aiogram_bot(server: TelegramTestServer, token: str = TOKEN) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.base_url))
    bot = Bot(token, session=session)
    try:
        yield bot
    finally:
        await bot.session.close()


# --------------------------------------------------------------------------- identity and auth


async def test_aiogram_reads_the_bot_identity_with_get_me(tg: TelegramTestServer) -> None:
    async with aiogram_bot(tg) as bot:
        me = await bot.get_me()
    assert me.id == 123456789
    assert me.is_bot
    assert me.username == "support_bot"
    [call] = tg.calls(TOKEN, "getMe")
    assert call.ok and call.bot_id == 123456789 and call.done_at is not None


async def test_revoked_and_unknown_tokens_are_unauthorized_like_telegram(
    tg: TelegramTestServer,
) -> None:
    tg.revoke(TOKEN)
    async with aiogram_bot(tg) as bot:
        with pytest.raises(TelegramUnauthorizedError):
            await bot.get_me()
    async with aiogram_bot(tg, "555:AAnever-registered") as bot:
        with pytest.raises(TelegramUnauthorizedError):
            await bot.get_me()
    async with httpx.AsyncClient() as http:
        response = await http.post(tg.url(TOKEN, "getMe"))
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    # The neighbour is untouched.
    async with aiogram_bot(tg, OTHER) as bot:
        assert (await bot.get_me()).username == "other_bot"


async def test_a_revoked_token_ends_its_waiting_poll_with_401(tg: TelegramTestServer) -> None:
    async with aiogram_bot(tg) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await tg.wait_until_polling(TOKEN)
        tg.revoke(TOKEN)
        with pytest.raises(TelegramUnauthorizedError):
            await asyncio.wait_for(poll, 5)


# --------------------------------------------------------------------------- long polling


async def test_long_poll_returns_a_message_pushed_after_the_call_started(
    tg: TelegramTestServer,
) -> None:
    async with aiogram_bot(tg) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=20))
        await tg.wait_until_polling(TOKEN)
        update_id = tg.push_message(TOKEN, CHAT, "/start hello", from_name="Ann")
        updates = await asyncio.wait_for(poll, 5)
    [update] = updates
    assert update.update_id == update_id
    assert update.message is not None
    assert update.message.text == "/start hello"
    assert update.message.chat.id == CHAT and update.message.chat.type == "private"
    assert update.message.from_user is not None
    assert update.message.from_user.first_name == "Ann"
    [entity] = update.message.entities or []
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 6)


async def test_updates_come_again_until_a_higher_offset_confirms_them(
    tg: TelegramTestServer,
) -> None:
    ids = [tg.push_message(TOKEN, CHAT, f"question {n}") for n in range(3)]
    async with aiogram_bot(tg) as bot:
        first = await bot.get_updates(timeout=0)
        again = await bot.get_updates(timeout=0)  # not confirmed: redelivered
        after_one = await bot.get_updates(offset=ids[1], timeout=0)
        confirmed = await bot.get_updates(offset=ids[-1] + 1, timeout=0)
        still_confirmed = await bot.get_updates(timeout=0)
    assert [u.update_id for u in first] == ids
    assert [u.update_id for u in again] == ids
    assert [u.update_id for u in after_one] == ids[1:]
    assert confirmed == [] and still_confirmed == []
    assert tg.pending_updates(TOKEN) == []


async def test_limit_and_allowed_updates_shape_what_a_poll_returns(
    tg: TelegramTestServer,
) -> None:
    for n in range(5):
        tg.push_message(TOKEN, CHAT, f"m{n}")
    async with aiogram_bot(tg) as bot:
        two = await bot.get_updates(limit=2, timeout=0)
        assert [u.message.text for u in two if u.message] == ["m0", "m1"]
        await bot.get_updates(offset=two[-1].update_id + 100, allowed_updates=["message"])
        tg.push_callback(TOKEN, CHAT, "rate:5")  # not allowed: Telegram does not keep it
        tg.push_message(TOKEN, CHAT, "kept")
        [kept] = await bot.get_updates(timeout=0)
    assert kept.message is not None and kept.message.text == "kept"


async def test_a_new_poll_terminates_the_waiting_one_with_conflict(
    tg: TelegramTestServer,
) -> None:
    async with aiogram_bot(tg) as first, aiogram_bot(tg) as second:
        older = asyncio.create_task(first.get_updates(timeout=20))
        await tg.wait_until_polling(TOKEN)
        newer = asyncio.create_task(second.get_updates(timeout=20))
        with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
            await asyncio.wait_for(older, 5)
        await tg.wait_until_polling(TOKEN)
        tg.push_message(TOKEN, CHAT, "who gets this?")
        [update] = await asyncio.wait_for(newer, 5)
    assert update.message is not None and update.message.text == "who gets this?"
    conflicts = [c for c in tg.calls(TOKEN, "getUpdates") if c.status == 409]
    assert len(conflicts) == 1


async def test_each_of_many_polling_bots_gets_only_its_own_updates(
    tg: TelegramTestServer,
) -> None:
    tokens = [f"{100_000 + n}:AAbot{n}" for n in range(100)]
    for n, token in enumerate(tokens):
        tg.add_bot(token, f"bot{n}")
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:

        async def poll(token: str) -> Any:
            response = await http.post(tg.url(token, "getUpdates"), json={"timeout": 20})
            return response.json()

        polls = [asyncio.create_task(poll(token)) for token in tokens]
        await tg.wait_for(lambda: all(tg.is_polling(t) for t in tokens), timeout=10)
        for n, token in enumerate(tokens):
            tg.push_message(token, 1000 + n, f"for bot {n}")
        answers = await asyncio.wait_for(asyncio.gather(*polls), 10)
    for n, answer in enumerate(answers):
        assert answer["ok"]
        [update] = answer["result"]
        assert update["message"]["text"] == f"for bot {n}"
        assert update["message"]["chat"]["id"] == 1000 + n


# --------------------------------------------------------------------------- sending


async def test_sent_messages_get_increasing_ids_and_are_recorded(
    tg: TelegramTestServer,
) -> None:
    tg.push_message(TOKEN, CHAT, "hi")
    async with aiogram_bot(tg) as bot:
        await bot.send_chat_action(CHAT, "typing")
        one = await bot.send_message(CHAT, "First answer")
        two = await bot.send_message(CHAT, "<b>Second</b> answer", parse_mode="HTML")
    assert one.message_id < two.message_id
    assert one.chat.id == CHAT and one.text == "First answer"
    assert one.from_user is not None and one.from_user.username == "support_bot"
    assert two.text == "Second answer"
    sent = tg.sent_messages(TOKEN, CHAT)
    assert [s.text for s in sent] == ["First answer", "Second answer"]
    assert sent[1].raw_text == "<b>Second</b> answer" and sent[1].parse_mode == "HTML"
    calls = tg.calls(TOKEN)
    assert [c.method for c in calls] == ["sendChatAction", "sendMessage", "sendMessage"]
    assert calls[0].params["action"] == "typing"
    assert calls[0].at <= calls[1].at <= calls[2].at
    assert calls[1].params["chat_id"] == CHAT and calls[1].result["text"] == "First answer"


async def test_a_bot_cannot_write_to_a_chat_it_never_heard_from(
    tg: TelegramTestServer,
) -> None:
    tg.push_message(OTHER, CHAT, "I wrote to the other bot")
    async with aiogram_bot(tg) as bot:
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(CHAT, "hello?")
    assert tg.sent_messages(TOKEN) == []


async def test_a_blocked_chat_answers_forbidden(tg: TelegramTestServer) -> None:
    tg.push_message(TOKEN, CHAT, "bye")
    tg.block(TOKEN, CHAT)
    async with aiogram_bot(tg) as bot:
        with pytest.raises(TelegramForbiddenError, match="blocked by the user"):
            await bot.send_message(CHAT, "still there?")


async def test_text_over_4096_characters_is_too_long(tg: TelegramTestServer) -> None:
    tg.push_message(TOKEN, CHAT, "tell me everything")
    async with aiogram_bot(tg) as bot:
        with pytest.raises(TelegramBadRequest, match="message is too long"):
            await bot.send_message(CHAT, "x" * 4097)
        # Markup does not count: 4096 visible characters inside a tag are fine.
        await bot.send_message(CHAT, "<b>" + "y" * 4096 + "</b>", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest, match="message text is empty"):
            await bot.send_message(CHAT, "<b> </b>", parse_mode="HTML")
    assert [len(s.text) for s in tg.sent_messages(TOKEN)] == [4096]


@pytest.mark.parametrize(
    ("parse_mode", "text"),
    [
        ("HTML", "<b>unclosed"),
        ("HTML", "<b>crossed <i>tags</b></i>"),
        ("HTML", "1 < 2"),
        ("HTML", "<script>alert(1)</script>"),
        ("MarkdownV2", "Prices start at 5.99!"),
        ("MarkdownV2", "*bold without end"),
        ("Markdown", "an _unfinished italic"),
    ],
)
async def test_broken_markup_cannot_be_parsed(
    tg: TelegramTestServer, parse_mode: str, text: str
) -> None:
    tg.push_message(TOKEN, CHAT, "hi")
    async with aiogram_bot(tg) as bot:
        with pytest.raises(TelegramBadRequest, match="can't parse entities"):
            await bot.send_message(CHAT, text, parse_mode=parse_mode)
    assert tg.sent_messages(TOKEN) == []


async def test_correctly_escaped_markup_is_delivered_as_plain_text(
    tg: TelegramTestServer,
) -> None:
    tg.push_message(TOKEN, CHAT, "hi")
    async with aiogram_bot(tg) as bot:
        await bot.send_message(
            CHAT, "1 &lt; 2 &amp; <a href='https://x.y'>link</a>", parse_mode="HTML"
        )
        await bot.send_message(CHAT, r"Prices start at *5\.99*\!", parse_mode="MarkdownV2")
        await bot.send_message(CHAT, "an _italic_ word", parse_mode="Markdown")
    assert [s.text for s in tg.sent_messages(TOKEN)] == [
        "1 < 2 & link",
        "Prices start at 5.99!",
        "an italic word",
    ]


async def test_edits_and_callbacks_round_trip(tg: TelegramTestServer) -> None:
    tg.push_message(TOKEN, CHAT, "hi")
    keyboard = {"inline_keyboard": [[{"text": "5", "callback_data": "rate:5"}]]}
    async with httpx.AsyncClient() as http:
        sent = await http.post(
            tg.url(TOKEN, "sendMessage"),
            json={"chat_id": CHAT, "text": "Rate us", "reply_markup": keyboard},
        )
        message_id = sent.json()["result"]["message_id"]
        edited = await http.post(
            tg.url(TOKEN, "editMessageText"),
            json={"chat_id": CHAT, "message_id": message_id, "text": "Thanks!"},
        )
        same = await http.post(
            tg.url(TOKEN, "editMessageText"),
            json={"chat_id": CHAT, "message_id": message_id, "text": "Thanks!"},
        )
    assert edited.json()["result"]["text"] == "Thanks!"
    assert same.status_code == 400 and "message is not modified" in same.json()["description"]
    tg.push_callback(TOKEN, CHAT, "rate:5", message_id=message_id)
    async with aiogram_bot(tg) as bot:
        [_, update] = await bot.get_updates(timeout=0)  # "hi", then the button press
        assert update.callback_query is not None
        assert update.callback_query.data == "rate:5"
        assert await bot.answer_callback_query(update.callback_query.id)


# --------------------------------------------------------------------------- plain HTTP


async def test_plain_http_clients_may_send_json_form_or_query_parameters(
    tg: TelegramTestServer,
) -> None:
    tg.push_message(TOKEN, CHAT, "hi")
    async with httpx.AsyncClient() as http:
        as_json = await http.post(
            tg.url(TOKEN, "sendMessage"), json={"chat_id": str(CHAT), "text": "json"}
        )
        as_form = await http.post(
            tg.url(TOKEN, "sendmessage"), data={"chat_id": str(CHAT), "text": "123"}
        )
        as_query = await http.get(tg.url(TOKEN, "getMe"))
        unknown = await http.post(tg.url(TOKEN, "sendTelepathy"), json={})
    assert as_json.json()["result"]["text"] == "json"
    assert as_form.json()["result"]["text"] == "123"  # a numeric text stays text
    assert as_query.json()["result"]["username"] == "support_bot"
    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert [c.method for c in tg.calls(TOKEN, "sendMessage")] == ["sendMessage"] * 2


# --------------------------------------------------------------------------- scripted failures


async def test_scripted_429_carries_retry_after_and_is_used_once(
    tg: TelegramTestServer,
) -> None:
    tg.push_message(TOKEN, CHAT, "hi")
    tg.fail_next(TOKEN, "sendMessage", 429, retry_after=3)
    async with aiogram_bot(tg) as bot:
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(CHAT, "too soon")
        assert caught.value.retry_after == 3
        await bot.send_message(CHAT, "now fine")
    [failed, ok] = tg.calls(TOKEN, "sendMessage")
    assert failed.status == 429
    assert failed.response == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    assert ok.ok
    assert [s.text for s in tg.sent_messages(TOKEN)] == ["now fine"]


async def test_scripted_failures_only_hit_the_named_bot_and_method_in_order(
    tg: TelegramTestServer,
) -> None:
    tg.fail_next(TOKEN, "getMe", 500)
    tg.fail_next(TOKEN, "getMe", 502)
    tg.fail_next(TOKEN, "getMe", 401)
    async with aiogram_bot(tg, OTHER) as other:
        assert (await other.get_me()).username == "other_bot"
    async with aiogram_bot(tg) as bot:
        assert await bot.get_webhook_info()  # another method: untouched
        with pytest.raises(TelegramServerError, match="Internal Server Error"):
            await bot.get_me()
        with pytest.raises(TelegramServerError, match="Bad Gateway"):
            await bot.get_me()
        with pytest.raises(TelegramUnauthorizedError):
            await bot.get_me()
        assert (await bot.get_me()).username == "support_bot"
    assert [c.status for c in tg.calls(TOKEN, "getMe")] == [500, 502, 401, 200]


async def test_a_slow_answer_outlasts_the_client_timeout_once(tg: TelegramTestServer) -> None:
    tg.slow(TOKEN, "getMe", 30)
    async with aiogram_bot(tg) as bot:
        with pytest.raises(TelegramNetworkError, match="timeout"):
            await bot.get_me(request_timeout=1)
        assert (await bot.get_me(request_timeout=5)).username == "support_bot"


# --------------------------------------------------------------------------- webhooks


class WebhookReceiver:
    """An aiohttp endpoint standing in for the fleet's webhook route."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses  # answered in order; 200 once used up
        self.received: list[tuple[str | None, dict[str, Any]]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.json_response({}, status=self.statuses.pop(0) if self.statuses else 200)

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/tg/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/tg/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


async def test_webhook_delivery_carries_the_secret_and_retries_failures(
    tg: TelegramTestServer,
) -> None:
    async with WebhookReceiver([500]) as hook, aiogram_bot(tg) as bot:
        assert await bot.set_webhook(hook.url, secret_token="s3cret-Token_1")
        info = await bot.get_webhook_info()
        assert info.url == hook.url
        update_id = tg.push_message(TOKEN, CHAT, "via webhook")
        await tg.wait_for(lambda: any(d.status == 200 for d in tg.deliveries(TOKEN)))
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates(timeout=0)
        info = await bot.get_webhook_info()
    assert [d.status for d in tg.deliveries(TOKEN)] == [500, 200]
    assert [secret for secret, _ in hook.received] == ["s3cret-Token_1"] * 2
    assert [body["update_id"] for _, body in hook.received] == [update_id] * 2
    assert hook.received[0][1]["message"]["text"] == "via webhook"
    assert info.pending_update_count == 0
    assert info.last_error_message is not None and "500" in info.last_error_message


async def test_a_webhook_that_keeps_failing_gives_up_after_a_few_attempts(
    tg: TelegramTestServer,
) -> None:
    async with WebhookReceiver([503] * 10) as hook, aiogram_bot(tg) as bot:
        await bot.set_webhook(hook.url)
        tg.push_message(TOKEN, CHAT, "lost")
        tg.push_message(TOKEN, CHAT, "next")
        await tg.wait_for(lambda: len(tg.deliveries(TOKEN)) >= tg.webhook_attempts + 1)
    first = [d for d in tg.deliveries(TOKEN) if d.update_id == hook.received[0][1]["update_id"]]
    assert [d.attempt for d in first] == list(range(1, tg.webhook_attempts + 1))
    assert all(secret is None for secret, _ in hook.received)


async def test_setting_a_webhook_ends_polling_and_deleting_it_restores_polling(
    tg: TelegramTestServer,
) -> None:
    async with WebhookReceiver([]) as hook, aiogram_bot(tg) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=20))
        await tg.wait_until_polling(TOKEN)
        await bot.set_webhook(hook.url, secret_token="abc")
        with pytest.raises(TelegramConflictError, match="setWebhook"):
            await asyncio.wait_for(poll, 5)
        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
        update_id = tg.push_message(TOKEN, CHAT, "back to polling")
        [update] = await bot.get_updates(timeout=5)
    assert update.update_id == update_id
    assert hook.received == []


async def test_a_method_in_the_webhook_answer_is_executed(tg: TelegramTestServer) -> None:
    app = web.Application()

    async def reply(request: web.Request) -> web.Response:
        update = await request.json()
        chat_id = update["message"]["chat"]["id"]
        return web.json_response({"method": "sendMessage", "chat_id": chat_id, "text": "pong"})

    app.router.add_post("/hook", reply)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiogram_bot(tg) as bot:
            await bot.set_webhook(f"http://127.0.0.1:{port}/hook")
        tg.push_message(TOKEN, CHAT, "ping")
        [sent] = await tg.wait_for_messages(TOKEN, CHAT)
    finally:
        await runner.cleanup()
    assert sent.text == "pong"
    assert tg.calls(TOKEN, "sendMessage")[0].via == "webhook-reply"


async def test_a_secret_token_with_forbidden_characters_is_refused(
    tg: TelegramTestServer,
) -> None:
    async with aiogram_bot(tg) as bot:
        with pytest.raises(TelegramBadRequest, match="unallowed characters"):
            await bot.set_webhook("https://example.invalid/hook", secret_token="no spaces!")
    assert tg.webhook(TOKEN) == (None, None)


# --------------------------------------------------------------------------- rate limits


async def test_rate_checker_flags_two_messages_to_one_chat_within_a_second(
    tg: TelegramTestServer,
) -> None:
    tg.push_message(TOKEN, CHAT, "hi")
    tg.push_message(TOKEN, CHAT + 1, "hi")
    async with aiogram_bot(tg) as bot:
        await bot.send_message(CHAT, "one")
        await bot.send_message(CHAT, "two")
        await bot.send_message(CHAT + 1, "only one here")
    [violation] = tg.max_rate_violations()
    assert (violation.kind, violation.token, violation.chat_id) == ("chat", TOKEN, CHAT)
    assert violation.count == 2 and violation.limit == 1
    assert tg.max_rate_violations(per_chat_per_second=2) == []
    assert tg.max_rate_violations(token=OTHER) == []


async def test_rate_checker_counts_group_and_bot_wide_limits(tg: TelegramTestServer) -> None:
    group = -100_555
    tg.push_message(TOKEN, group, "hello all", chat_type="supergroup", title="Team")
    for n in range(4):
        tg.push_message(TOKEN, 7000 + n, "hi")
    async with aiogram_bot(tg) as bot:
        for n in range(3):
            await bot.send_message(group, f"group {n}")
        for n in range(4):
            await bot.send_message(7000 + n, "private")
    found = tg.max_rate_violations(
        per_chat_per_second=5, per_group_per_minute=2, per_bot_per_second=6
    )
    assert sorted((v.kind, v.chat_id) for v in found) == [("bot", None), ("group", group)]


async def test_enforced_limits_answer_429_like_flood_control(tg: TelegramTestServer) -> None:
    tg.enforce_rate_limits = True
    tg.push_message(TOKEN, CHAT, "hi")
    tg.push_message(TOKEN, CHAT + 1, "hi")
    async with aiogram_bot(tg) as bot:
        await bot.send_message(CHAT, "one")
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(CHAT, "two")
        await bot.send_message(CHAT + 1, "another chat is fine")
    assert caught.value.retry_after == 1
    assert tg.max_rate_violations() == []
    assert [s.text for s in tg.sent_messages(TOKEN)] == ["one", "another chat is fine"]


# --------------------------------------------------------------------------- test helpers


async def test_wait_for_gives_up_at_its_deadline(tg: TelegramTestServer) -> None:
    with pytest.raises(TimeoutError):
        await tg.wait_for(lambda: tg.sent_messages(TOKEN), timeout=0.2)


async def test_a_poll_whose_client_went_away_is_not_reported_as_a_conflict(
    tg: TelegramTestServer,
) -> None:
    async with aiogram_bot(tg) as bot:
        with pytest.raises(TelegramNetworkError):
            await bot.get_updates(timeout=20, request_timeout=1)
        await tg.wait_for(lambda: not tg.is_polling(TOKEN))
        update_id = tg.push_message(TOKEN, CHAT, "after a reconnect")
        [update] = await bot.get_updates(timeout=5)
    assert update.update_id == update_id
    assert [c.status for c in tg.calls(TOKEN, "getUpdates")] == [499, 200]


async def test_an_aiogram_dispatcher_answers_a_start_pushed_to_the_server(
    tg: TelegramTestServer,
) -> None:
    from aiogram import Dispatcher
    from aiogram.filters import CommandStart
    from aiogram.types import Message

    dp = Dispatcher()

    @dp.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("Welcome!")

    async with aiogram_bot(tg) as bot:
        polling = asyncio.create_task(
            dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=5)
        )
        try:
            tg.push_message(TOKEN, CHAT, "/start")
            [welcome] = await tg.wait_for_messages(TOKEN, CHAT)
        finally:
            await dp.stop_polling()
            await asyncio.wait_for(polling, 10)
    assert welcome.text == "Welcome!"
