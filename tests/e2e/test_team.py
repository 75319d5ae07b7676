"""Team: inviting an operator through a real mail, and changing one's own password."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import expect

from tests.e2e.helpers import (
    PASSWORD,
    make_workspace_owner,
    nav_labels,
    path_of,
    sign_in,
    unique_email,
)


async def test_owner_invites_an_operator_who_accepts_and_signs_in(
    clean: None, new_context: Any, smtp: Any
) -> None:
    owner, _ = await make_workspace_owner("boss")
    invitee = unique_email("newbie")
    page = await (await new_context()).new_page()
    await sign_in(page, owner)
    await page.goto("/team")
    await expect(page.locator("#page-title")).to_have_text("Team")
    await expect(page.locator(".member-row")).to_have_count(1)

    await page.fill("#invite-email", invitee)
    await page.click("#invite-submit")
    await expect(page.get_by_text(f"Invitation sent to {invitee}.")).to_be_visible()
    await expect(page.locator("#invite-email")).to_have_value("")
    pending = page.get_by_role("row").filter(has_text=invitee)
    await expect(pending).to_contain_text("operator")
    await expect(page.locator("#form-error")).to_have_count(0)

    mail = await asyncio.to_thread(smtp.wait_for, invitee, "You are invited to")
    assert "as operator" in mail.text
    guest = await (await new_context()).new_page()
    await guest.goto(path_of(mail.link("/invite")))
    await expect(guest.get_by_text("You are invited to")).to_contain_text("boss workspace")
    await expect(guest.get_by_text("You are invited to")).to_contain_text("operator")
    await guest.fill("#name", "Nina Newbie")
    await guest.fill("#password", PASSWORD)
    await guest.click("#invite-accept")
    await expect(guest.locator("#invite-done")).to_contain_text("You joined the workspace.")

    await sign_in(guest, invitee)
    await expect(guest.locator("#overview-greeting")).to_have_text("Welcome, Nina Newbie.")
    labels = await nav_labels(guest)
    assert "Team" not in labels and "Assistants" not in labels, labels
    await guest.click("#user-menu")
    await expect(guest.get_by_role("menuitem").filter(has_text="Role:")).to_contain_text(
        "operator")

    # The owner's team page now lists the new member as an operator; no invitation pending.
    await page.reload()
    member = page.locator(".member-row").filter(has_text=invitee)
    await expect(member).to_contain_text("Nina Newbie")
    await expect(member.get_by_role("combobox")).to_have_text("operator")
    await expect(page.locator(".member-row")).to_have_count(2)
    await expect(page.get_by_text("Pending invitations")).to_have_count(0)


async def test_settings_change_password(clean: None, new_context: Any) -> None:
    email, _ = await make_workspace_owner("mover")
    new_password = "Moved-on-2024!"
    page = await (await new_context()).new_page()
    await sign_in(page, email)
    await page.goto("/settings")
    await expect(page.locator("#page-title")).to_have_text("Settings")
    await expect(page.locator("#name")).to_have_value("Mover")

    # A wrong current password is refused with a message, and nothing changes.
    await page.fill("#current_password", "Not-my-password-1")
    await page.fill("#new_password", new_password)
    await page.fill("#new_password2", new_password)
    await page.click("#change-password")
    await expect(page.locator("#form-error")).to_have_text("The current password is not right.")

    # The right one works: a confirmation and the form is cleared.
    await page.fill("#current_password", PASSWORD)
    await page.fill("#new_password", new_password)
    await page.fill("#new_password2", new_password)
    await page.click("#change-password")
    await expect(page.get_by_text("Password changed.")).to_be_visible()
    await expect(page.locator("#form-error")).to_have_count(0)
    await expect(page.locator("#current_password")).to_have_value("")

    # The new password signs in elsewhere; the old one no longer does.
    fresh = await (await new_context()).new_page()
    await sign_in(fresh, email, new_password)
    other = await (await new_context()).new_page()
    await other.goto("/login")
    await other.fill("#email", email)
    await other.fill("#password", PASSWORD)
    await other.click("#login-submit")
    await expect(other.locator("#form-error")).to_contain_text("Wrong e-mail or password.")
