"""The operator console's rules, on the real app: one winner when two operators take the
same conversation, no crossing between workspaces or visitors through crafted socket
events, messages shown as text, and the no-operator timeout reaching the visitor live."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

from playwright.async_api import expect
from sqlmodel import select

from backend_services.conversations import turns
from backend_services.conversations.actors import contact_actor
from backend_services.core.db import session_scope
from backend_services.models import Contact, Dialog, HandoffEvent, Role
from backend_services.widget import settings as widget
from backend_services.widget.settings import WidgetInput
from state.console import ConsoleState
from tests.e2e.helpers import (
    SocketTap,
    add_member,
    add_qa_pair,
    create_assistant,
    make_workspace_owner,
    owner_principal,
    sign_in,
)
from tests.e2e.test_widget_loader import HostSite, host_site  # noqa: F401  (fixture)

LIVE = 30_000
OPEN = ConsoleState.get_full_name() + ".open"


async def _waiting_dialog(ws: int, assistant_id: int, visitor: str, text: str) -> int:
    """A visitor who wrote and asked for a human (as the widget would, through services)."""
    actor = await contact_actor(ws, assistant_id, "widget", visitor)
    started = await turns.handle_visitor_message(actor, text, f"cid-{visitor}-0001")
    await turns.request_human(actor, started.posted.dialog.id)
    return started.posted.dialog.id


async def _in_jobs_process(app_server: Any, body: str) -> str:
    """Run service code in a separate process with the app's own settings (its Redis db),
    as the jobs worker would; returns what it printed."""
    code = ("import asyncio\nasync def main():\n" + "".join(
        f"    {line}\n" for line in body.splitlines()) + "asyncio.run(main())\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, env=app_server.env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    return out.decode().strip().splitlines()[-1]


async def _widget_page(app_server: Any, new_context: Callable[[], Any], site: HostSite,
                       ws: int, assistant_id: int, *, tap: SocketTap | None = None) -> Any:
    """The tenant's page on `site` with the assistant's widget, opened by a visitor."""
    view = await widget.update_settings(await owner_principal(ws), assistant_id,
                                        WidgetInput(allowed_origins=(site.origin,)))
    site.html = "<!doctype html><body>" + widget.snippet(app_server.url, view.public_id)
    page = await (await new_context()).new_page()
    if tap is not None:
        await tap.install(page)
    await page.goto(site.origin + "/")
    await page.get_by_role("button", name="Open chat").click()
    return page


async def _console(new_context: Callable[[], Any], email: str) -> Any:
    page = await (await new_context()).new_page()
    await sign_in(page, email)
    await page.goto("/console")
    await expect(page.locator("#queue-count")).to_be_visible(timeout=LIVE)
    return page


async def test_two_operators_take_the_same_conversation_and_exactly_one_wins(
    clean: None, app_server: Any, new_context: Any
) -> None:
    _, ws = await make_workspace_owner("race")
    assistant_id = await create_assistant(ws, "Helper")
    dialog_id = await _waiting_dialog(ws, assistant_id, "visitor-race-1", "I need a person")
    anna, boris = (await add_member(ws, Role.OPERATOR, "anna"),
                   await add_member(ws, Role.OPERATOR, "boris"))
    pages = [await _console(new_context, anna), await _console(new_context, boris)]
    for page in pages:
        await expect(page.locator("#queue-count")).to_have_text("1", timeout=LIVE)
        await page.locator(".inbox-row").first.click()
        await expect(page.locator("#take-over")).to_be_visible(timeout=LIVE)

    await asyncio.gather(*(p.locator("#take-over").click() for p in pages))

    # Exactly one console shows the winner's controls; the other is told who has it.
    for page in pages:
        await expect(page.locator("#hand-back").or_(page.locator("#taken-by"))).to_be_visible(
            timeout=LIVE)
    winners = [await p.locator("#hand-back").count() for p in pages]
    assert sorted(winners) == [0, 1]
    loser = pages[winners.index(0)]
    winner_name = "Anna" if winners[0] else "Boris"
    await expect(loser.locator("#taken-by")).to_contain_text(winner_name)
    async with session_scope() as s:
        accepts = (await s.exec(select(HandoffEvent).where(
            HandoffEvent.dialog_id == dialog_id, HandoffEvent.to_state == "active"))).all()
    assert len(accepts) == 1


async def test_an_operator_cannot_open_another_workspaces_conversation_by_crafted_event(
    clean: None, app_server: Any, new_context: Any
) -> None:
    _, ws_a = await make_workspace_owner("wall-a")
    _, ws_b = await make_workspace_owner("wall-b")
    secret = "My card number is 4111 1111 1111 1111"
    dialog_b = await _waiting_dialog(ws_b, await create_assistant(ws_b, "B helper"),
                                     "visitor-b-1", secret)
    await _waiting_dialog(ws_a, await create_assistant(ws_a, "A helper"), "visitor-a-1", "Hi")
    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, await add_member(ws_a, Role.OPERATOR, "mallory"))
    await page.goto("/console")
    await expect(page.locator("#queue-count")).to_have_text("1", timeout=LIVE)
    await page.locator(".inbox-row").first.click()  # a real `open` to copy
    await expect(page.locator("#take-over")).to_be_visible(timeout=LIVE)

    mark = tap.send(SocketTap.craft(tap.real_event_frame("open"), OPEN,
                                    {"dialog_id": dialog_b}))
    await tap.wait_for_reply("not found", after=mark)
    assert not any(secret in f or "4111" in f for f in tap.server_frames)
    # Nor can they act on it: the console still shows their own conversation only.
    async with session_scope() as s:
        b = await s.get(Dialog, dialog_b)
    assert b is not None and (b.status, b.assigned_user_id) == ("requested", None)


async def test_a_visitor_socket_cannot_reach_console_handlers_or_other_visitors(
    clean: None, app_server: Any, new_context: Any, host_site: Callable[[], HostSite],  # noqa: F811
) -> None:
    """A visitor's page is a socket to the same app: crafted console events find no session."""
    _, ws = await make_workspace_owner("visitors")
    assistant_id = await create_assistant(ws, "Helper")
    other = await _waiting_dialog(ws, assistant_id, "visitor-other-1", "private question")
    tap = SocketTap()
    page = await _widget_page(app_server, new_context, host_site(), ws, assistant_id, tap=tap)
    chat = page.frame_locator("iframe")
    await chat.locator("#widget-input").fill("hello")
    await chat.locator("#widget-input").press("Enter")
    await expect(chat.locator(".message-visitor")).to_have_count(1, timeout=LIVE)

    mark = tap.send(SocketTap.craft(tap.real_event_frame("send"), OPEN, {"dialog_id": other}))
    await tap.wait_for_reply("/login", after=mark)  # no session: sent to sign in
    assert not any("private question" in f for f in tap.server_frames)


async def test_markup_in_a_message_is_shown_as_text_in_widget_and_console(
    clean: None, app_server: Any, new_context: Any, host_site: Callable[[], HostSite],  # noqa: F811
) -> None:
    _, ws = await make_workspace_owner("markup")
    assistant_id = await create_assistant(ws, "Helper")
    hostile = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"><b>hi</b>'
    page = await _widget_page(app_server, new_context, host_site(), ws, assistant_id)
    chat = page.frame_locator("iframe")
    await chat.locator("#widget-input").fill(hostile)
    await chat.locator("#widget-input").press("Enter")
    await expect(chat.locator(".message-visitor .message-text")).to_have_text(hostile,
                                                                             timeout=LIVE)
    # The assistant knows nothing, so its policy asks for a person by itself.
    await expect(chat.locator("#widget-status")).to_contain_text("Waiting", timeout=LIVE)

    console = await _console(new_context, await add_member(ws, Role.OPERATOR, "olga"))
    await console.locator(".inbox-row").first.click()
    await expect(console.locator(".message-visitor .message-text")).to_have_text(
        hostile, timeout=LIVE)
    frame = next(f for f in page.frames if "/widget" in f.url)
    for target in (frame, console):
        assert await target.evaluate("window.__pwned === undefined")
        assert await target.locator(".message-text b, .message-text img").count() == 0


async def test_nobody_accepting_in_time_shows_the_offline_message_and_collects_contact(
    clean: None, app_server: Any, new_context: Any, host_site: Callable[[], HostSite],  # noqa: F811
) -> None:
    """The timeout runs in the jobs process; its change reaches the visitor's open widget
    through the dialog stream, with no reload."""
    _, ws = await make_workspace_owner("timeout")
    assistant_id = await create_assistant(ws, "Helper")
    page = await _widget_page(app_server, new_context, host_site(), ws, assistant_id)
    chat = page.frame_locator("iframe")
    await chat.locator("#widget-input").fill("Is anyone there?")
    await chat.locator("#widget-input").press("Enter")
    await expect(chat.locator(".message-visitor")).to_have_count(1, timeout=LIVE)
    # The assistant knows nothing: its answer says so and its policy asks for a person.
    await expect(chat.locator("#widget-status")).to_contain_text("Waiting", timeout=LIVE)

    # The periodic job runs in another process (`replyx jobs`), as if the policy's five
    # minutes had passed; its change reaches the widget only through the dialog stream.
    assert await _in_jobs_process(app_server, "from datetime import timedelta\n"
                                  "from backend_services.conversations import handoff, store\n"
                                  "print(await handoff.expire_waiting("
                                  "store.now() + timedelta(minutes=6)))") == "1"

    await expect(chat.locator("#widget-contact")).to_be_visible(timeout=LIVE)
    await chat.locator("#widget-contact input[name=email]").fill("ann@example.com")
    await chat.locator("#widget-contact button").click()
    await expect(chat.get_by_text("Thanks")).to_be_visible(timeout=LIVE)
    async with session_scope() as s:
        [dialog] = (await s.exec(select(Dialog))).all()
        contact = await s.get(Contact, dialog.contact_id)
    assert dialog.status == "requested"  # still in the queue for a person to follow up
    assert contact is not None and contact.email == "ann@example.com"


async def test_the_chat_takes_renewed_tokens_only_from_the_page_that_embeds_it(
    clean: None, app_server: Any, new_context: Any, host_site: Callable[[], HostSite],  # noqa: F811
) -> None:
    _, ws = await make_workspace_owner("renew")
    assistant_id = await create_assistant(ws, "Helper")
    page = await _widget_page(app_server, new_context, host_site(), ws, assistant_id)
    await expect(page.frame_locator("iframe").locator("#widget-input")).to_be_visible(
        timeout=LIVE)
    frame = next(f for f in page.frames if "/widget" in f.url)

    # The embedding page's renewal is kept for the next start of the chat…
    await page.locator("iframe").evaluate(
        "(el, origin) => el.contentWindow.postMessage("
        "{type: 'replyx:token', token: 'renewed-token'}, origin)", app_server.url)
    await frame.wait_for_function("location.hash === '#t=renewed-token'", timeout=LIVE)
    # …a message from any other origin (here the chat's own) is ignored. Messages are
    # dispatched in order, so once "done" arrives the forged one has been seen.
    hash_after = await frame.evaluate("""new Promise(resolve => {
        window.addEventListener('message', e => { if (e.data === 'done') resolve(location.hash); });
        window.postMessage({type: 'replyx:token', token: 'evil'}, '*');
        window.postMessage('done', '*');
    })""")
    assert hash_after == "#t=renewed-token"


async def test_two_quick_messages_each_get_their_own_answer(
    clean: None, app_server: Any, new_context: Any, host_site: Callable[[], HostSite],  # noqa: F811
) -> None:
    _, ws = await make_workspace_owner("quick")
    assistant_id = await create_assistant(ws, "Helper")
    await add_qa_pair(ws, assistant_id, "How long do refunds take?",
                      "Refunds reach your card within five working days.")
    page = await _widget_page(app_server, new_context, host_site(), ws, assistant_id)
    chat = page.frame_locator("iframe")
    for text in ("How long do refunds take?", "How long do refunds take, please?"):
        await chat.locator("#widget-input").fill(text)
        await chat.locator("#widget-input").press("Enter")  # no waiting in between
    await expect(chat.locator(".message-visitor")).to_have_count(2, timeout=LIVE)
    await expect(chat.locator(".message-ai")).to_have_count(2, timeout=LIVE)
