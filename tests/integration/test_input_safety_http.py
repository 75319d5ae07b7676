"""Crafted input over real HTTP, against every REST route: a clear 4xx, nothing stored.

The routes are enumerated from the API itself, so a new route is swept without editing
this file (a new route reading a raw JSON body must say what it reads in RAW_BODIES). Each
case puts one bad value — a NUL character, an unpaired surrogate, 2^31, 2^63 or a value of
the wrong type — in one path parameter, query parameter or body field of an otherwise
valid, signed-in request.
"""

from __future__ import annotations

import asyncio
import json
import socket
import typing
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
import uvicorn
from fastapi.routing import iter_route_contexts

from backend_services.assistants import service as assistants
from backend_services.assistants.service import AssistantInput
from backend_services.core.settings import get_settings
from backend_services.identity import auth
from replyx_app.api import build_api
from replyx_app.middleware import SecurityAndMetrics
from state.cookies import SESSION_COOKIE
from tests.support.db_fingerprint import database_fingerprint

PW = "Correct-horse-9"
NUL, SURROGATE = "a\x00b", "\ud800"
BIG, HUGE = 2**31, 2**63

# Routes whose endpoint reads the JSON body itself (no declared body model): the keys it
# reads, with valid values.
RAW_BODIES: dict[str, dict[str, Any]] = {
    "/api/widget/session": {"widget": "wid_x", "visitor_id": "v" * 20, "visitor_sig": "s"},
    "/api/telegram/webhook/{channel_id}": {"update_id": 1,
                                           "message": {"text": "hi", "chat": {"id": 1}}},
    # A T-Bank notification's keys (no gateway is configured here: refused before storing).
    "/api/payments/{gateway}/notify": {"TerminalKey": "t", "OrderId": "o", "Status": "NEW",
                                       "PaymentId": 1, "Amount": 100, "Token": "x"},
}
# Routes that read no body at all, or a multipart one (only their query is swept).
NO_BODY = {"/api/auth/logout", "/api/v1/assistants/{assistant_id}/documents"}
# A valid JSON body per route with a declared body model (the assistants' by default).
VALID_BODIES: dict[str, dict[str, Any]] = {
    "/api/v1/assistants/{assistant_id}/urls": {"url": "https://example.com/help"},
    "/api/v1/assistants/{assistant_id}/qa": {"question": "Open?", "answer": "Yes."},
    "/api/v1/documents/{document_id}/refresh": {"hours": 24},
    "/api/v1/dialogs/{dialog_id}/messages": {"text": "Hello", "client_id": "c1"},
    "/api/v1/dialogs/{dialog_id}/close": {"reason": ""},
}
# FastAPI's own documentation routes take no input and store nothing.
SKIPPED = {"/api/openapi.json", "/api/docs", "/api/docs/oauth2-redirect"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest_asyncio.fixture
async def api_url(services: dict[str, str]) -> AsyncIterator[str]:
    port = _port()
    config = uvicorn.Config(SecurityAndMetrics(build_api()), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)  # poll: uvicorn sets `started` once it listens
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@dataclass(frozen=True)
class Case:
    method: str
    route: str
    where: str
    value: Any

    def __str__(self) -> str:
        return f"{self.method} {self.route} {self.where}={self.value!r}"


def _wrong_type(annotation: Any) -> Any:
    """A JSON value that is not of the annotated type."""
    base = typing.get_origin(annotation) or annotation
    return {str: [1], int: "abc", float: "abc", bool: "maybe", list: "x", dict: "x"}.get(
        base, [1])


def _routes() -> list[Any]:
    routes = [r for r in iter_route_contexts(build_api().routes)
              if getattr(r, "dependant", None) is not None]
    paths = {r.path for r in routes}
    assert "/api/v1/assistants/{assistant_id}" in paths  # the enumeration sees included routers
    return routes


def _cases() -> list[Case]:
    cases: list[Case] = []
    for route in _routes():
        if route.path in SKIPPED:
            continue
        dependant = route.dependant
        for method in sorted(route.methods or ()):
            # In a URL a number is only wrong where a number is declared ("2147483648" is
            # a fine unknown login ticket); a NUL is wrong everywhere.
            for kind, fields in (("path", dependant.path_params),
                                 ("query", dependant.query_params)):
                for field in fields:
                    ann = field.field_info.annotation
                    values = [NUL, BIG, HUGE, _wrong_type(ann)] if ann is int else [NUL]
                    cases += [Case(method, route.path, f"{kind}:{field.alias}", v)
                              for v in values]
            cases.append(Case(method, route.path, "query:unexpected", NUL))
            if method in ("GET", "HEAD", "DELETE") or route.path in NO_BODY:
                continue
            body_fields: dict[str, Any] = {}
            for param in dependant.body_params:
                model = param.field_info.annotation
                body_fields.update({n: f.annotation for n, f in model.model_fields.items()})
            if not body_fields:
                assert route.path in RAW_BODIES, (
                    f"{method} {route.path}: say in RAW_BODIES which JSON keys it reads")
                body_fields = {k: Any for k in RAW_BODIES[route.path]}
            for name, ann in body_fields.items():
                for value in (NUL, SURROGATE, BIG, HUGE, _wrong_type(ann)):
                    cases.append(Case(method, route.path, f"body:{name}", value))
            cases.append(Case(method, route.path, "body", [1, 2]))
    return cases


CASES = _cases()


def _valid_body(route: str) -> dict[str, Any]:
    if route in RAW_BODIES:
        return json.loads(json.dumps(RAW_BODIES[route]))
    # By default the assistants body: every other field of it has a default.
    return dict(VALID_BODIES.get(route, {"name": "Unchanged"}))


@pytest.fixture(scope="module")
def sweep_results() -> dict[str, Any]:
    return {}


async def _signed_in_owner() -> tuple[str, int]:
    await auth.signup(email="o@example.com", password=PW, name="O", workspace_name="W")
    await auth.create_user(email="o@example.com", password=PW, name="O", workspace_id=None)
    login = await auth.login(email="o@example.com", password=PW)
    made = await assistants.create_assistant(login.principal, AssistantInput(name="Kept"))
    assert made.id is not None
    return login.session_id, made.id


def _request(case: Case, assistant_id: int) -> dict[str, Any]:
    kind, _, name = case.where.partition(":")
    path_values = {"assistant_id": str(assistant_id), "channel_id": "1", "gateway": "tinkoff",
                   "dialog_id": "1", "document_id": "1", "qa_id": "1", "contact_id": "1"}
    query: list[tuple[str, str]] = []
    body: Any = _valid_body(case.route) if case.method not in ("GET", "HEAD", "DELETE") else None
    if kind == "path":
        path_values[name] = str(case.value)
    elif kind == "query":
        query.append((name, str(case.value)))
    elif kind == "body" and name:
        body[name] = case.value
    elif kind == "body":
        body = case.value
    path = case.route
    for key, value in path_values.items():
        path = path.replace("{" + key + "}", quote(value, safe=""))
    if query:
        path += "?" + "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in query)
    # From the app's own origin: a cross-site refusal (403) would hide what the input
    # checks do.
    headers = {"X-Requested-With": "test", "Origin": get_settings().base_url}
    content = None
    if body is not None:
        # ensure_ascii keeps "\ud800" as the escape a crafted request would send
        content = json.dumps(body, ensure_ascii=True).encode()
        headers["Content-Type"] = "application/json"
    return {"method": case.method, "url": path, "headers": headers, "content": content}


async def test_every_rest_route_refuses_crafted_input_with_a_4xx_and_stores_nothing(
    clean: None, api_url: str
) -> None:
    sid, assistant_id = await _signed_in_owner()
    assert len(CASES) > 100
    before = await database_fingerprint()
    failures: list[str] = []
    async with httpx.AsyncClient(base_url=api_url, cookies={SESSION_COOKIE: sid}) as client:
        for case in CASES:
            r = await client.request(**_request(case, assistant_id))
            if not 400 <= r.status_code < 500 or "Cross-site" in r.text:
                failures.append(f"{case}: {r.status_code} {r.text[:120]}")
    assert failures == [], '\n'.join(failures)
    after = await database_fingerprint()
    assert {t: v for t, v in after.items() if before.get(t) != v} == {}
    # The requests were signed in: the refusals were about the input, not the session.
    async with httpx.AsyncClient(base_url=api_url, cookies={SESSION_COOKIE: sid}) as client:
        r = await client.get(f"/api/v1/assistants/{assistant_id}")
    assert r.status_code == 200 and r.json()["name"] == "Kept"


@pytest.mark.parametrize("path", ["/api/v1/assistants/2147483648",
                                  "/api/v1/assistants/9223372036854775808",
                                  "/api/v1/assistants/a%00b"])
async def test_an_id_postgresql_cannot_hold_is_a_clear_422(clean: None, api_url: str,
                                                          path: str) -> None:
    sid, _ = await _signed_in_owner()
    async with httpx.AsyncClient(base_url=api_url, cookies={SESSION_COOKIE: sid}) as client:
        r = await client.get(path)
    assert r.status_code == 422, r.text


async def test_text_postgresql_cannot_store_is_refused_with_a_message_saying_so(
    clean: None, api_url: str
) -> None:
    sid, assistant_id = await _signed_in_owner()
    async with httpx.AsyncClient(base_url=api_url, cookies={SESSION_COOKIE: sid}) as client:
        for name in ("Help\\u0000desk", "Help \\ud800 desk"):
            r = await client.put(f"/api/v1/assistants/{assistant_id}",
                                 content=b'{"name": "' + name.encode() + b'"}',
                                 headers={"Content-Type": "application/json"})
            assert r.status_code == 422, r.text
            assert "cannot be saved" in r.json()["detail"]
        r = await client.post("/api/telegram/webhook/2147483648",
                              content=b'{"update_id": 1}',
                              headers={"Content-Type": "application/json"})
        assert r.status_code == 422, r.text
    async with httpx.AsyncClient(base_url=api_url, cookies={SESSION_COOKIE: sid}) as client:
        assert (await client.get(f"/api/v1/assistants/{assistant_id}")).json()["name"] == "Kept"
