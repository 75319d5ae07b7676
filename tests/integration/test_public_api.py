"""The public REST API over real HTTP with workspace API keys: shown once, stored hashed,
scoped, walled off per workspace, rate limited, revocable; the ingestion API indexes a
document that then answers a visitor; dialogs are read, exported and answered; contacts
listed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from sqlmodel import select

from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, PermissionDenied, ValidationFailed
from backend_services.core.settings import reset_settings_cache
from backend_services.identity import team, workspace_admin
from backend_services.integrations import api_keys
from backend_services.knowledge import ingest
from backend_services.models import ApiKey, AuditLog, Role
from replyx_app.api import build_api
from replyx_app.middleware import SecurityAndMetrics
from tests.integration.conversation_helpers import Shop, ask, member, shop, visitor
from tests.support.api_server import serve

DOC = b"""# Returns

## Deadline

Unworn shoes can be returned within 45 days. Send them with the prepaid label from the box.
"""


@pytest_asyncio.fixture
async def api(clean: None, env: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    env.setenv("REPLYX_API_REQUESTS_PER_MINUTE", "40")
    reset_settings_cache()
    async with (serve(SecurityAndMetrics(build_api())) as url,
                httpx.AsyncClient(base_url=url) as client):
        yield client


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _key(s: Shop, *scopes: str) -> str:
    return (await api_keys.create_key(s.owner, "CRM sync", list(scopes))).token


async def test_a_key_is_shown_once_stored_hashed_and_reads_only_its_workspace(
    api: httpx.AsyncClient,
) -> None:
    a, b = await shop("a"), await shop("b")
    token = await _key(a, "read")
    assert token.startswith("rxk_")
    async with session_scope() as session:
        stored = (await session.exec(select(ApiKey))).one()
    assert token not in (stored.secret_hash, stored.prefix) and len(stored.secret_hash) == 64
    listed = await api_keys.list_keys(a.owner)
    assert [k.prefix for k in listed] == [f"rxk_{stored.prefix}"]
    assert token not in str(listed)

    r = await api.get("/api/v1/assistants", headers=_auth(token))
    assert r.status_code == 200, r.text
    assert [x["name"] for x in r.json()] == ["Bot a"]
    # B's objects do not exist for A's key: 404, as for an id that was never made.
    assert b.bot.id is not None and a.bot.id is not None
    for path in (f"/api/v1/assistants/{b.bot.id}", f"/api/v1/assistants/{b.bot.id}/documents",
                 f"/api/v1/assistants/{b.bot.id}/qa"):
        assert (await api.get(path, headers=_auth(token))).status_code == 404, path
    _, _ = await ask(b.visitor, "Hello, is anyone there?", "b1")
    b_dialogs = (await api.get("/api/v1/dialogs", headers=_auth(await _key(b, "read")))).json()
    assert len(b_dialogs) == 1
    for path in (f"/api/v1/dialogs/{b_dialogs[0]['id']}",
                 f"/api/v1/dialogs/{b_dialogs[0]['id']}/export",
                 f"/api/v1/contacts/{b_dialogs[0]['contact_id']}"):
        assert (await api.get(path, headers=_auth(token))).status_code == 404, path
    assert (await api.get("/api/v1/dialogs", headers=_auth(token))).json() == []

    # Outside its scope: 403, and nothing changed.
    r = await api.post(f"/api/v1/assistants/{a.bot.id}/qa", headers=_auth(token),
                       json={"question": "Q?", "answer": "A."})
    assert r.status_code == 403 and "knowledge" in r.json()["detail"]
    r = await api.delete(f"/api/v1/assistants/{a.bot.id}", headers=_auth(token))
    assert r.status_code == 403
    assert (await api.get(f"/api/v1/assistants/{a.bot.id}/qa",
                          headers=_auth(token))).json() == []

    # Wrong, mangled or missing tokens: 401 with one message.
    for bad in (token[:-2] + "zz", "rxk_nope", token.replace("rxk_", "rxx_"),
                "rxk_" + "a" * 12 + "_" + "b" * 43):
        r = await api.get("/api/v1/assistants", headers=_auth(bad))
        assert r.status_code == 401, bad
    assert (await api.get("/api/v1/assistants")).status_code == 401  # no key, no session
    key_id = listed[0].id
    await api_keys.revoke_key(a.owner, key_id)
    assert (await api.get("/api/v1/assistants", headers=_auth(token))).status_code == 401
    [revoked] = await api_keys.list_keys(a.owner)
    assert revoked.revoked and revoked.last_used_at is not None


async def test_keys_are_admin_work_die_with_their_maker_and_are_audited(
    api: httpx.AsyncClient,
) -> None:
    a = await shop("a")
    with pytest.raises(PermissionDenied):
        await api_keys.create_key(a.anna, "mine", ["read"])
    with pytest.raises(ValidationFailed):
        await api_keys.create_key(a.owner, "none", [])
    with pytest.raises(ValidationFailed):
        await api_keys.create_key(a.owner, "odd", ["read", "admin"])
    b = await shop("b")
    b_key = await _key(b, "read")
    with pytest.raises(NotFound):
        await api_keys.revoke_key(a.owner, (await api_keys.list_keys(b.owner))[0].id)
    assert (await api.get("/api/v1/assistants", headers=_auth(b_key))).status_code == 200

    # A key made by an admin stops working when that admin is no longer one.
    admin = await member(a.owner.workspace_id, "ada@example.com", "Ada", role=Role.ADMIN)
    token = (await api_keys.create_key(admin, "Ada's script", ["read"])).token
    assert (await api.get("/api/v1/assistants", headers=_auth(token))).status_code == 200
    ada = next(m for m in await team.list_members(a.owner) if m.email == "ada@example.com")
    await team.remove_member(a.owner, ada.membership_id)
    assert (await api.get("/api/v1/assistants", headers=_auth(token))).status_code == 401

    # A blocked workspace's keys are refused too.
    owner_token = await _key(a, "read")
    root = await shop("root", platform_admin=True)
    await workspace_admin.set_blocked(root.owner, a.owner.workspace_id, True, "Abuse")
    assert (await api.get("/api/v1/assistants", headers=_auth(owner_token))).status_code == 401
    async with session_scope() as session:
        actions = [r.action for r in (await session.exec(
            select(AuditLog)
            .where(AuditLog.workspace_id == a.owner.workspace_id))).all()]
    assert actions.count("api_key_created") == 2


async def test_the_ingestion_api_indexes_a_document_that_then_answers(
    api: httpx.AsyncClient,
) -> None:
    s = await shop("a")
    token = await _key(s, "read", "knowledge")
    r = await api.post(f"/api/v1/assistants/{s.bot.id}/documents", headers=_auth(token),
                       files={"file": ("returns.md", DOC, "text/markdown")})
    assert r.status_code == 202, r.text
    doc = r.json()
    assert doc["status"] == "queued" and doc["title"] == "returns.md"
    # The jobs process indexes it (the same function its queue runs); the API reports it.
    assert await ingest.run_ingestion(doc["id"]) == "ready"
    status = (await api.get(f"/api/v1/documents/{doc['id']}", headers=_auth(token))).json()
    assert status["status"] == "ready" and status["chunk_count"] >= 1
    _, reply = await ask(s.visitor, "How many days do I have to return unworn shoes?", "q1")
    assert reply is not None and "45 days" in reply.content

    # A Q&A pair and a URL the same way; a bad URL is a clear 422 and stores nothing.
    r = await api.post(f"/api/v1/assistants/{s.bot.id}/qa", headers=_auth(token),
                       json={"question": "Do you ship to Norway?", "answer": "Yes, in 5 days."})
    assert r.status_code == 201
    r = await api.post(f"/api/v1/assistants/{s.bot.id}/urls", headers=_auth(token),
                       json={"url": "ftp://example.com/x"})
    assert r.status_code == 422 and r.json()["detail"]
    docs = (await api.get(f"/api/v1/assistants/{s.bot.id}/documents",
                          headers=_auth(token))).json()
    assert [d["id"] for d in docs] == [doc["id"]]
    assert (await api.delete(f"/api/v1/documents/{doc['id']}",
                             headers=_auth(token))).status_code == 204
    assert (await api.get(f"/api/v1/documents/{doc['id']}",
                          headers=_auth(token))).status_code == 404


async def test_dialogs_are_read_exported_answered_and_closed_through_the_api(
    api: httpx.AsyncClient,
) -> None:
    s = await shop("a")
    reader, writer = await _key(s, "read"), await _key(s, "read", "write")
    dialog_id, _ = await ask(s.visitor, "I want to talk to a person", "v1")
    listed = (await api.get("/api/v1/dialogs?status=requested", headers=_auth(reader))).json()
    assert [d["id"] for d in listed] == [dialog_id]
    whole = (await api.get(f"/api/v1/dialogs/{dialog_id}", headers=_auth(reader))).json()
    assert whole["messages"][0]["sender"] == "visitor"
    assert whole["messages"][0]["content"] == "I want to talk to a person"

    body = {"text": "Hi, this is Olga from the CRM.", "client_id": "crm-1"}
    assert (await api.post(f"/api/v1/dialogs/{dialog_id}/messages", headers=_auth(reader),
                           json=body)).status_code == 403
    sent = await api.post(f"/api/v1/dialogs/{dialog_id}/messages", headers=_auth(writer),
                          json=body)
    assert sent.status_code == 201, sent.text
    again = await api.post(f"/api/v1/dialogs/{dialog_id}/messages", headers=_auth(writer),
                           json=body)  # a retry: the same message, not a second one
    assert again.json()["id"] == sent.json()["id"]
    text = await api.get(f"/api/v1/dialogs/{dialog_id}/export?format=text",
                         headers=_auth(reader))
    assert text.status_code == 200 and "attachment" in text.headers["content-disposition"]
    assert "Visitor: I want to talk to a person" in text.text
    assert text.text.count("Hi, this is Olga from the CRM.") == 1

    closed = await api.post(f"/api/v1/dialogs/{dialog_id}/close", headers=_auth(writer),
                            json={"reason": "solved in CRM"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    contacts = (await api.get("/api/v1/contacts", headers=_auth(reader))).json()
    assert [(c["id"], c["dialogs"]) for c in contacts] == [(s.visitor.contact_id, 1)]
    other = await visitor(s.bot, "second")
    await ask(other, "Hello", "x1")
    page = (await api.get("/api/v1/contacts?limit=1", headers=_auth(reader))).json()
    rest = (await api.get(f"/api/v1/contacts?limit=1&before_id={page[0]['id']}",
                          headers=_auth(reader))).json()
    assert {page[0]["id"], rest[0]["id"]} == {s.visitor.contact_id, other.contact_id}


async def test_a_key_past_its_rate_limit_gets_429_with_retry_after(
    api: httpx.AsyncClient,
) -> None:
    s = await shop("a")
    token = await _key(s, "read")
    codes = [(await api.get("/api/v1/assistants", headers=_auth(token))).status_code
             for _ in range(41)]
    assert codes[:40] == [200] * 40 and codes[40] == 429
    r = await api.get("/api/v1/assistants", headers=_auth(token))
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # Another key of the same workspace has its own allowance.
    assert (await api.get("/api/v1/assistants",
                          headers=_auth(await _key(s, "read")))).status_code == 200
