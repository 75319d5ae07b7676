"""The widget through faults, on the real app: a question whose writer died is answered on
the visitor's screen by a live worker; a frozen Valkey shows "still sending…" and a second
press of Send stores nothing twice; an acknowledgement never empties what the visitor typed
meanwhile. Counted in PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.async_api import expect
from sqlmodel import col, select

from backend_services.conversations import pending_answers, turns
from backend_services.conversations.actors import contact_actor
from backend_services.core.db import session_scope
from backend_services.core.settings import reset_settings_cache
from backend_services.models import Contact, Dialog, Message
from tests.e2e.helpers import add_qa_pair, create_assistant, make_workspace_owner
from tests.e2e.test_live_console_rules import _widget_page
from tests.e2e.test_widget_loader import HostSite, host_site  # noqa: F401  (fixture)

LIVE = 30_000
REFUNDS = "Refunds reach your card within five working days."


@pytest.fixture
def app_lease(app_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process plays a dead web worker: its leases are as short as the app's."""
    monkeypatch.setenv("REPLYX_ANSWER_LEASE_SECONDS",
                       app_server.env["REPLYX_ANSWER_LEASE_SECONDS"])
    reset_settings_cache()
    yield
    monkeypatch.delenv("REPLYX_ANSWER_LEASE_SECONDS")
    reset_settings_cache()


async def _shop(tag: str) -> tuple[int, int]:
    _, ws = await make_workspace_owner(tag)
    assistant_id = await create_assistant(ws, "Helper")
    await add_qa_pair(ws, assistant_id, "How long do refunds take?", REFUNDS)
    return ws, assistant_id


def _answer_text(chat: Any) -> Any:
    """The AI's answer as a message (its sources repeat the passage)."""
    return chat.locator(".message-ai .message-text").get_by_text(REFUNDS)


async def _messages(ws: int) -> list[Message]:
    async with session_scope() as s:
        return list(await s.exec(select(Message).where(col(Message.workspace_id) == ws)
                                 .order_by(col(Message.id))))


async def test_a_question_whose_writer_died_is_answered_on_the_visitors_screen(
    clean: None, app_server: Any, new_context: Any, host_site: Callable[[], HostSite],  # noqa: F811
    app_lease: None,
) -> None:
    ws, assistant_id = await _shop("orphan")
    page = await _widget_page(app_server, new_context, host_site(), ws, assistant_id)
    chat = page.frame_locator("iframe")
    await chat.locator("#widget-input").fill("How long do refunds take?")
    await chat.locator("#widget-input").press("Enter")
    await expect(chat.locator(".message-visitor")).to_have_count(1, timeout=LIVE)
    async with session_scope() as s:
        [dialog] = (await s.exec(select(Dialog).where(col(Dialog.workspace_id) == ws))).all()
        contact = await s.get(Contact, dialog.contact_id)
    assert contact is not None
    await _until_answered(ws, 1)

    # A web worker stores the visitor's next question and dies before writing a word (here
    # the test process is that worker: it holds the lease and never renews it).
    actor = await contact_actor(ws, assistant_id, "widget", contact.external_id)
    orphan = await turns.handle_visitor_message(actor, "How long do refunds take, please?",
                                                "orphan-0001", answer_holder="web-dead")
    assert orphan.ai_should_answer, orphan.posted.dialog.status
    started = time.monotonic()

    # A live worker of the app finds it once the lease runs out and answers it; the visitor
    # sees the question and the answer, and no typing dots are left behind.
    await expect(_answer_text(chat)).to_have_count(
        2, timeout=LIVE)
    print(f"\nan orphaned question was answered {time.monotonic() - started:.1f} s after it "
          "was stored")
    await expect(chat.locator(".message-visitor")).to_have_count(2, timeout=LIVE)
    await expect(chat.locator("#widget-streaming")).to_have_count(0)
    await expect(chat.locator(".typing-indicator")).to_have_count(0, timeout=LIVE)
    answers = [m for m in await _messages(ws) if m.sender == "ai"]
    assert [m.client_id for m in answers][-1] == f"ai:{orphan.posted.message.id}"
    assert len(answers) == 2
    assert await pending_answers.owed_count(ws) == 0


async def _until_answered(ws: int, count: int) -> None:
    deadline = time.monotonic() + LIVE / 1000
    while time.monotonic() < deadline:
        if sum(m.sender == "ai" for m in await _messages(ws)) >= count:
            return
        await asyncio.sleep(0.1)  # poll: waiting for the app to store the answer
    raise AssertionError("the AI did not answer in time")


@contextlib.contextmanager
def _frozen(pid: int) -> Iterator[None]:
    """Valkey stops answering (as a stalled server or a network partition does) until the
    block ends."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


async def test_during_a_valkey_freeze_the_visitor_sees_still_sending_and_a_second_press_stores_once(
    clean: None, services: dict[str, str], app_server: Any, new_context: Any,
    host_site: Callable[[], HostSite],  # noqa: F811
) -> None:
    pid = services.get("_valkey_pid")
    if not pid:
        pytest.skip("Valkey is not run by the tests (TEST_REDIS_URL): its process is not ours")
    ws, assistant_id = await _shop("freeze")
    page = await _widget_page(app_server, new_context, host_site(), ws, assistant_id)
    chat = page.frame_locator("iframe")
    await expect(chat.locator("#widget-input")).to_be_visible(timeout=LIVE)
    box = chat.locator("#widget-input")

    with _frozen(int(pid)):
        await box.fill("How long do refunds take?")
        await box.press("Enter")
        # No word from the server: the visitor is told the message is on its way…
        await expect(chat.locator("#widget-pending")).to_be_visible(timeout=LIVE)
        # …and presses Send again, as people do.
        await chat.locator("#widget-send").click()
        await expect(box).to_have_value("How long do refunds take?")

    # Valkey is back: the message is stored once, answered once, the box empties.
    await expect(_answer_text(chat)).to_be_visible(timeout=LIVE)
    await expect(box).to_have_value("", timeout=LIVE)
    await expect(chat.locator("#widget-pending")).to_be_hidden(timeout=LIVE)
    await expect(chat.locator(".message-visitor")).to_have_count(1, timeout=LIVE)
    messages = await _messages(ws)
    assert [m.sender for m in messages] == ["visitor", "ai"]


async def test_an_acknowledgement_never_empties_what_the_visitor_typed_meanwhile(
    clean: None, app_server: Any, new_context: Any, host_site: Callable[[], HostSite],  # noqa: F811
) -> None:
    ws, assistant_id = await _shop("typing")
    page = await _widget_page(app_server, new_context, host_site(), ws, assistant_id)
    chat = page.frame_locator("iframe")
    box = chat.locator("#widget-input")
    await box.fill("How long do refunds take?")
    await box.press("Enter")
    await box.fill("And delivery?")  # typed before the first message is acknowledged
    await expect(chat.locator(".message-visitor")).to_have_count(1, timeout=LIVE)
    await expect(_answer_text(chat)).to_be_visible(timeout=LIVE)
    await expect(box).to_have_value("And delivery?")
    assert [m.content for m in await _messages(ws) if m.sender == "visitor"] == [
        "How long do refunds take?"]
