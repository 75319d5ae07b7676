"""The Knowledge page's quality loop in a real browser: an unanswered question that an
operator answered is listed, one click turns the reply into a Q&A pair that answers the
next question, and the knowledge check reports a case whose source was deleted. A
crafted event from another workspace reaches none of it."""

from __future__ import annotations

import os
from typing import Any

from playwright.async_api import expect

from backend_services.conversations import dialogs, handoff, turns
from backend_services.conversations.actors import contact_actor
from backend_services.knowledge import ingest, sources
from backend_services.models import Role
from state.knowledge import KnowledgeState
from tests.e2e.helpers import (
    SocketTap,
    add_document,
    add_member,
    at,
    create_assistant,
    make_workspace_owner,
    owner_principal,
    sign_in,
)

REPLY_TO_QA = KnowledgeState.get_full_name() + ".reply_to_qa"
LOYALTY_REPLY = "Yes: every tenth order is free, counted from your first order."
RETURNS_TXT = (
    b"Returns policy\n\nYou can return any unworn item within 30 days of delivery. Print "
    b"the prepaid label from your order page and drop the parcel at any post office.\n"
)


async def _snap(page: Any, name: str) -> None:
    if os.environ.get("E2E_SCREENSHOTS"):
        await page.screenshot(path=f"/tmp/e2e-quality-{name}.png", full_page=True)


async def _answered_by_a_person(workspace_id: int, assistant_id: int) -> tuple[int, int]:
    """A visitor asks what the knowledge lacks and an operator answers: (dialog, reply)."""
    actor = await contact_actor(workspace_id, assistant_id, "widget", "loyal-visitor")
    start = await turns.handle_visitor_message(actor, "Do you have a loyalty programme?",
                                               "q1")
    if start.ai_should_answer:
        async for _ in turns.stream_ai_reply(actor, start.posted.dialog.id,
                                             start.posted.message.id):
            pass
    owner = await owner_principal(workspace_id)
    await handoff.accept(owner, start.posted.dialog.id)
    reply = await dialogs.operator_reply(owner, start.posted.dialog.id, LOYALTY_REPLY, "r1")
    return start.posted.dialog.id, reply.id


async def _shop_with_an_answered_question(prefix: str) -> tuple[str, int, int, int, int]:
    """An owner's workspace whose visitor an operator answered: (owner e-mail, workspace,
    assistant, dialog, reply)."""
    email, workspace_id = await make_workspace_owner(prefix)
    assistant_id = await create_assistant(workspace_id, "Help desk")
    dialog_id, reply_id = await _answered_by_a_person(workspace_id, assistant_id)
    return email, workspace_id, assistant_id, dialog_id, reply_id


async def _ask(page: Any, question: str) -> None:
    await page.fill("#chat-question", question)
    await page.click("#chat-ask")
    await expect(page.locator("#chat-mode")).to_be_visible(timeout=60_000)
    await expect(page.locator("#chat-ask")).to_be_enabled()


async def test_an_operators_reply_becomes_a_pair_and_the_check_reports_a_deleted_source(
    clean: None, new_context: Any
) -> None:
    email, workspace_id = await make_workspace_owner("quality")
    assistant_id = await create_assistant(workspace_id, "Help desk")
    document_id = await add_document(workspace_id, assistant_id, "returns.txt", RETURNS_TXT)
    assert await ingest.run_ingestion(document_id) == "ready"
    await _answered_by_a_person(workspace_id, assistant_id)

    page = await (await new_context()).new_page()
    await page.emulate_media(color_scheme="light")
    await sign_in(page, email)
    await page.goto("/knowledge")
    await expect(page.locator(".doc-row")).to_have_count(1, timeout=60_000)

    # Unanswered: the question, why, and what the operator said.
    await page.locator("#gaps-trigger").click()
    gap = page.locator(".gap-row")
    await expect(gap).to_have_count(1, timeout=60_000)
    await expect(gap.locator(".gap-question")).to_have_text("Do you have a loyalty programme?")
    await expect(gap).to_contain_text("No answer")
    await expect(gap).to_contain_text("Handed over")
    await expect(gap).to_contain_text(LOYALTY_REPLY)
    await _snap(page, "unanswered")

    # One click: the Q&A editor, filled in, to be edited before saving.
    await gap.locator(".gap-save-reply").click()
    await expect(page.locator("#qa-heading")).to_have_text(
        "New Q&A pair from an operator's reply")
    await expect(page.locator("#qa-question")).to_have_value("Do you have a loyalty programme?")
    await expect(page.locator("#qa-answer")).to_have_value(LOYALTY_REPLY)
    await page.fill("#qa-answer", LOYALTY_REPLY + " Ask at checkout.")
    await page.click("#qa-save")
    await expect(page.get_by_text("Q&A pair saved.")).to_be_visible()
    await expect(page.locator(".qa-row")).to_contain_text("Ask at checkout.")

    # The next visitor's wording gets the operator's answer.
    await _ask(page, "do you have any loyalty program?")
    await expect(page.locator("#chat-answer")).to_contain_text("every tenth order is free")

    # A document answer kept as a check.
    await _ask(page, "How many days do I have to return an item?")
    await expect(page.locator("#chat-answer")).to_contain_text("30 days")
    await page.locator("#chat-keep").click()
    await expect(page.get_by_text("Kept: the knowledge check will ask it again.")).to_be_visible()

    # Both checks pass; after the document is deleted, its check says so.
    await page.locator("#checks-trigger").click()
    rows = page.locator(".check-row")
    await expect(rows).to_have_count(2)
    await page.locator("#run-checks").click()
    await expect(page.locator("#check-summary")).to_have_text(
        "2 pass · 0 miss · 0 source deleted", timeout=60_000)
    await sources.delete_document(await owner_principal(workspace_id), document_id)
    await page.locator("#run-checks").click()
    await expect(page.locator("#check-summary")).to_have_text(
        "1 pass · 0 miss · 1 source deleted", timeout=60_000)
    deleted = rows.filter(has_text="How many days do I have to return an item?")
    await expect(deleted).to_contain_text("Source deleted")
    await expect(deleted).to_contain_text("Its document «returns.txt» was deleted")
    await _snap(page, "checks")


async def test_another_workspace_cannot_turn_a_reply_into_its_pair(
    clean: None, new_context: Any
) -> None:
    _, workspace_a, assistant_a, _, reply_id = await _shop_with_an_answered_question("alpha")
    email_b, workspace_b = await make_workspace_owner("bravo")
    await create_assistant(workspace_b, "Bravo bot")

    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, email_b)
    await page.goto("/knowledge")
    await page.locator("#gaps-trigger").click()
    await expect(page.locator("#gaps-empty")).to_be_visible(timeout=60_000)
    real = tap.real_event_frame("set_tab")

    mark = tap.send(tap.craft(real, REPLY_TO_QA, {"message_id": reply_id}))
    await tap.wait_for_reply("That reply was not found.", after=mark)
    # Nothing was filled in: the page stays on its tab, no editor opened with A's text.
    await expect(page.locator("#gaps-trigger")).to_have_attribute("aria-selected", "true")

    # The console's link, with A's message id in the address: refused, the page still works.
    await page.goto(f"/knowledge?reply={reply_id}")
    await expect(page.get_by_text("That reply was not found.").first).to_be_visible(
        timeout=60_000)
    await expect(page.locator("#gaps-empty")).to_be_visible()  # the tab it was on
    assert not [f for f in tap.server_frames if "tenth order" in f or "loyalty" in f]
    assert await sources.list_qa(await owner_principal(workspace_a), assistant_a) == []


async def test_from_the_console_an_admin_saves_a_reply_as_a_pair_an_operator_cannot(
    clean: None, new_context: Any
) -> None:
    email, workspace_id, assistant_id, dialog_id, _ = await _shop_with_an_answered_question(
        "console")
    operator = await add_member(workspace_id, Role.OPERATOR, "operator")

    page = await (await new_context()).new_page()
    await sign_in(page, operator)
    await page.goto(f"/console?d={dialog_id}")
    await expect(page.locator(".message-operator")).to_contain_text(LOYALTY_REPLY,
                                                                    timeout=60_000)
    await expect(page.locator(".save-as-qa")).to_have_count(0)

    page = await (await new_context()).new_page()
    await sign_in(page, email)
    await page.goto(f"/console?d={dialog_id}")
    link = page.locator(".message-operator .save-as-qa")
    await expect(link).to_have_count(1, timeout=60_000)
    await link.click()
    await page.wait_for_url(at("/knowledge"))
    await expect(page.locator("#qa-heading")).to_have_text(
        "New Q&A pair from an operator's reply", timeout=60_000)
    await expect(page.locator("#qa-question")).to_have_value("Do you have a loyalty programme?")
    await expect(page.locator("#qa-answer")).to_have_value(LOYALTY_REPLY)
    await page.click("#qa-save")
    await expect(page.get_by_text("Q&A pair saved.")).to_be_visible()
    [pair] = await sources.list_qa(await owner_principal(workspace_id), assistant_id)
    assert pair.answer == LOYALTY_REPLY
