"""Canned responses: admins keep a workspace's saved replies, operators pick them."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from backend_services.conversations import canned
from backend_services.core.db import session_scope
from backend_services.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from backend_services.models import AuditLog
from tests.integration.conversation_helpers import shop


async def test_admins_write_canned_responses_and_operators_find_them_by_shortcut(
    clean: None
) -> None:
    s = await shop()
    refund = await canned.create_canned(s.owner, "/Refund", "Refund policy",
                                        "Refunds take up to 14 days.")
    await canned.create_canned(s.owner, "возврат", "Возврат", "Возврат — до 14 дней.")
    await canned.create_canned(s.owner, "hello", "Greeting", "<b>Hi!</b> How can I help?")

    assert refund.shortcut == "refund"
    assert [c.shortcut for c in await canned.list_canned(s.anna)] == [
        "hello", "refund", "возврат"]
    assert [c.shortcut for c in await canned.list_canned(s.anna, "/ref")] == ["refund"]
    assert [c.shortcut for c in await canned.list_canned(s.anna, "greet")] == ["hello"]
    assert (await canned.list_canned(s.anna, "hello"))[0].body == "<b>Hi!</b> How can I help?"

    with pytest.raises(Conflict, match="already exists"):
        await canned.create_canned(s.owner, "REFUND", "again", "dup")
    updated = await canned.update_canned(s.owner, refund.id, "refunds", "Refunds", "14 days.")
    assert (updated.shortcut, updated.body) == ("refunds", "14 days.")
    await canned.delete_canned(s.owner, refund.id)
    assert [c.shortcut for c in await canned.list_canned(s.anna)] == ["hello", "возврат"]
    async with session_scope() as ss:
        actions = [a.action for a in await ss.exec(
            select(AuditLog).where(col(AuditLog.action).startswith("canned_"))
            .order_by(col(AuditLog.id)))]
    assert actions == ["canned_created"] * 3 + ["canned_updated", "canned_deleted"]


async def test_canned_responses_are_validated_and_walled_per_workspace(clean: None) -> None:
    s = await shop()
    other = await shop("b")
    mine = await canned.create_canned(s.owner, "hi", "", "Hello!")
    for shortcut, body, message in (("", "x", "shortcut"), ("two words", "x", "shortcut"),
                                    ("x" * 33, "x", "shortcut"), ("ok", "   ", "reply text"),
                                    ("ok", "x" * 4001, "too long")):
        with pytest.raises(ValidationFailed, match=message):
            await canned.create_canned(s.owner, shortcut, "", body)
    with pytest.raises(PermissionDenied):
        await canned.create_canned(s.anna, "mine", "", "operators cannot write")
    with pytest.raises(NotFound):
        await canned.update_canned(other.owner, mine.id, "hi", "", "hijacked")
    with pytest.raises(NotFound):
        await canned.delete_canned(other.owner, mine.id)
    assert await canned.list_canned(other.anna) == []
    # The same shortcut is free in another workspace.
    assert (await canned.create_canned(other.owner, "hi", "", "Hallo!")).body == "Hallo!"
