"""Handoff page: an admin edits one assistant's handoff policy; the service's rules, roles and
the tenant wall hold for the page and for crafted socket events."""

from __future__ import annotations

import os
import re
from typing import Any

from playwright.async_api import expect

from backend_services.conversations.policy import HandoffPolicy, get_policy, update_policy
from backend_services.models import Role
from state.handoff_settings import HandoffSettingsState
from tests.e2e.helpers import (
    SocketTap,
    add_member,
    at,
    create_assistant,
    make_workspace_owner,
    nav_labels,
    owner_principal,
    save_profile,
    sign_in,
)

SAVE = HandoffSettingsState.get_full_name() + ".save"
CHOOSE = HandoffSettingsState.get_full_name() + ".choose_assistant"
NEEDS_ADMIN = "This needs the admin role or higher."
BAD_ZONE = "Choose a valid time zone, e.g. Europe/Moscow."


async def _snap(page: Any, name: str) -> None:
    if os.environ.get("E2E_SCREENSHOTS"):
        await page.screenshot(path=f"/tmp/e2e-handoff-{name}.png", full_page=True)


async def _admin_on_handoff_page(new_context: Any, prefix: str = "owner") -> tuple[
        Any, int, int]:
    """An owner with one assistant, signed in, on /handoff (light mode)."""
    email, workspace_id = await make_workspace_owner(prefix)
    assistant_id = await create_assistant(workspace_id, "Help desk")
    page = await (await new_context()).new_page()
    await page.emulate_media(color_scheme="light")
    await sign_in(page, email)
    await page.goto("/handoff")
    await expect(page.locator("#page-title")).to_have_text("Handoff")
    await expect(page.locator("#timezone")).to_have_value("UTC", timeout=60_000)
    return page, workspace_id, assistant_id


def _form_payload(assistant_id: int, **changes: str) -> dict[str, Any]:
    """What the page's form sends for the default policy, with some fields changed."""
    p = HandoffPolicy()
    form = {
        "assistant_id": str(assistant_id), "enabled": "on", "on_visitor_request": "on",
        "phrases_en": "\n".join(p.phrases_en), "phrases_ru": "\n".join(p.phrases_ru),
        "on_low_confidence": "on", "on_no_answer": "on", "keywords": "",
        "failed_answers_threshold": "0", "timezone": "UTC", "always_open": "on",
        "accept_timeout_minutes": "5", "on_timeout": "offline_message",
        "offline_message_en": p.offline_message_en, "offline_message_ru": p.offline_message_ru,
        **{f"hours_{i}": "" for i in range(7)},
    }
    return {**form, **changes}


async def test_admin_edits_an_assistants_handoff_policy_and_it_is_kept(
    clean: None, new_context: Any
) -> None:
    page, workspace_id, assistant_id = await _admin_on_handoff_page(new_context)
    other_id = await create_assistant(workspace_id, "Sales bot")
    await page.reload()
    assert "Handoff" in await nav_labels(page)

    # A new assistant shows the defaults: on, the usual phrases, always open.
    await expect(page.locator("#enabled")).to_be_checked()
    await expect(page.locator("#phrases_en")).to_have_value(
        "\n".join(HandoffPolicy().phrases_en))
    await expect(page.locator("#phrases_ru")).to_have_value(re.compile("позовите человека"))
    await expect(page.locator("#always_open")).to_be_checked()
    await expect(page.locator("#open-now")).to_have_text("open now")
    await _snap(page, "defaults-light")

    # Change a bit of everything.
    await page.locator("#on_low_confidence").click()
    await page.fill("#phrases_en", "talk to a human\nreal person\n  real person  ")
    await page.fill("#keywords", "refund\nlawyer")
    await page.fill("#timezone", "Europe/Moscow")
    await page.locator("#always_open").click()
    await page.fill("#hours_0", "09:00-13:00, 14:00-18:00")
    await page.fill("#hours_5", "10:00-14:00")
    await page.get_by_role("radio", name="Hand the conversation back to the AI").click()
    await page.fill("#offline_message_en", "We are away. Leave your e-mail, please.")
    await page.fill("#accept_timeout_minutes", "10")
    await page.fill("#failed_answers_threshold", "3")
    await page.press("#failed_answers_threshold", "Enter")  # Enter saves the form
    await expect(page.get_by_text("Handoff policy saved.")).to_be_visible()
    await expect(page.locator("#form-error")).to_have_count(0)
    await expect(page.locator("#phrases_en")).to_have_value("talk to a human\nreal person")

    # The database holds exactly that.
    saved = await get_policy(workspace_id, assistant_id)
    assert saved.on_low_confidence is False and saved.on_no_answer is True
    assert saved.phrases_en == ["talk to a human", "real person"]
    assert saved.keywords == ["refund", "lawyer"]
    assert saved.failed_answers_threshold == 3
    assert saved.business_hours.timezone == "Europe/Moscow"
    assert saved.business_hours.always_open is False
    assert saved.business_hours.days == {0: [("09:00", "13:00"), ("14:00", "18:00")],
                                         5: [("10:00", "14:00")]}
    assert saved.on_timeout == "back_to_ai" and saved.accept_timeout_minutes == 10
    assert saved.offline_message_en == "We are away. Leave your e-mail, please."
    assert saved.offline_message_ru == HandoffPolicy().offline_message_ru

    # A new tab (fresh page state, loaded from the database) shows the stored policy.
    page = await page.context.new_page()
    await page.emulate_media(color_scheme="light")
    await page.goto("/handoff")
    await expect(page.locator("#timezone")).to_have_value("Europe/Moscow")
    await expect(page.locator("#on_low_confidence")).not_to_be_checked()
    await expect(page.locator("#on_no_answer")).to_be_checked()
    await expect(page.locator("#always_open")).not_to_be_checked()
    await expect(page.locator("#keywords")).to_have_value("refund\nlawyer")
    await expect(page.locator("#hours_0")).to_have_value("09:00-13:00, 14:00-18:00")
    await expect(page.locator("#hours_1")).to_have_value("")
    await expect(page.locator("#hours_5")).to_have_value("10:00-14:00")
    await expect(page.locator("#failed_answers_threshold")).to_have_value("3")
    await expect(page.locator("#accept_timeout_minutes")).to_have_value("10")
    await expect(page.get_by_role("radio", name="Hand the conversation back to the AI")
                 ).to_be_checked()
    await _snap(page, "saved-light")
    await page.emulate_media(color_scheme="dark")
    await _snap(page, "saved-dark")
    await page.emulate_media(color_scheme="light")

    # The other assistant keeps its own (default) policy, shown when chosen.
    await page.locator("#handoff-assistant").click()
    await page.get_by_role("option", name="Sales bot").click()
    await expect(page.locator("#timezone")).to_have_value("UTC")
    await expect(page.locator("#keywords")).to_have_value("")
    await expect(page.locator("#on_low_confidence")).to_be_checked()
    assert await get_policy(workspace_id, other_id) == HandoffPolicy()


async def test_invalid_values_show_the_services_message_and_save_nothing(
    clean: None, new_context: Any
) -> None:
    page, workspace_id, assistant_id = await _admin_on_handoff_page(new_context)

    await page.fill("#keywords", "refund")
    await page.fill("#timezone", "Mars/Olympus_Mons")
    await page.click("#handoff-save")
    await expect(page.locator("#form-error")).to_have_text(BAD_ZONE)
    # What the admin typed stays in the form, to be corrected.
    await expect(page.locator("#timezone")).to_have_value("Mars/Olympus_Mons")
    await expect(page.locator("#keywords")).to_have_value("refund")
    await _snap(page, "error-light")
    await page.emulate_media(color_scheme="dark")
    await _snap(page, "error-dark")
    await page.emulate_media(color_scheme="light")

    # Closing on every day is refused too; a fixed value then saves.
    await page.fill("#timezone", "Europe/Moscow")
    await page.locator("#always_open").click()
    await page.click("#handoff-save")
    await expect(page.locator("#form-error")).to_contain_text(
        "Add opening hours for at least one day")
    await page.fill("#hours_2", "25:00-26:00")
    await page.click("#handoff-save")
    await expect(page.locator("#form-error")).to_have_text("Write times as HH:MM, e.g. 09:00.")

    assert await get_policy(workspace_id, assistant_id) == HandoffPolicy()

    await page.fill("#hours_2", "9:00-17:30")
    await page.click("#handoff-save")
    await expect(page.get_by_text("Handoff policy saved.")).to_be_visible()
    await expect(page.locator("#form-error")).to_have_count(0)
    await expect(page.locator("#hours_2")).to_have_value("09:00-17:30")
    saved = await get_policy(workspace_id, assistant_id)
    assert saved.keywords == ["refund"]
    assert saved.business_hours.days == {2: [("09:00", "17:30")]}


async def test_operator_cannot_open_the_handoff_page_or_save_through_a_crafted_event(
    clean: None, new_context: Any
) -> None:
    _, workspace_id = await make_workspace_owner()
    assistant_id = await create_assistant(workspace_id, "Help desk")
    await update_policy(await owner_principal(workspace_id), assistant_id,
                        HandoffPolicy(keywords=["internal-escalation-word"]))
    operator = await add_member(workspace_id, Role.OPERATOR, "operator")

    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, operator)
    assert "Handoff" not in await nav_labels(page)
    await page.goto("/handoff")
    await page.wait_for_url(at("/dashboard"))
    await expect(page.locator("#page-title")).to_have_text("Overview")
    await expect(page.get_by_text("That page needs the admin role.").first).to_be_visible()

    # A real event from this browser, to copy the wire format from.
    await page.goto("/settings")
    await expect(page.locator("#name")).to_have_value("Operator")
    await save_profile(page)
    await expect(page.get_by_text("Profile saved.")).to_be_visible()
    real = tap.real_event_frame("save_profile")

    payload = _form_payload(assistant_id, enabled="", keywords="")
    reply = await tap.wait_for_reply(NEEDS_ADMIN, after=tap.send(
        tap.craft(real, SAVE, {"form": payload})))
    assert "Handoff policy saved." not in reply
    await tap.wait_for_reply(NEEDS_ADMIN, after=tap.send(
        tap.craft(real, CHOOSE, {"value": str(assistant_id)})))

    kept = await get_policy(workspace_id, assistant_id)
    assert kept.enabled is True and kept.keywords == ["internal-escalation-word"]
    assert not [f for f in tap.server_frames if "internal-escalation-word" in f]


async def test_admin_cannot_read_or_change_another_workspaces_policy_by_crafted_events(
    clean: None, new_context: Any
) -> None:
    page, workspace_a, assistant_a = await _admin_on_handoff_page(new_context, "alpha")
    _, workspace_b = await make_workspace_owner("bravo")
    assistant_b = await create_assistant(workspace_b, "Bravo bot")
    b_policy = await update_policy(await owner_principal(workspace_b), assistant_b,
                                   HandoffPolicy(keywords=["bravo-secret-keyword"]))

    tap = await SocketTap().install(page)
    await page.reload()
    await expect(page.locator("#timezone")).to_have_value("UTC")

    # A saves their own policy for real, to copy the wire format from.
    await page.fill("#keywords", "alpha-word")
    await page.click("#handoff-save")
    await expect(page.get_by_text("Handoff policy saved.")).to_be_visible()
    real = tap.real_event_frame("save")
    assert SAVE in [e["name"] for e in tap.sent_events()]

    # Reading B's policy: refused, and the page still shows A's.
    mark = tap.send(tap.craft(real, CHOOSE, {"value": str(assistant_b)}))
    await tap.wait_for_reply("Assistant not found.", after=mark)
    await expect(page.get_by_text("Assistant not found.").first).to_be_visible()
    await expect(page.locator("#keywords")).to_have_value("alpha-word")

    # Writing B's policy: refused, B's policy unchanged.
    mark = tap.send(tap.craft(real, SAVE, {"form": _form_payload(
        assistant_b, enabled="", keywords="hijacked")}))
    await tap.wait_for_reply("Assistant not found.", after=mark)
    assert await get_policy(workspace_b, assistant_b) == b_policy
    assert not [f for f in tap.server_frames if "bravo-secret-keyword" in f]

    # The same crafted save with A's own id does save: the probe can fail.
    mark = tap.send(tap.craft(real, SAVE, {"form": _form_payload(
        assistant_a, keywords="crafted-but-mine")}))
    await tap.wait_for_reply("Handoff policy saved.", after=mark)
    assert (await get_policy(workspace_a, assistant_a)).keywords == ["crafted-but-mine"]
    await expect(page.locator("#keywords")).to_have_value("crafted-but-mine")
