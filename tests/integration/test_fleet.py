"""The Telegram fleet as its users meet it: real `replyx fleet` processes (a supervisor and
two workers) against the Telegram Bot API test server, real PostgreSQL and Valkey.

A Telegram user gets the same grounded answers and handoff as a widget visitor; a bot
with a revoked token shows an error while its neighbours keep answering; a worker killed
mid-conversation is restarted and nothing is lost or sent twice; the outbox survives a
fleet restart; no chat ever gets more than one message a second and a 429 is honoured.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from backend_services.ai import keys as ai_keys
from backend_services.ai.pool import close_clients
from backend_services.channels.telegram import bots
from backend_services.conversations import dialogs, handoff
from backend_services.core.db import session_scope
from backend_services.core.settings import reset_settings_cache
from backend_services.knowledge import sources
from backend_services.models import Assistant, Contact, Dialog, Message
from tests.integration.conversation_helpers import Shop, eventually, shop
from tests.support.openai_server import Hang, OpenAITestServer, Reply
from tests.support.tcp_proxy import TcpProxy
from tests.support.telegram_server import TelegramTestServer

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "7101001001:AAHfLq9x2Ck3vYw8PzR4mTn6sBd1eUgJ0aQ"
NEIGHBOUR = "7102002002:AAEotherBotSecretPart0123456789abcd"
REFUNDS_Q = "How long do refunds take?"
REFUNDS_A = "Refunds reach your card within five working days."
WAIT = 60.0  # seconds: processes start, load the embedder, poll


class Fleet:
    """`python -m replyx_app.cli fleet` as a process group of its own."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "replyx_app.cli", "fleet"], cwd=ROOT, env=self.env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None

    def workers(self) -> list[int]:
        """Pids of the supervisor's worker processes."""
        assert self.proc is not None
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                pids.append(int(stat.parent.name))
        return pids

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


@pytest_asyncio.fixture
async def telegram(clean: None, env: pytest.MonkeyPatch) -> AsyncIterator[TelegramTestServer]:
    async with TelegramTestServer() as server:
        server.add_bot(TOKEN, "shop_help_bot", first_name="Shop help")
        server.add_bot(NEIGHBOUR, "neighbour_bot", first_name="Neighbour")
        env.setenv("REPLYX_TELEGRAM_API_BASE", server.base_url)
        reset_settings_cache()
        yield server


@pytest.fixture
def fleet(telegram: TelegramTestServer, services: dict[str, str]) -> Iterator[Fleet]:
    env = {**os.environ, "REPLYX_TELEGRAM_API_BASE": telegram.base_url,
           "REPLYX_FLEET_WORKERS": "2", "REPLYX_HEARTBEAT_SECONDS": "1",
           "REPLYX_FLEET_OUTBOX_LEASE_SECONDS": "3", "PYTHONUNBUFFERED": "1"}
    f = Fleet(env, Path(services["REPLYX_DATA_DIR"]) / f"fleet-{os.getpid()}.log")
    f.start()
    yield f
    f.stop()


@pytest_asyncio.fixture
async def provider() -> AsyncIterator[OpenAITestServer]:
    srv = OpenAITestServer()
    await srv.start()
    yield srv
    await close_clients()
    await srv.stop()


async def _shop_with_bot(tag: str, token: str = TOKEN) -> tuple[Shop, int]:
    s = await shop(tag, platform_admin=True)
    assert s.bot.id is not None
    await sources.save_qa(s.owner, s.bot.id, None, REFUNDS_Q, REFUNDS_A)
    view = await bots.add_bot(s.owner, s.bot.id, token)
    return s, view.id


def _texts(telegram: TelegramTestServer, token: str, chat_id: int) -> list[str]:
    return [m.text for m in telegram.sent_messages(token, chat_id)]


async def _said(telegram: TelegramTestServer, token: str, chat_id: int, text: str,
                fleet: Fleet, timeout: float = WAIT) -> list[str]:
    try:
        await telegram.wait_for(
            lambda: any(text in t for t in _texts(telegram, token, chat_id)), timeout)
    except TimeoutError:
        raise AssertionError(f"{text!r} never reached chat {chat_id}; sent: "
                             f"{_texts(telegram, token, chat_id)}\n{fleet.tail()}") from None
    return _texts(telegram, token, chat_id)


async def _dialog_of(chat_id: int) -> Dialog:
    async def find() -> Dialog | None:
        async with session_scope() as s:
            return (await s.exec(select(Dialog).join(Contact).where(
                Contact.external_id == str(chat_id)).order_by(col(Dialog.id).desc()))).first()
    return await eventually(find, f"a dialog for chat {chat_id}")


async def _visitor_texts(dialog_id: int) -> list[str]:
    async with session_scope() as s:
        return [m.content for m in (await s.exec(select(Message).where(
            Message.dialog_id == dialog_id, Message.sender == "visitor")
            .order_by(col(Message.id)))).all()]


async def _chat_with_anna(tag: str, chat_id: int, telegram: TelegramTestServer,
                          fleet: Fleet) -> tuple[Shop, Dialog]:
    """A Telegram user asked for a person with /operator and Anna took the chat over."""
    s, _ = await _shop_with_bot(tag)
    await telegram.wait_until_polling(TOKEN, timeout=WAIT)
    telegram.push_message(TOKEN, chat_id, "/operator")
    await _said(telegram, TOKEN, chat_id, "Connecting you to a person", fleet)
    dialog = await _dialog_of(chat_id)
    await handoff.accept(s.anna, dialog.id)
    return s, dialog


async def test_a_telegram_user_gets_grounded_answers_and_a_human_who_replies(
    fleet: Fleet, telegram: TelegramTestServer
) -> None:
    s, _ = await _shop_with_bot("tg")
    await telegram.wait_until_polling(TOKEN, timeout=WAIT)

    telegram.push_message(TOKEN, 501, "/start")
    await _said(telegram, TOKEN, 501, "Hello", fleet)
    telegram.push_message(TOKEN, 501, REFUNDS_Q)
    await _said(telegram, TOKEN, 501, REFUNDS_A, fleet)
    assert telegram.calls(TOKEN, "sendChatAction")  # "typing…" while it worked

    telegram.push_message(TOKEN, 501, "/operator")
    await _said(telegram, TOKEN, 501, "Connecting you to a person", fleet)
    dialog = await _dialog_of(501)
    await handoff.accept(s.anna, dialog.id)
    await dialogs.operator_reply(s.anna, dialog.id, "Hi, Anna here. Let me check.", "op-1")
    sent = await _said(telegram, TOKEN, 501, "Anna here", fleet)

    # Each went out once, in the order it was written.
    assert sum(REFUNDS_A in t for t in sent) == 1
    assert sent.index(next(t for t in sent if "Anna here" in t)) > sent.index(
        next(t for t in sent if "Connecting you" in t))
    assert await _visitor_texts(dialog.id) == [REFUNDS_Q]  # commands are not messages

    # The operator closes it: the chat is asked for a rating, and a star records it.
    await handoff.close(s.anna, dialog.id, "resolved")
    await _said(telegram, TOKEN, 501, "How was this conversation?", fleet)
    keyboard = telegram.sent_messages(TOKEN, 501)[-1].reply_markup
    assert keyboard is not None and "rate:" in str(keyboard)
    telegram.push_callback(TOKEN, 501, f"rate:{dialog.id}:5")

    async def rated() -> Dialog | None:
        async with session_scope() as db:
            d = await db.get(Dialog, dialog.id)
        return d if d is not None and d.rating == 5 else None
    assert (await eventually(rated, "the rating", timeout=WAIT)).rated_handler == "human"


async def test_a_russian_bot_speaks_russian_in_its_own_replies(
    fleet: Fleet, telegram: TelegramTestServer
) -> None:
    """The bot's own words (greeting, "text only", rating prompt and thanks) come from the
    catalogue in the assistant's language, not in English."""
    s, _ = await _shop_with_bot("tg-ru")
    async with session_scope() as db:
        row = await db.get(Assistant, s.bot.id)
        assert row is not None
        row.language, row.greeting = "ru", ""
        db.add(row)
        await db.commit()
    await telegram.wait_until_polling(TOKEN, timeout=WAIT)

    telegram.push_message(TOKEN, 601, "/start")
    await _said(telegram, TOKEN, 601, "Здравствуйте! Задайте вопрос", fleet)
    telegram.push_update(TOKEN, {"message": {
        "message_id": 9001, "date": int(time.time()), "chat": {"id": 601, "type": "private"},
        "from": {"id": 601, "is_bot": False, "first_name": "Ann"},
        "sticker": {"file_id": "s1", "file_unique_id": "s1", "type": "regular",
                    "width": 512, "height": 512, "is_animated": False, "is_video": False}}})
    await _said(telegram, TOKEN, 601, "Я понимаю только текстовые сообщения", fleet)

    telegram.push_message(TOKEN, 601, "/operator")
    await _said(telegram, TOKEN, 601, "Соединяем вас с сотрудником", fleet)
    dialog = await _dialog_of(601)
    await handoff.accept(s.anna, dialog.id)
    await handoff.close(s.anna, dialog.id, "resolved")
    await _said(telegram, TOKEN, 601, "Как прошёл разговор? Поставьте оценку.", fleet)
    telegram.push_callback(TOKEN, 601, f"rate:{dialog.id}:4")
    await telegram.wait_for(lambda: any(
        c.params.get("text") == "Спасибо!" for c in telegram.calls(TOKEN, "answerCallbackQuery")),
        WAIT)


async def test_a_revoked_token_shows_an_error_while_neighbours_keep_answering(
    fleet: Fleet, telegram: TelegramTestServer
) -> None:
    s, channel_id = await _shop_with_bot("rv")
    _, neighbour_id = await _shop_with_bot("nb", NEIGHBOUR)
    await telegram.wait_until_polling(TOKEN, timeout=WAIT)
    await telegram.wait_until_polling(NEIGHBOUR, timeout=WAIT)

    telegram.revoke(TOKEN)

    async def errored() -> bots.BotView | None:
        view = await bots.get_bot(s.owner, channel_id)
        return view if view.status == "error" else None
    view = await eventually(errored, "the revoked bot's error", timeout=WAIT)
    assert "token" in view.error.lower()
    telegram.push_message(NEIGHBOUR, 777, REFUNDS_Q)
    await _said(telegram, NEIGHBOUR, 777, REFUNDS_A, fleet)
    assert neighbour_id != channel_id


async def test_a_worker_killed_mid_answer_is_restarted_and_nothing_is_lost_or_doubled(
    fleet: Fleet, telegram: TelegramTestServer, provider: OpenAITestServer
) -> None:
    s, channel_id = await _shop_with_bot("kill")
    await ai_keys.add_key(s.owner, "key", provider.base_url, "sk-fleet-test-0001", [], 600,
                          1_000_000)
    await telegram.wait_until_polling(TOKEN, timeout=WAIT)
    owner_before = set(fleet.workers())
    assert len(owner_before) == 2

    # The model hangs, so the worker is in the middle of answering when it dies.
    provider.script(Hang(60))
    telegram.push_message(TOKEN, 601, REFUNDS_Q)
    async def model_called() -> bool:
        return bool(provider.calls())
    await eventually(model_called, "the model call", timeout=WAIT)
    for pid in owner_before:  # kill both: the bot's worker is one of them
        os.kill(pid, signal.SIGKILL)
    provider.script(Reply(text="Five working days [1]."))
    telegram.push_message(TOKEN, 601, "Thanks! And do you ship to Spain?")

    async def restarted() -> bool:
        now = set(fleet.workers())
        return len(now) == 2 and not now & owner_before
    await eventually(restarted, "the workers' restart", timeout=WAIT)
    await _said(telegram, TOKEN, 601, "Five working days", fleet)
    dialog = await _dialog_of(601)

    async def both_stored() -> list[str] | None:
        texts = await _visitor_texts(dialog.id)
        return texts if len(texts) >= 2 else None
    texts = await eventually(both_stored, "both visitor messages stored", timeout=WAIT)
    assert texts == [REFUNDS_Q, "Thanks! And do you ship to Spain?"]  # once each, in order
    assert sum("Five working days" in t for t in _texts(telegram, TOKEN, 601)) == 1
    assert channel_id


async def test_operator_messages_wait_in_the_outbox_through_a_fleet_restart(
    fleet: Fleet, telegram: TelegramTestServer
) -> None:
    s, dialog = await _chat_with_anna("ob", 701, telegram, fleet)

    fleet.stop()
    for n in range(3):
        await dialogs.operator_reply(s.anna, dialog.id, f"Update {n + 1} of 3", f"op-{n}")
    fleet.start()

    sent = await _said(telegram, TOKEN, 701, "Update 3 of 3", fleet)
    updates = [t for t in sent if t.startswith("Update ")]
    assert updates == ["Update 1 of 3", "Update 2 of 3", "Update 3 of 3"]


async def test_no_chat_gets_more_than_one_message_a_second_and_a_429_is_honoured(
    fleet: Fleet, telegram: TelegramTestServer
) -> None:
    s, dialog = await _chat_with_anna("rl", 801, telegram, fleet)
    telegram.fail_next(TOKEN, "sendMessage", status=429, retry_after=2)
    for n in range(4):
        await dialogs.operator_reply(s.anna, dialog.id, f"Burst {n + 1}", f"burst-{n}")

    await _said(telegram, TOKEN, 801, "Burst 4", fleet)
    assert telegram.max_rate_violations(tolerance=0.05) == []  # 50 ms of network jitter
    sends = telegram.calls(TOKEN, "sendMessage")
    refused = next(i for i, c in enumerate(sends) if not c.ok)
    assert sends[refused + 1].at - sends[refused].at >= 2.0


# ---------------------------------------------------------------- outages and order


def _through(url: str, proxy: TcpProxy) -> str:
    """`url` with its host and port replaced by the proxy's."""
    parsed = make_url(url)
    return parsed.set(host="127.0.0.1", port=proxy.port,
                      query={k: v for k, v in parsed.query.items() if k != "host"}
                      ).render_as_string(hide_password=False)


def _proxy_for(url: str) -> TcpProxy:
    parsed = make_url(url)
    socket_dir = parsed.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):  # the embedded server
        return TcpProxy(upstream_unix=f"{socket_dir}/.s.PGSQL.{parsed.port or 5432}")
    return TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)


@pytest_asyncio.fixture
async def cut_able(
    telegram: TelegramTestServer, services: dict[str, str]
) -> AsyncIterator[tuple[Fleet, dict[str, TcpProxy]]]:
    """A fleet that reaches PostgreSQL and Valkey only through proxies the test can cut
    (the test itself keeps its direct connections, to look at what was stored)."""
    proxies = {"database": _proxy_for(services["DATABASE_URL"]),
               "valkey": _proxy_for(services["REDIS_URL"])}
    for proxy in proxies.values():
        await proxy.start()
    env = {**os.environ, "REPLYX_TELEGRAM_API_BASE": telegram.base_url,
           "REPLYX_FLEET_WORKERS": "1", "REPLYX_HEARTBEAT_SECONDS": "1",
           "REPLYX_FLEET_OUTBOX_LEASE_SECONDS": "3", "PYTHONUNBUFFERED": "1",
           "DATABASE_URL": _through(services["DATABASE_URL"], proxies["database"]),
           "REDIS_URL": _through(services["REDIS_URL"], proxies["valkey"])}
    f = Fleet(env, Path(services["REPLYX_DATA_DIR"]) / f"fleet-cut-{os.getpid()}.log")
    f.start()
    yield f, proxies
    f.stop()
    for proxy in proxies.values():
        await proxy.stop()


async def _stored_client_ids(chat_id: int) -> list[str]:
    async with session_scope() as s:
        return [str(m.client_id) for m in (await s.exec(
            select(Message).join(Dialog, col(Dialog.id) == col(Message.dialog_id))
            .join(Contact, col(Contact.id) == col(Dialog.contact_id))
            .where(Contact.external_id == str(chat_id), Message.sender == "visitor")
            .order_by(col(Message.id)))).all()]


def _handed_out(telegram: TelegramTestServer, update_id: int) -> bool:
    return any(c.ok and any(u.get("update_id") == update_id for u in c.result or [])
               for c in telegram.calls(TOKEN, "getUpdates"))


OUTAGE_SECONDS = 8.0  # the fault's length: longer than the old retries (1 s + 2 s)


@pytest.mark.parametrize("dependency", ["database", "valkey"])
async def test_messages_written_during_an_outage_are_all_answered_once_afterwards(
    cut_able: tuple[Fleet, dict[str, TcpProxy]], telegram: TelegramTestServer,
    dependency: str
) -> None:
    fleet, proxies = cut_able
    s, channel_id = await _shop_with_bot(f"out-{dependency}")
    await telegram.wait_until_polling(TOKEN, timeout=WAIT)
    healthy = telegram.push_message(TOKEN, 901, REFUNDS_Q)  # the fleet answers
    await _said(telegram, TOKEN, 901, REFUNDS_A, fleet)
    assert proxies[dependency].connections > 0  # the fleet really goes through the proxy

    await proxies[dependency].cut()
    asked: dict[int, list[int]] = {901: [], 902: [], 903: []}  # update ids per chat
    for chat in (901, 902, 903, 902):
        asked[chat].append(telegram.push_message(TOKEN, chat, REFUNDS_Q))
    during = sorted(u for ids in asked.values() for u in ids)
    await telegram.wait_for(lambda: _handed_out(telegram, during[-1]), WAIT)
    await asyncio.sleep(OUTAGE_SECONDS)  # the outage lasts; not synchronisation

    # Nothing of the outage was confirmed to Telegram: each is still there to re-fetch.
    pending = {u["update_id"] for u in telegram.pending_updates(TOKEN)}
    assert set(during) <= pending, fleet.tail()
    offsets = [int(c.params.get("offset") or 0) for c in telegram.calls(TOKEN, "getUpdates")]
    assert max(offsets) <= during[0]

    await proxies[dependency].restore()
    restored = time.monotonic()
    for chat, ids in asked.items():
        expected = (1 if chat == 901 else 0) + len(ids)

        def answered(chat: int = chat, expected: int = expected) -> bool:
            return sum(REFUNDS_A in t for t in _texts(telegram, TOKEN, chat)) >= expected
        try:
            await telegram.wait_for(answered, WAIT)
        except TimeoutError:
            raise AssertionError(f"chat {chat}: {_texts(telegram, TOKEN, chat)}\n"
                                 f"{fleet.tail()}") from None
    print(f"\n{dependency} outage: every message answered {time.monotonic() - restored:.1f} s"
          " after the restore")
    await telegram.wait_for(lambda: not telegram.pending_updates(TOKEN), WAIT)

    for chat, ids in asked.items():  # stored once each, in order, and answered once each
        earlier = [f"tg:{channel_id}:{healthy}"] if chat == 901 else []
        stored = await _stored_client_ids(chat)
        assert stored[len(earlier):] == [f"tg:{channel_id}:{u}" for u in ids], stored
        assert len(stored) == len(earlier) + len(ids)
        replies = sum(REFUNDS_A in t for t in _texts(telegram, TOKEN, chat))
        assert replies == len(earlier) + len(ids), _texts(telegram, TOKEN, chat)
    assert s.owner


async def test_a_burst_in_one_chat_is_answered_in_order(
    fleet: Fleet, telegram: TelegramTestServer, provider: OpenAITestServer
) -> None:
    """The second question's answer is slow and the third's quick; the third still waits
    for the second (before, the chat's lock was dropped while the second waited for it,
    and the third overtook)."""
    s, _ = await _shop_with_bot("order")
    await ai_keys.add_key(s.owner, "key", provider.base_url, "sk-fleet-test-0002", [], 600,
                          1_000_000)
    await telegram.wait_until_polling(TOKEN, timeout=WAIT)
    questions = [f"{REFUNDS_Q} Order {n}." for n in (1, 2, 3, 4)]

    async def model_calls(n: int) -> bool:
        return len(provider.calls()) >= n

    # The runner re-polls while busy only every 10 s (or when an update finishes): the
    # slow answers make it fetch the second question while the first is answered and the
    # third while the second is, each joining its chat's queue mid-answer.
    provider.script(Reply(text="Answer one.", delay=12))
    telegram.push_message(TOKEN, 911, questions[0])
    await eventually(lambda: model_calls(1), "the first model call", timeout=WAIT)
    second = telegram.push_message(TOKEN, 911, questions[1])  # waits for the first
    await telegram.wait_for(lambda: _handed_out(telegram, second), WAIT)
    provider.script(Reply(text="Answer two.", delay=14))
    await eventually(lambda: model_calls(2), "the second model call", timeout=WAIT)
    provider.script(Reply(text="Answer three."))  # quick: would overtake the second
    telegram.push_message(TOKEN, 911, questions[2])
    telegram.push_message(TOKEN, 911, questions[3])

    sent = await _said(telegram, TOKEN, 911, "Answer three", fleet)
    await telegram.wait_for(
        lambda: sum("Answer" in t for t in _texts(telegram, TOKEN, 911)) >= 4, WAIT)
    answers = [t for t in _texts(telegram, TOKEN, 911) if "Answer" in t]
    assert [a.split(".")[0] for a in answers] == [
        "Answer one", "Answer two", "Answer three", "Answer three"], sent
    dialog = await _dialog_of(911)
    assert dialog.id is not None
    assert await _visitor_texts(dialog.id) == questions  # handled in the order written
