"""Live data stops when access stops: a console tab that signed out, that was signed into
another workspace, whose operator was removed, or whose session expired receives nothing
more of the old workspace — not in the snapshot its next page load hydrates, not in the
pushes that follow. Every frame the server sends to the tab is recorded (SocketTap), and a
second operator's console, still signed in, shows when the pushes went out."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import expect
from sqlalchemy import update
from sqlmodel import col, select

from backend_services.core.db import session_scope
from backend_services.models import Membership, Role, User, UserSession
from tests.e2e.helpers import (
    LOGIN_URL,
    PASSWORD,
    SocketTap,
    add_member,
    create_assistant,
    make_workspace_owner,
    sign_in,
)
from tests.e2e.test_live_console_rules import _in_jobs_process, _waiting_dialog

LIVE = 30_000


class Workspace:
    """Workspace B with a waiting conversation whose first message is a secret."""

    def __init__(self, ws: int, assistant_id: int, dialog_id: int, visitor: str,
                 first: str) -> None:
        self.ws, self.assistant_id, self.dialog_id = ws, assistant_id, dialog_id
        self.visitor, self.first = visitor, first
        self.sent = 0

    async def visitor_writes(self, app_server: Any) -> str:
        """A new visitor message, stored and published by another process (as the fleet or
        a second web host would), so it reaches the consoles only through the live path."""
        self.sent += 1
        text = f"secret-{self.sent}-{secrets.token_hex(4)}"
        await _in_jobs_process(app_server, (
            "from backend_services.conversations import turns\n"
            "from backend_services.conversations.actors import contact_actor\n"
            f"actor = await contact_actor({self.ws}, {self.assistant_id}, 'widget', "
            f"{self.visitor!r})\n"
            f"r = await turns.handle_visitor_message(actor, {text!r}, "
            f"'new-{self.visitor}-{self.sent:04d}')\n"
            "print(r.posted.dialog.id)"))
        return text


async def _workspace_b() -> Workspace:
    _, ws = await make_workspace_owner("wall-b")
    assistant_id = await create_assistant(ws, "B helper")
    visitor = f"visitor-{secrets.token_hex(3)}"
    first = f"first-secret-{secrets.token_hex(4)}"
    dialog_id = await _waiting_dialog(ws, assistant_id, visitor, first)
    return Workspace(ws, assistant_id, dialog_id, visitor, first)


async def _watching_console(new_context: Callable[[], Any], email: str, b: Workspace,
                            tap: SocketTap | None = None) -> Any:
    """A console with B's conversation open (linked to its live states)."""
    page = await (await new_context()).new_page()
    if tap is not None:
        await tap.install(page)
    await sign_in(page, email)
    await page.goto("/console")
    await expect(page.locator("#queue-count")).to_have_text("1", timeout=LIVE)
    await page.locator(".inbox-row").first.click()
    await expect(page.locator("#console-messages").get_by_text(b.first)).to_be_visible(
        timeout=LIVE)
    return page


async def _pushes_went_out(app_server: Any, b: Workspace, control: Any) -> list[str]:
    """Two new messages, each seen live by the control console: by then every linked tab
    has been sent them (one fan-out per change). Returns their texts."""
    texts = []
    for _ in range(2):
        text = await b.visitor_writes(app_server)
        await expect(control.locator("#console-messages").get_by_text(text)).to_be_visible(
            timeout=LIVE)
        texts.append(text)
    return texts


@dataclass
class Scene:
    """Workspace B, Olga's console (every frame recorded) and Pavel's, both watching B's
    waiting conversation."""

    b: Workspace
    olga: str
    pavel: str
    tap: SocketTap
    page: Any
    control: Any


async def _scene(new_context: Callable[[], Any]) -> Scene:
    b = await _workspace_b()
    olga, pavel = (await add_member(b.ws, Role.OPERATOR, "olga"),
                   await add_member(b.ws, Role.OPERATOR, "pavel"))
    tap = SocketTap()
    page = await _watching_console(new_context, olga, b, tap)
    control = await _watching_console(new_context, pavel, b)
    return Scene(b, olga, pavel, tap, page, control)


def _leaks(tap: SocketTap, after: int, secrets_: list[str]) -> list[str]:
    return [s for s in secrets_ for f in tap.server_frames[after:] if s in f]


def _leaks_on_new_sockets(tap: SocketTap, sockets_before: int, secret: str) -> bool:
    """Did a socket opened after the change (the next page load's) get `secret`? The old
    socket may still carry pushes that were on their way while the login was valid."""
    return any(secret in f for f, n in zip(tap.server_frames, tap.frame_socket, strict=True)
               if n > sockets_before)


async def test_a_tab_that_signed_out_receives_nothing_more_of_its_workspace(
    clean: None, app_server: Any, new_context: Any
) -> None:
    s = await _scene(new_context)
    b, tap, page, control = s.b, s.tap, s.page, s.control

    mark, sockets = len(tap.server_frames), tap.sockets
    await page.click("#user-menu")
    await page.click("#logout")
    await page.wait_for_url(LOGIN_URL)
    await expect(page.locator("#login-submit")).to_be_visible()
    later = await _pushes_went_out(app_server, b, control)

    # Neither the sign-in page's snapshot nor any push carries the old conversation.
    assert tap.sockets > sockets  # the sign-in page is a new page load
    assert not _leaks_on_new_sockets(tap, sockets, b.first)
    assert _leaks(tap, mark, later) == []
    assert await page.get_by_text(b.first).count() == 0


async def test_a_tab_signed_into_another_workspace_receives_nothing_of_the_first(
    clean: None, app_server: Any, new_context: Any
) -> None:
    owner_a, _ = await make_workspace_owner("wall-a")
    s = await _scene(new_context)
    b, tap, page, control = s.b, s.tap, s.page, s.control

    # The same tab signs in as someone else (no sign-out first), then opens A's console.
    # (The sign-in page itself still belongs to Olga's valid session.)
    await page.goto("/login")
    await page.fill("#email", owner_a)
    await page.fill("#password", PASSWORD)
    mark, sockets = len(tap.server_frames), tap.sockets
    await page.click("#login-submit")
    await page.wait_for_url("**/dashboard/")
    await page.goto("/console")
    await expect(page.locator("#queue-count")).to_have_text("0", timeout=LIVE)
    later = await _pushes_went_out(app_server, b, control)

    assert tap.sockets > sockets
    assert not _leaks_on_new_sockets(tap, sockets, b.first)
    assert _leaks(tap, mark, later) == []
    assert await page.get_by_text(b.first).count() == 0


async def test_a_removed_operator_with_the_console_open_receives_nothing_more(
    clean: None, app_server: Any, new_context: Any
) -> None:
    s = await _scene(new_context)
    b, tap, page, control = s.b, s.tap, s.page, s.control

    # The owner removes Olga (in another process, as the Team page on another host would).
    mark = len(tap.server_frames)
    await _in_jobs_process(app_server, (
        "from sqlmodel import select\n"
        "from backend_services.identity import team\n"
        "from backend_services.core.db import session_scope\n"
        "from backend_services.models import Membership, User\n"
        "from tests.e2e.helpers import owner_principal\n"
        "async with session_scope() as s:\n"
        f"    m = (await s.exec(select(Membership).join(User, User.id == Membership.user_id)"
        f".where(User.email == {s.olga!r}))).one()\n"
        f"await team.remove_member(await owner_principal({b.ws}), m.id)\n"
        "print('removed')"))
    # Her open console is sent to sign in at once, with no click of hers…
    await page.wait_for_url(LOGIN_URL, timeout=LIVE)
    later = await _pushes_went_out(app_server, b, control)

    # …and nothing of B reaches the tab after the removal.
    assert _leaks(tap, mark, later) == []
    async with session_scope() as db:
        members = (await db.exec(select(User.email).join(
            Membership, Membership.user_id == User.id).where(Membership.workspace_id == b.ws)
        )).all()
    assert s.olga not in members and s.pavel in members


async def test_a_console_whose_session_expired_stops_receiving_without_any_click(
    clean: None, app_server: Any, new_context: Any
) -> None:
    """No event announces an idle or absolute expiry: the periodic re-check ends it
    (REPLYX_LIVE_RECHECK_SECONDS, a few seconds in the test app)."""
    s = await _scene(new_context)
    b, tap, page, control = s.b, s.tap, s.page, s.control

    mark = len(tap.server_frames)
    async with session_scope() as db:
        user = (await db.exec(select(User).where(User.email == s.olga))).one()
        await db.exec(update(UserSession)  # type: ignore[call-overload]
                     .where(col(UserSession.user_id) == user.id)
                     .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    await page.wait_for_url(LOGIN_URL, timeout=LIVE)
    later = await _pushes_went_out(app_server, b, control)
    assert _leaks(tap, mark, later) == []
