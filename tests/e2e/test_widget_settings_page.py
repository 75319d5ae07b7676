"""The Widget tab: a tenant admin styles the widget with a live preview, lists the websites
it may load on, saves, and copies the snippet; nobody else can read or change it."""

from __future__ import annotations

import os
from typing import Any

from playwright.async_api import expect

from backend_services.assistants import service as assistants
from backend_services.models import Role
from backend_services.widget import settings as widget
from state.widget_settings import WidgetSettingsState
from tests.e2e.helpers import (
    SocketTap,
    add_member,
    at,
    create_assistant,
    make_workspace_owner,
    owner_principal,
    save_profile,
    sign_in,
)

SAVE = WidgetSettingsState.get_full_name() + ".save"
CHOOSE = WidgetSettingsState.get_full_name() + ".choose_assistant"
NEEDS_ADMIN = "This needs the admin role or higher."


async def _snap(page: Any, name: str) -> None:
    if os.environ.get("E2E_SCREENSHOTS"):
        await page.screenshot(path=f"/tmp/e2e-widget-{name}.png", full_page=True)


async def _owner_on_widget_tab(new_context: Any, prefix: str = "owner") -> tuple[Any, int, int]:
    """An owner with one assistant, signed in, on the Widget tab (light mode)."""
    email, workspace_id = await make_workspace_owner(prefix)
    assistant_id = await create_assistant(workspace_id, "Help desk")
    page = await (await new_context()).new_page()
    await page.emulate_media(color_scheme="light")
    await sign_in(page, email)
    await page.goto("/widget-settings")
    await expect(page.locator("#page-title")).to_have_text("Widget")
    await expect(page.locator("#widget-snippet")).to_contain_text("data-assistant=\"wid_",
                                                                  timeout=60_000)
    return page, workspace_id, assistant_id


async def test_admin_styles_the_widget_with_a_live_preview_saves_and_copies_the_snippet(
    clean: None, new_context: Any, app_server: Any
) -> None:
    page, workspace_id, assistant_id = await _owner_on_widget_tab(new_context)
    owner = await owner_principal(workspace_id)
    public_id = (await widget.get_settings(owner, assistant_id)).public_id
    snippet = (f'<script src="{app_server.url}/widget.js" data-assistant="{public_id}" '
               'async></script>')
    await expect(page.locator("#widget-snippet")).to_have_text(snippet)
    await expect(page.locator("#widget-no-origins")).to_be_visible()  # loads nowhere yet
    await expect(page.locator("#preview-title")).to_have_text("Help desk")
    await expect(page.locator("#preview-launcher")).to_have_text("Chat with us")
    await _snap(page, "defaults-light")

    # Every change shows in the preview before anything is saved.
    await page.fill("#widget-title", "Acme help")
    await expect(page.locator("#preview-title")).to_have_text("Acme help")
    await page.fill("#widget-greeting", "Привет! Чем помочь?")
    preview = page.locator("#widget-preview")
    await expect(preview.get_by_text("Привет! Чем помочь?")).to_be_visible()
    await page.locator("#widget-language").click()
    await page.get_by_role("option", name="Русский").click()
    await expect(page.locator("#preview-launcher")).to_have_text("Напишите нам")
    await expect(preview.get_by_text("Позвать оператора")).to_be_visible()
    await page.fill("#widget-color", "#0f766e")
    launcher = page.locator("#preview-launcher").locator("..")
    await expect(launcher).to_have_css("background-color", "rgb(15, 118, 110)")
    await page.get_by_role("radio", name="Left").click()
    await expect(launcher).to_have_css("left", "16px")
    await page.fill("#widget-origins", "https://Shop.example.com/\nhttp://localhost:8080")
    assert (await widget.get_settings(owner, assistant_id)).title == "Help desk"  # a draft

    await page.click("#widget-save")
    await expect(page.get_by_text("Widget settings saved.")).to_be_visible()
    await expect(page.locator("#widget-origins")).to_have_value(
        "https://shop.example.com\nhttp://localhost:8080")  # shown as stored
    await expect(page.locator("#widget-no-origins")).to_have_count(0)
    saved = await widget.get_settings(owner, assistant_id)
    assert (saved.title, saved.language, saved.primary_color, saved.position) == (
        "Acme help", "ru", "#0f766e", "left")
    assert saved.allowed_origins == ("https://shop.example.com", "http://localhost:8080")
    assert (await assistants.get_assistant(owner, assistant_id)).greeting == "Привет! Чем помочь?"

    await page.reload()
    await expect(page.locator("#widget-title")).to_have_value("Acme help", timeout=60_000)
    await expect(page.locator("#preview-launcher")).to_have_text("Напишите нам")
    await _snap(page, "saved-light")

    await page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                         origin=app_server.url)
    await page.click("#widget-copy")
    await expect(page.get_by_text("Snippet copied.")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == snippet

    await page.emulate_media(color_scheme="dark")
    await expect(page.locator("html")).to_have_class("dark", timeout=10_000)
    await _snap(page, "saved-dark")


async def test_a_bad_origin_is_explained_and_nothing_is_saved(
    clean: None, new_context: Any
) -> None:
    page, workspace_id, assistant_id = await _owner_on_widget_tab(new_context)
    await page.fill("#widget-title", "Changed")
    await page.fill("#widget-origins", "https://shop.example.com/checkout")
    await page.click("#widget-save")
    await expect(page.locator("#form-error")).to_contain_text("is not a website origin")
    await page.fill("#widget-origins", "https://shop.example.com")
    await page.fill("#widget-color", "teal")
    await page.click("#widget-save")
    await expect(page.locator("#form-error")).to_contain_text("hex colour")
    await _snap(page, "error-light")
    saved = await widget.get_settings(await owner_principal(workspace_id), assistant_id)
    assert (saved.title, saved.allowed_origins) == ("Help desk", ())


async def test_operator_cannot_open_the_widget_tab_or_save_through_a_crafted_event(
    clean: None, new_context: Any
) -> None:
    _, workspace_id = await make_workspace_owner()
    assistant_id = await create_assistant(workspace_id, "Help desk")
    operator = await add_member(workspace_id, Role.OPERATOR, "operator")
    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, operator)
    await page.goto("/widget-settings")
    await page.wait_for_url(at("/dashboard"))
    await expect(page.get_by_text("That page needs the admin role.").first).to_be_visible()
    nav = page.locator('nav[aria-label="Main"]')
    await expect(nav.get_by_role("link", name="Widget")).to_have_count(0)

    await page.goto("/settings")
    await expect(page.locator("#name")).to_have_value("Operator")
    await save_profile(page)
    await expect(page.get_by_text("Profile saved.")).to_be_visible()
    real = tap.real_event_frame("save_profile")
    mark = tap.send(tap.craft(real, CHOOSE, {"value": str(assistant_id)}))
    await tap.wait_for_reply(NEEDS_ADMIN, after=mark)
    mark = tap.send(tap.craft(real, SAVE, {}))
    await tap.wait_for_reply(NEEDS_ADMIN, after=mark)
    saved = await widget.get_settings(await owner_principal(workspace_id), assistant_id)
    assert not [f for f in tap.server_frames if saved.public_id in f]
    assert saved.allowed_origins == ()


async def test_admin_of_another_workspace_cannot_load_or_change_its_widget(
    clean: None, new_context: Any
) -> None:
    page, _, _ = await _owner_on_widget_tab(new_context, "alpha")
    _, workspace_b = await make_workspace_owner("bravo")
    assistant_b = await create_assistant(workspace_b, "Bravo bot")
    owner_b = await owner_principal(workspace_b)
    b_public = (await widget.get_settings(owner_b, assistant_b)).public_id

    tap = await SocketTap().install(page)
    await page.reload()
    await expect(page.locator("#widget-snippet")).to_contain_text("wid_", timeout=60_000)
    await page.fill("#widget-origins", "https://alpha.example.com")
    await page.click("#widget-save")
    await expect(page.get_by_text("Widget settings saved.")).to_be_visible()
    real = tap.real_event_frame("save")

    mark = tap.send(tap.craft(real, CHOOSE, {"value": str(assistant_b)}))
    await tap.wait_for_reply("Assistant not found.", after=mark)
    # A's draft still points at A's assistant: saving again changes A's widget, not B's.
    mark = tap.send(tap.craft(real, SAVE, {}))
    await tap.wait_for_reply("Widget settings saved.", after=mark)
    b_after = await widget.get_settings(owner_b, assistant_b)
    assert b_after.allowed_origins == ()
    assert not [f for f in tap.server_frames if b_public in f or "Bravo bot" in f]
