"""Shared steps for browser tests: create accounts through the services, sign in via the UI."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import select

from backend_services.assistants import service as assistants
from backend_services.assistants.service import AssistantInput
from backend_services.core.db import session_scope
from backend_services.core.principal import Principal
from backend_services.identity import auth
from backend_services.models import Assistant, Membership, Role

PASSWORD = "Correct-horse-9"


def unique_email(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}@example.com"


async def make_workspace_owner(prefix: str = "owner") -> tuple[str, int]:
    """A confirmed owner with their own workspace; returns (email, workspace_id)."""
    email = unique_email(prefix)
    result = await auth.signup(email=email, password=PASSWORD, name=prefix.title(),
                               workspace_name=f"{prefix} workspace")
    await auth.create_user(email=email, password=PASSWORD, name=prefix.title(),
                           workspace_id=None, confirmed=True)
    return email, result.workspace_id


async def add_member(workspace_id: int, role: Role, prefix: str = "member") -> str:
    email = unique_email(prefix)
    await auth.create_user(email=email, password=PASSWORD, name=prefix.title(),
                           workspace_id=workspace_id, role=role)
    return email


async def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    await page.goto("/login")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("#login-submit")
    await page.wait_for_url("**/dashboard/")
    await page.locator("#overview-greeting").wait_for()


# --------------------------------------------------------------------------- more shared steps

SESSION_COOKIE = "replyx_session"


def at(path: str) -> re.Pattern[str]:
    """Matches a page URL with or without the trailing slash (client-side links omit it)."""
    return re.compile(rf"^[^?#]*{re.escape(path)}/?([?#].*)?$")


LOGIN_URL = at("/login")


def path_of(url: str) -> str:
    """The path and query of an absolute link from a mail, for `page.goto` on our base URL."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def session_cookie(context: Any) -> dict[str, Any]:
    cookies = [c for c in await context.cookies() if c["name"] == SESSION_COOKIE]
    assert len(cookies) == 1, f"expected one {SESSION_COOKIE} cookie, got {cookies!r}"
    return dict(cookies[0])


def main_nav(page: Any) -> Any:
    return page.locator('nav[aria-label="Main"]')


async def nav_labels(page: Any) -> list[str]:
    """The labels of the main navigation as the user sees them."""
    nav = main_nav(page)
    await nav.get_by_role("link", name="Overview").wait_for()
    return [t.strip() for t in await nav.get_by_role("link").all_inner_texts()]


async def owner_principal(workspace_id: int) -> Principal:
    async with session_scope() as session:
        owner = (
            await session.exec(
                select(Membership).where(
                    Membership.workspace_id == workspace_id, Membership.role == Role.OWNER.value
                )
            )
        ).first()
        assert owner is not None
        return Principal(user_id=owner.user_id, workspace_id=workspace_id, role=Role.OWNER)


async def create_assistant(workspace_id: int, name: str) -> int:
    """An assistant in that workspace, made through the service as its owner would."""
    row = await assistants.create_assistant(await owner_principal(workspace_id),
                                            AssistantInput(name=name))
    assert row.id is not None
    return row.id


async def find_assistant(assistant_id: int) -> Assistant | None:
    async with session_scope() as session:
        return await session.get(Assistant, assistant_id)


# --------------------------------------------------------------------------- the event socket

FRAME_PREFIX = "42/_event,"


class SocketTap:
    """Sits between a page and the Reflex event socket (`/_event`): forwards every frame both
    ways, records them, and injects crafted client frames as if the page had sent them.

    Reflex events travel as socket.io frames `42/_event,["event",{"name": ..., "payload":
    ..., "router_data": ...}]`; the server answers with frames carrying deltas and events.
    """

    def __init__(self) -> None:
        self.client_frames: list[str] = []
        self.server_frames: list[str] = []
        self.frame_socket: list[int] = []  # which socket (1, 2, …) each server frame came on
        self.sockets = 0  # sockets opened so far: a full page load opens a new one
        self._server: Any = None
        self._changed = asyncio.Event()

    async def install(self, page: Any) -> SocketTap:
        await page.route_web_socket(re.compile(r"/_event/"), self._on_socket)
        return self

    def _on_socket(self, ws: Any) -> None:
        server = ws.connect_to_server()
        self._server = server  # the newest socket: a full page load opens a new one
        self.sockets += 1
        number = self.sockets

        def to_server(message: str | bytes) -> None:
            if isinstance(message, str):
                self.client_frames.append(message)
            server.send(message)

        def to_client(message: str | bytes) -> None:
            if isinstance(message, str):
                self.server_frames.append(message)
                self.frame_socket.append(number)
                self._changed.set()
            ws.send(message)

        ws.on_message(to_server)
        server.on_message(to_client)

    def sent_events(self) -> list[dict[str, Any]]:
        """Every Reflex event the page itself sent, decoded."""
        events = []
        for frame in self.client_frames:
            if frame.startswith(FRAME_PREFIX):
                kind, event = json.loads(frame[len(FRAME_PREFIX):])
                if kind == "event":
                    events.append(event)
        return events

    def real_event_frame(self, name_suffix: str = "") -> str:
        """The newest event frame the page sent (optionally: whose handler ends so)."""
        for frame in reversed(self.client_frames):
            if frame.startswith(FRAME_PREFIX) and f'.{name_suffix}"' in frame:
                return frame
        raise AssertionError(f"the page sent no event frame ending {name_suffix!r}")

    @staticmethod
    def craft(template: str, handler: str, payload: dict[str, Any]) -> str:
        """A copy of a real frame that calls another handler with another payload."""
        kind, event = json.loads(template[len(FRAME_PREFIX):])
        event = {**event, "name": handler, "payload": payload}
        return FRAME_PREFIX + json.dumps([kind, event])

    def send(self, frame: str) -> int:
        """Send a frame to the server; returns a mark to wait for the answer after it."""
        assert self._server is not None, "the page has not opened its event socket"
        mark = len(self.server_frames)
        self._server.send(frame)
        return mark

    async def wait_for_reply(self, contains: str, after: int, timeout: float = 20.0) -> str:
        """The first server frame after `after` that contains the text."""
        async def scan() -> str:
            seen = after
            while True:
                for frame in self.server_frames[seen:]:
                    if contains in frame:
                        return frame
                seen = len(self.server_frames)
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)


# --------------------------------------------------------------------------- knowledge and AI

SAMPLE_KNOWLEDGE = str(Path(__file__).resolve().parents[2] / "replyx_app" / "demo_knowledge")


async def make_platform_admin(email: str) -> Principal:
    """Turn an existing account into a platform admin; returns its principal (as at login)."""
    await auth.create_user(email=email, password=PASSWORD, name=email.split("@")[0].title(),
                           workspace_id=None, platform_admin=True)
    principal = (await auth.login(email=email, password=PASSWORD)).principal
    assert principal.is_platform_admin
    return principal


async def add_provider_key(admin: Principal, base_url: str, api_key: str, name: str = "Test key",
                           models: list[str] | None = None, rpm: int = 600,
                           tpm: int = 1_000_000) -> int:
    """An AI provider key added through the service, as the admin page would."""
    from backend_services.ai import keys

    view = await keys.add_key(admin, name, base_url, api_key, models or [], rpm, tpm)
    return view.id


async def add_document(workspace_id: int, assistant_id: int, filename: str, data: bytes) -> int:
    """A knowledge source added through the service (queued; indexed only if a worker runs)."""
    from backend_services.knowledge import sources

    view = await sources.add_file(await owner_principal(workspace_id), assistant_id, filename,
                                  data)
    return view.id


async def find_document(document_id: int) -> Any:
    from backend_services.models import KnowledgeDocument

    async with session_scope() as session:
        return await session.get(KnowledgeDocument, document_id)


async def add_qa_pair(workspace_id: int, assistant_id: int, question: str, answer: str) -> int:
    """A Q&A pair saved (and embedded) through the service."""
    from backend_services.knowledge import sources

    view = await sources.save_qa(await owner_principal(workspace_id), assistant_id, None,
                                 question, answer)
    return view.id


async def snap(page: Any, name: str) -> None:
    """A full-page screenshot in /tmp when E2E_SCREENSHOTS is set (for looking at pages)."""
    if os.environ.get("E2E_SCREENSHOTS"):
        await page.screenshot(path=f"/tmp/e2e-{name}.png", full_page=True)


async def set_language(email: str, language: str) -> None:
    """The person's own language (their pages and e-mails), as the header's switch sets it."""
    from sqlmodel import select

    from backend_services.core.db import session_scope
    from backend_services.models import User

    async with session_scope() as session:
        user = (await session.exec(select(User).where(User.email == email))).one()
        user.language = language
        session.add(user)


async def save_profile(page: Any) -> None:
    """Save the profile on Settings once the page is live (its name field filled: an
    empty required field would block the submit), to have a real event to copy."""
    from playwright.async_api import expect

    await expect(page.locator("#name")).not_to_have_value("")
    await page.get_by_role("button", name="Save profile").click()
    await expect(page.get_by_text("Profile saved.").first).to_be_visible()
