"""Crafted socket events against every event handler of every state: a friendly toast,
never Reflex's generic "An error occurred", no traceback in the app's log, nothing stored.

The handlers are enumerated from the state classes, so a new handler is swept without
editing this file. The frames go through the real websocket of a signed-in page (a copy of
a frame the page really sent, with another handler name and payload), as an attacker with
a session would send them.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import types
import typing
from typing import Any

import httpx
import reflex as rx
from playwright.async_api import expect

import state
from backend_services.core.text_safety import BAD_CHARACTERS, OUT_OF_RANGE
from replyx_app.upload_guard import NO_FILES
from state.arguments import NOT_UNDERSTOOD
from state.settings import SettingsState
from tests.e2e.helpers import FRAME_PREFIX, SocketTap, make_workspace_owner, save_profile, sign_in
from tests.support.db_fingerprint import database_fingerprint

GENERIC = "An error occurred"
NUL, SURROGATE = "a\x00b", "\ud800"


def _state_classes() -> list[type[rx.State]]:
    for info in pkgutil.iter_modules(state.__path__):
        importlib.import_module(f"state.{info.name}")
    found: list[type[rx.State]] = []
    todo: list[type[Any]] = [rx.State]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("state."):
            found.append(cls)
    return found


def _handlers() -> list[tuple[str, Any]]:
    """(full event name, the function Reflex calls) of every handler our states define."""
    out = []
    for cls in _state_classes():
        for name, handler in cls.event_handlers.items():
            if handler.fn.__module__.startswith("state."):
                out.append((f"{cls.get_full_name()}.{name}", handler.fn))
    return sorted(out, key=lambda x: x[0])


def _params(fn: Any) -> dict[str, Any]:
    sig = list(inspect.signature(fn).parameters.values())[1:]
    hints = typing.get_type_hints(fn)
    return {p.name: hints.get(p.name, Any) for p in sig}


def _valid(hint: Any) -> Any:
    base = typing.get_origin(hint) or hint
    if base in (typing.Union, types.UnionType):
        return _valid(typing.get_args(hint)[0])
    return {int: 1, str: "x", bool: True, float: 1.0, dict: {}, list: []}.get(base)


def _bad(hint: Any) -> list[tuple[Any, str]]:
    """Values the handler must not see, with the message expected for each."""
    base = typing.get_origin(hint) or hint
    if base in (typing.Union, types.UnionType):
        base = typing.get_origin(typing.get_args(hint)[0]) or typing.get_args(hint)[0]
    if base is int:
        return [(2**31, OUT_OF_RANGE), (2**63, OUT_OF_RANGE), ("abc", NOT_UNDERSTOOD),
                ([1], NOT_UNDERSTOOD)]
    if base is str:
        return [(NUL, BAD_CHARACTERS), (SURROGATE, BAD_CHARACTERS), ({"a": 1}, NOT_UNDERSTOOD)]
    if base is bool:
        return [("yes", NOT_UNDERSTOOD), ([True], NOT_UNDERSTOOD)]
    if base is dict:
        return [("x", NOT_UNDERSTOOD), ([1], NOT_UNDERSTOOD),
                ({"name": NUL, "text": NUL, "email": NUL}, BAD_CHARACTERS),
                ({"name": SURROGATE, "question": SURROGATE}, BAD_CHARACTERS),
                ({"canned_id": 2**63, "assistant_id": 2**31}, OUT_OF_RANGE)]
    if base is list:
        return [("x", NOT_UNDERSTOOD), ([{"name": "f.txt"}], NOT_UNDERSTOOD)]
    return [(NUL, BAD_CHARACTERS), (2**63, OUT_OF_RANGE)]


def _cases() -> list[tuple[str, dict[str, Any], str]]:
    cases = []
    for event, fn in _handlers():
        params = _params(fn)
        valid = {name: _valid(hint) for name, hint in params.items()}
        # The guard's own keyword, and one no handler declares.
        cases.append((event, {**valid, "principal": {"user_id": 1}}, NOT_UNDERSTOOD))
        cases.append((event, {**valid, "surprise": 1}, NOT_UNDERSTOOD))
        for name, hint in params.items():
            for value, expected in _bad(hint):
                cases.append((event, {**valid, name: value}, expected))
    return cases


async def _settings_page(new_context: Any) -> tuple[Any, SocketTap, str]:
    email, _ = await make_workspace_owner("owner")
    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, email)
    await page.goto("/settings")
    await expect(page.locator("#name")).to_have_value("Owner")
    await save_profile(page)
    await expect(page.get_by_text("Profile saved.")).to_be_visible()
    return page, tap, tap.real_event_frame("save_profile")


def _log_after(app_server: Any, offset: int) -> str:
    return app_server.log.read_text(errors="replace")[offset:]


def _crafted(template: str, handler: str, payload: Any) -> str:
    # ensure_ascii: "\ud800" travels as the escape a crafted frame carries
    kind, event = json.loads(template[len(FRAME_PREFIX):])
    return FRAME_PREFIX + json.dumps([kind, {**event, "name": handler, "payload": payload}],
                                     ensure_ascii=True)


async def test_every_event_handler_refuses_crafted_arguments_with_a_friendly_message(
    new_context: Any, app_server: Any
) -> None:
    page, tap, real = await _settings_page(new_context)
    cases = _cases()
    assert len({event for event, _, _ in cases}) > 60  # the enumeration found the handlers
    before = await database_fingerprint()
    offset = len(app_server.log.read_text(errors="replace"))
    seen_from = len(tap.server_frames)
    for event, payload, expected in cases:
        mark = tap.send(_crafted(real, event, payload))
        try:
            await tap.wait_for_reply(expected, after=mark, timeout=20)
        except TimeoutError as exc:
            raise AssertionError(f"{event} {payload!r}: no {expected!r}; got "
                                 f"{tap.server_frames[mark:][-3:]!r}") from exc
    answers = tap.server_frames[seen_from:]
    assert not [f for f in answers if GENERIC in f]
    log = _log_after(app_server, offset)
    assert "Traceback" not in log, log[-3000:]
    assert await database_fingerprint() == before
    # The session is still fine: the refusals were about the input.
    await save_profile(page)
    await expect(page.get_by_text("Profile saved.").last).to_be_visible()


async def test_malformed_frames_and_uploads_to_handlers_without_files_are_refused_plainly(
    new_context: Any, app_server: Any
) -> None:
    page, tap, real = await _settings_page(new_context)
    before = await database_fingerprint()
    offset = len(app_server.log.read_text(errors="replace"))
    save = f"{SettingsState.get_full_name()}.save_profile"
    kind, event = json.loads(real[len(FRAME_PREFIX):])
    frames = [
        FRAME_PREFIX + json.dumps([kind, [1, 2, 3]]),  # the whole event is a list
        FRAME_PREFIX + json.dumps([kind, {**event, "payload": [{"name": "x"}]}]),
        FRAME_PREFIX + json.dumps([kind, {**event, "name": save, "payload": ["form"]}]),
        FRAME_PREFIX + json.dumps([kind, {**event, "name": "no.such.handler"}]),
        FRAME_PREFIX + json.dumps([kind, {**event, "name": ["list"]}]),
        FRAME_PREFIX + json.dumps([kind, {**event, "router_data": [1]}]),
        FRAME_PREFIX + json.dumps([kind, "just text"]),
    ]
    for frame in frames:
        mark = tap.send(frame)
        await tap.wait_for_reply(NOT_UNDERSTOOD, after=mark)

    # An upload aimed at a handler that takes no files: a 400 saying so, not a 500.
    async with httpx.AsyncClient(base_url=app_server.url) as client:
        r = await client.post("/_upload", files={"files": ("a.txt", b"hello")},
                              headers={"reflex-client-token": "any-client",
                                       "reflex-event-handler": save})
    assert r.status_code == 400, r.text
    assert r.json()["detail"] == NO_FILES

    assert not [f for f in tap.server_frames if GENERIC in f]
    log = _log_after(app_server, offset)
    assert "Traceback" not in log, log[-3000:]
    assert await database_fingerprint() == before
    await save_profile(page)
    await expect(page.get_by_text("Profile saved.").last).to_be_visible()
