"""The last line of defence: text that never passed an edge check (a Telegram update, an
extracted document, a service called by the fleet or the jobs) still cannot fail a query
with a NUL character or an unpaired surrogate; it is stored with U+FFFD in their place."""

from __future__ import annotations

from sqlalchemy import text

from backend_services.assistants import service as assistants
from backend_services.assistants.service import AssistantInput
from backend_services.core.db import get_engine
from backend_services.core.text_safety import BAD_CHARACTERS, clean_text, text_problem
from backend_services.identity import auth

PW = "Correct-horse-9"


async def _owner() -> object:
    await auth.signup(email="o@example.com", password=PW, name="O", workspace_name="W")
    await auth.create_user(email="o@example.com", password=PW, name="O", workspace_id=None)
    return (await auth.login(email="o@example.com", password=PW)).principal


async def test_nul_and_lone_surrogates_reach_postgresql_as_replacement_characters(
    clean: None,
) -> None:
    owner = await _owner()
    made = await assistants.create_assistant(owner, AssistantInput(  # type: ignore[arg-type]
        name="Help\x00desk", greeting="Hi \ud800 there",
        fallback_models=("gpt\x00x", "m\udfff")))
    assert made.id is not None
    async with get_engine().connect() as conn:
        row = (await conn.execute(
            text("SELECT name, greeting, fallback_models FROM assistants WHERE id = :id"),
            {"id": made.id})).one()
        # A lookup by the raw text finds the stored row: the same cleaning applies.
        found = (await conn.execute(text("SELECT count(*) FROM assistants WHERE name = :n"),
                                    {"n": "Help\x00desk"})).scalar_one()
    assert row.name == "Help\ufffddesk"
    assert row.greeting == "Hi \ufffd there"
    assert row.fallback_models == ["gpt\ufffdx", "m\ufffd"]
    assert found == 1


async def test_clean_text_keeps_ordinary_text_and_valid_pairs_intact(clean: None) -> None:
    assert clean_text("Привет 👋 \t\n") == "Привет 👋 \t\n"
    assert text_problem("Привет 👋", 100) is None
    assert text_problem("a\x00b", 100) == BAD_CHARACTERS
    assert text_problem("\ud83d", 100) == BAD_CHARACTERS
    assert text_problem("x" * 101, 100) is not None
