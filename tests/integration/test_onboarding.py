"""The Overview's checklist ticks each step as the tenant takes it — and only its own
workspace's steps — and only admins hide it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from backend_services.channels.telegram import bots
from backend_services.core.errors import PermissionDenied
from backend_services.core.principal import Principal
from backend_services.identity import auth, team
from backend_services.knowledge import sources
from backend_services.models import Role
from backend_services.onboarding import checklist
from backend_services.widget import settings as widget
from backend_services.widget.settings import WidgetInput
from tests.integration.conversation_helpers import PW, assistant, member, owner, visitor
from tests.support.smtp_server import SmtpTestServer
from tests.support.telegram_server import TelegramTestServer, serving

TOKEN = "7001001001:AAHfLq9x2Ck3vYw8PzR4mTn6sBd1eUgJ0aQ"


@pytest.fixture
async def telegram(clean: None, env: pytest.MonkeyPatch) -> AsyncIterator[TelegramTestServer]:
    async with serving(env, {TOKEN: "shop_help_bot"}) as server:
        yield server


async def _done(p: Principal) -> list[str]:
    found = await checklist.checklist(p)
    return [s.name for s in found.steps if s.done]


async def test_each_step_ticks_when_taken_and_only_in_its_own_workspace(
    telegram: TelegramTestServer, smtp: SmtpTestServer,
) -> None:
    p = await owner("owner@example.com", "Shop")
    other = await owner("rival@example.com", "Rival")
    assert await _done(p) == []
    first = await checklist.checklist(p)
    assert (first.done, len(first.steps), first.complete) == (0, 7, False)

    bot = await assistant(p)
    assert bot.id is not None
    await sources.save_qa(p, bot.id, None, "Do you ship to Norway?", "Yes, in five days.")
    await checklist.reach(p, checklist.TEST_CHAT)
    await widget.update_settings(p, bot.id, WidgetInput(allowed_origins=("https://shop.example",)))
    await visitor(bot, "visitor-1")
    await bots.add_bot(p, bot.id, TOKEN)
    await team.invite(p, "anna@example.com", Role.OPERATOR)
    assert await _done(p) == [name for name, _ in checklist.STEPS]
    assert (await checklist.checklist(p)).complete
    await checklist.reach(p, checklist.TEST_CHAT)  # a second time changes nothing

    # None of it is the rival's.
    assert await _done(other) == []

    boris = await member(p.workspace_id, "boris@example.com", "Boris")
    with pytest.raises(PermissionDenied):
        await checklist.hide(boris)
    assert not (await checklist.checklist(p)).hidden
    await checklist.hide(p)
    assert (await checklist.checklist(p)).hidden
    assert not (await checklist.checklist(other)).hidden


async def test_welcome_back_only_after_an_earlier_sign_in(clean: None) -> None:
    p = await owner("new@example.com", "New")
    assert not await checklist.signed_in_before(p)
    again = (await auth.login(email="new@example.com", password=PW)).principal
    assert await checklist.signed_in_before(again)
