"""Platform admins manage AI provider keys; secrets stay encrypted and out of every view."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from backend_services.ai import keys as ai_keys
from backend_services.ai.errors import AllProvidersFailed, NoUsableKeys
from backend_services.ai.pool import ChatDone, has_usable_keys, stream_chat
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, PermissionDenied, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.security import decrypt_secret
from backend_services.identity import auth
from backend_services.models import AIProviderKey, AIUsage, AuditLog, Role
from tests.support.openai_server import OpenAITestServer, Reply, ServerError, Unauthorized

PW = "Correct-horse-9"
SECRET = "sk-live-VerySecretValue-9f8e7d6c"
MESSAGES = [{"role": "user", "content": "hello there"}]


@pytest.fixture
async def admin(clean: None) -> Principal:
    await auth.signup(email="root@example.com", password=PW, name="Root", workspace_name="Ops")
    await auth.create_user(
        email="root@example.com", password=PW, name="Root", workspace_id=None, platform_admin=True
    )
    return (await auth.login(email="root@example.com", password=PW)).principal


async def _owner(admin: Principal) -> Principal:
    """A workspace owner: the highest tenant role, still not a platform admin."""
    await auth.create_user(
        email="owner@example.com",
        password=PW,
        name="Owner",
        workspace_id=admin.workspace_id,
        role=Role.OWNER,
    )
    principal = (await auth.login(email="owner@example.com", password=PW)).principal
    assert not principal.is_platform_admin and principal.role == Role.OWNER
    return principal


async def _answer(ws: int, models: list[str]) -> ChatDone:
    done: ChatDone | None = None
    async for event in stream_chat(ws, models, MESSAGES, 0.0, 64, read_timeout=1.0):
        if isinstance(event, ChatDone):
            done = event
    assert done is not None
    return done


async def test_keys_are_stored_encrypted_and_never_returned(
    admin: Principal, server: OpenAITestServer
) -> None:
    view = await ai_keys.add_key(
        admin,
        "  OpenAI main ",
        server.base_url + "/",
        SECRET,
        [" gpt-test ", "gpt-test", ""],
        60,
        90_000,
    )
    assert (view.name, view.base_url, view.models) == ("OpenAI main", server.base_url, ["gpt-test"])
    assert view.key_hint == "…" + SECRET[-4:]
    async with session_scope() as s:
        raw = (
            await s.exec(
                sa.text(  # type: ignore[call-overload]
                    "SELECT api_key_encrypted, key_hint FROM ai_provider_keys"
                )
            )
        ).one()
        whole_table = str(
            (
                await s.exec(
                    sa.text(  # type: ignore[call-overload]
                        "SELECT t::text FROM ai_provider_keys t"
                    )
                )
            ).all()
        )
    assert SECRET not in raw[0] and SECRET not in whole_table and SECRET[:12] not in whole_table
    assert decrypt_secret(raw[0]) == SECRET
    assert raw[1] == "…" + SECRET[-4:]

    [listed] = await ai_keys.list_keys(admin)
    for value in (listed, view):
        flat = repr(dataclasses.asdict(value))
        assert SECRET not in flat and "api_key" not in flat
    # and the pool decrypts it for the provider, which sees the real key
    await _answer(admin.workspace_id, ["gpt-test"])
    assert [c.key for c in server.calls()] == [SECRET]


async def test_only_platform_admins_manage_keys(admin: Principal, server: OpenAITestServer) -> None:
    owner = await _owner(admin)
    key = await ai_keys.add_key(admin, "Main", server.base_url, SECRET, [], 60, 90_000)
    with pytest.raises(PermissionDenied):
        await ai_keys.add_key(owner, "Mine", server.base_url, "sk-owner-key-123", [], 60, 1000)
    with pytest.raises(PermissionDenied):
        await ai_keys.list_keys(owner)
    with pytest.raises(PermissionDenied):
        await ai_keys.set_enabled(owner, key.id, False)
    with pytest.raises(PermissionDenied):
        await ai_keys.delete_key(owner, key.id)
    assert [k.name for k in await ai_keys.list_keys(admin)] == ["Main"]


@pytest.mark.parametrize(
    ("base_url", "api_key", "rpm", "expected"),
    [
        ("ftp://api.example.com/v1", SECRET, 60, "http:// or https://"),
        ("api.openai.com/v1", SECRET, 60, "http:// or https://"),
        ("https:///v1", SECRET, 60, "name a host"),
        ("https://user:pw@api.example.com/v1", SECRET, 60, "not in the base URL"),
        ("https://api.example.com/v1", "   ", 60, "Paste the API key"),
        ("https://api.example.com/v1", "sk with spaces", 60, "does not look like"),
        ("https://api.example.com/v1", SECRET, 0, "at least 1"),
    ],
)
async def test_key_fields_are_validated(
    admin: Principal, base_url: str, api_key: str, rpm: int, expected: str
) -> None:
    with pytest.raises(ValidationFailed, match=expected):
        await ai_keys.add_key(admin, "K", base_url, api_key, [], rpm, 1000)
    assert await ai_keys.list_keys(admin) == []


async def test_list_shows_the_last_24_hours_of_usage_per_key(
    admin: Principal, server: OpenAITestServer
) -> None:
    server.script(ServerError(503), key="sk-broken-key-1")
    server.script(Reply(prompt_tokens=40, completion_tokens=10), key="sk-working-key2")
    broken = await ai_keys.add_key(
        admin, "Broken", server.base_url, "sk-broken-key-1", [], 60, 100_000
    )
    working = await ai_keys.add_key(
        admin, "Working", server.base_url, "sk-working-key2", [], 60, 100_000
    )
    await _answer(admin.workspace_id, ["gpt-test"])
    await _answer(admin.workspace_id, ["gpt-test"])  # broken is cooling down: working only
    async with session_scope() as s:  # an old row that must not count
        s.add(
            AIUsage(
                workspace_id=admin.workspace_id,
                key_id=working.id,
                model="gpt-test",
                tokens_in=999,
                status="ok",
                created_at=datetime.now(UTC) - timedelta(hours=25),
            )
        )

    views = {v.id: v for v in await ai_keys.list_keys(admin)}
    b, w = views[broken.id], views[working.id]
    assert (b.requests_24h, b.tokens_24h, b.errors_24h) == (1, 0, 1)
    assert (w.requests_24h, w.tokens_24h, w.errors_24h) == (2, 100, 0)
    assert b.cooling_down and b.cooldown_until is not None and b.is_enabled
    assert not w.cooling_down and w.disabled_reason == ""


async def test_disable_enable_and_delete(admin: Principal, server: OpenAITestServer) -> None:
    key = await ai_keys.add_key(admin, "Main", server.base_url, SECRET, ["gpt-test"], 60, 9000)
    assert await has_usable_keys(["gpt-test"])

    await ai_keys.set_enabled(admin, key.id, False)
    [view] = await ai_keys.list_keys(admin)
    assert not view.is_enabled and "Turned off by root@example.com" in view.disabled_reason
    assert not await has_usable_keys(["gpt-test"])
    with pytest.raises(NoUsableKeys):
        await _answer(admin.workspace_id, ["gpt-test"])
    assert server.calls() == []

    async with session_scope() as s:  # as if a 429 had cooled it down just before
        row = await s.get(AIProviderKey, key.id)
        assert row is not None
        row.cooldown_until = datetime.now(UTC) + timedelta(minutes=5)
        s.add(row)
    await ai_keys.set_enabled(admin, key.id, True)
    [view] = await ai_keys.list_keys(admin)
    assert view.is_enabled and view.disabled_reason == "" and view.cooldown_until is None
    assert (await _answer(admin.workspace_id, ["gpt-test"])).key_id == key.id

    await ai_keys.delete_key(admin, key.id)
    assert await ai_keys.list_keys(admin) == []
    with pytest.raises(NotFound):
        await ai_keys.delete_key(admin, key.id)
    with pytest.raises(NotFound):
        await ai_keys.set_enabled(admin, key.id, True)
    async with session_scope() as s:  # spending history survives the key
        [usage] = (await s.exec(select(AIUsage))).all()
        actions = (await s.exec(select(AuditLog.action).order_by(col(AuditLog.id)))).all()
    assert usage.key_id is None and usage.status == "ok"
    assert [a for a in actions if a.startswith("ai_key")] == [
        "ai_key_added",
        "ai_key_disabled",
        "ai_key_enabled",
        "ai_key_deleted",
    ]


async def test_a_key_is_edited_and_rotated_in_place_audited_without_its_secret(
    admin: Principal, server: OpenAITestServer
) -> None:
    server.script(Unauthorized(), key=SECRET)
    key = await ai_keys.add_key(admin, "Main", server.base_url, SECRET, ["gpt-test"], 60, 9000)
    with pytest.raises(AllProvidersFailed):
        await _answer(admin.workspace_id, ["gpt-test"])
    [broken] = await ai_keys.list_keys(admin)
    assert broken.status == "disabled"
    assert broken.last_error.startswith("auth_error") and broken.last_error_at is not None

    new_secret = "sk-rotated-0000000000000000000000000000000000009876"
    settings = ai_keys.KeySettings("Main (EU)", server.base_url, ["gpt-test", "gpt-big"], 30,
                                   5000, priority=5, daily_token_quota=10_000,
                                   monthly_token_quota=200_000)
    await ai_keys.update_key(admin, key.id, settings, new_api_key=f"  {new_secret} ")
    [view] = await ai_keys.list_keys(admin)
    assert (view.id, view.name, view.models, view.priority) == (
        key.id, "Main (EU)", ["gpt-test", "gpt-big"], 5)
    assert (view.daily_token_quota, view.monthly_token_quota) == (10_000, 200_000)
    assert view.key_hint.endswith("9876") and view.status == "active" and view.last_error == ""
    done = await _answer(admin.workspace_id, ["gpt-test"])
    assert done.key_id == key.id
    assert server.calls()[-1].key == new_secret  # the provider now gets the new secret
    async with session_scope() as s:
        row = await s.get(AIProviderKey, key.id)
        assert row is not None and decrypt_secret(row.api_key_encrypted) == new_secret
        audit = (await s.exec(select(AuditLog).where(
            col(AuditLog.action).in_(["ai_key_updated", "ai_key_rotated"]))
            .order_by(col(AuditLog.id)))).all()
    assert [a.action for a in audit] == ["ai_key_updated", "ai_key_rotated"]
    assert audit[0].details["name"] == {"from": "Main", "to": "Main (EU)"}
    assert all(new_secret not in str(a.details) and SECRET not in str(a.details) for a in audit)

    # Editing without a new secret keeps it; bad fields change nothing.
    await ai_keys.update_key(admin, key.id, dataclasses.replace(settings, priority=7))
    with pytest.raises(ValidationFailed):
        await ai_keys.update_key(admin, key.id, dataclasses.replace(settings, priority=-1))
    with pytest.raises(ValidationFailed):
        await ai_keys.update_key(admin, key.id,
                                 dataclasses.replace(settings, daily_token_quota=-5))
    [view] = await ai_keys.list_keys(admin)
    assert view.priority == 7 and view.key_hint.endswith("9876")
    owner = await _owner(admin)
    with pytest.raises(PermissionDenied):
        await ai_keys.update_key(owner, key.id, settings, new_api_key="sk-evil-000000000001")
    with pytest.raises(NotFound):
        await ai_keys.update_key(admin, key.id + 99, settings)


async def test_provider_health_tells_status_by_key_without_names_or_secrets(
    admin: Principal, server: OpenAITestServer
) -> None:
    assert await ai_keys.provider_health() == {"ok": False, "configured": 0, "keys": []}
    good = await ai_keys.add_key(admin, "Primary", server.base_url, SECRET, [], 60, 9000)
    off = await ai_keys.add_key(admin, "Spare", server.base_url, "sk-spare-00000000001",
                                [], 60, 9000)
    await ai_keys.set_enabled(admin, off.id, False)
    health = await ai_keys.provider_health()
    assert health["ok"] and health["configured"] == 2
    assert [(k["id"], k["status"]) for k in health["keys"]] == [
        (good.id, "active"), (off.id, "disabled")]
    text = str(health)
    assert "Primary" not in text and server.base_url not in text and SECRET not in text
