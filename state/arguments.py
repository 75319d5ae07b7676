"""The one check of what a socket event carries, before any event handler runs.

Any event handler can be called by a crafted websocket message, with any arguments. Reflex
passes the frame's `payload` to the handler as keyword arguments, converting only what it
can; everything else reaches the handler as sent. Without a check here a NUL byte or an
unpaired UTF-16 surrogate in a text field fails in PostgreSQL, an id past 2^31 - 1 fails in
the 32-bit id columns, a string or list where an int is declared fails in `int(...)`, and
an unknown keyword (`principal`, the guard's own) fails the call: each one a traceback in
the log and Reflex's generic "An error occurred" for the user.

So three things are installed on the app (`install`):

- `ArgumentGuard`, a Reflex middleware: every event — from the socket, from `/_upload`,
  chained by a handler — is checked against the handler's own signature and type hints
  before the handler runs. A refused event runs nothing and answers with a toast.
- a check of the raw socket frame (`on_event` of Reflex's namespace), for frames Reflex
  cannot even turn into an event (a list instead of an object, an unknown handler name):
  Reflex would raise and log a traceback; we answer with the same toast.
- the `/_upload` guard is HTTP middleware (replyx_app/upload_guard.py).

Decisions: text is rejected, not cleaned (a silently altered name or password is worse
than a clear "remove these characters"); ints must fit PostgreSQL's `integer`; a declared
`int` also accepts a string of ASCII digits (Reflex converts those itself). Text that does
not come through an event (Telegram updates, extracted documents) is cleaned on its way
into PostgreSQL instead (backend_services/core/text_safety.py).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import reflex as rx
from reflex.middleware.middleware import Middleware
from reflex.state import BaseState, StateUpdate
from reflex_base.event import Event
from reflex_base.registry import RegistrationContext

from backend_services.core.text_safety import (
    MAX_INT,
    MIN_INT,
    OUT_OF_RANGE,
    text_problem,
    value_problem,
)

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 100_000  # per string; the longest real field (a system prompt) is far less
MAX_ITEMS = 1_000  # per list or dict
MAX_DEPTH = 8

NOT_UNDERSTOOD = "That request was not understood. Reload the page and try again."
_ASCII_INT = re.compile(r"-?[0-9]{1,10}")


class BadArguments(Exception):
    """An event whose arguments no handler should see; `message` is shown to the user."""

    def __init__(self, message: str, where: str) -> None:
        super().__init__(f"{where}: {message}")
        self.message = message
        self.where = where


# --------------------------------------------------------------------------- values


def _text(value: str, where: str) -> None:
    problem = text_problem(value, MAX_TEXT_CHARS)
    if problem is not None:
        raise BadArguments(problem, where)


def _int_ok(value: int) -> bool:
    return MIN_INT <= value <= MAX_INT


def scan(value: Any, where: str, depth: int = 0) -> None:
    """Any JSON value: every string clean, every int in range, bounded size and depth."""
    problem = value_problem(value, max_chars=MAX_TEXT_CHARS, max_items=MAX_ITEMS,
                            max_depth=MAX_DEPTH, depth=depth)
    if problem is not None:
        raise BadArguments(problem, where)


def check_value(value: Any, hint: Any, where: str, depth: int = 0) -> None:
    """`value` fits the annotation `hint` (and is clean); raises BadArguments if not."""
    if hint is Any or hint is inspect.Parameter.empty:
        scan(value, where, depth)
        return
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return
        first: BadArguments | None = None
        for option in args:
            if option is type(None):
                continue
            try:
                check_value(value, option, where, depth)
                return
            except BadArguments as exc:
                first = first or exc
        raise first or BadArguments(NOT_UNDERSTOOD, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise BadArguments(NOT_UNDERSTOOD, where)
        return
    if hint is int:
        if isinstance(value, str) and _ASCII_INT.fullmatch(value):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadArguments(NOT_UNDERSTOOD, where)
        if not _int_ok(value):
            raise BadArguments(OUT_OF_RANGE, where)
        return
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadArguments(NOT_UNDERSTOOD, where)
        scan(value, where, depth)
        return
    if hint is str:
        if not isinstance(value, str):
            raise BadArguments(NOT_UNDERSTOOD, where)
        _text(value, where)
        return
    container = origin or hint
    if container in (list, tuple, set, frozenset, Sequence):
        if not isinstance(value, list) or len(value) > MAX_ITEMS or depth >= MAX_DEPTH:
            raise BadArguments(NOT_UNDERSTOOD, where)
        item_hint = args[0] if args else Any
        for item in value:
            check_value(item, item_hint, where, depth + 1)
        return
    if container in (dict, Mapping):
        if not isinstance(value, dict) or len(value) > MAX_ITEMS or depth >= MAX_DEPTH:
            raise BadArguments(NOT_UNDERSTOOD, where)
        value_hint = args[1] if len(args) == 2 else Any
        for key, item in value.items():
            if not isinstance(key, str):
                raise BadArguments(NOT_UNDERSTOOD, where)
            _text(key, where)
            check_value(item, value_hint, where, depth + 1)
        return
    if isinstance(hint, type) and issubclass(hint, rx.UploadFile):
        # Only `/_upload` builds these; from a socket frame they would be plain dicts.
        if not isinstance(value, rx.UploadFile):
            raise BadArguments(NOT_UNDERSTOOD, where)
        return
    scan(value, where, depth)  # an annotation we do not model: still clean and bounded


# --------------------------------------------------------------------------- calls


@functools.lru_cache(maxsize=1024)
def _shape(fn: Callable[..., Any]) -> tuple[dict[str, inspect.Parameter], bool, dict[str, Any]]:
    """The keyword arguments a browser may pass: the handler's public signature (the guard
    hides `principal`), whether it takes **kwargs, and the resolved type hints."""
    params = list(inspect.signature(fn).parameters.values())[1:]  # without `self`
    named = {p.name: p for p in params
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable annotation: every value is still scanned
        hints = {}
    return named, var_kw, hints


def check_call(fn: Callable[..., Any], payload: Any) -> None:
    """The payload of an event for handler `fn` is safe to call it with."""
    if not isinstance(payload, dict):
        raise BadArguments(NOT_UNDERSTOOD, "payload")
    named, var_kw, hints = _shape(fn)
    for key, value in payload.items():
        if not isinstance(key, str) or (key not in named and not var_kw):
            raise BadArguments(NOT_UNDERSTOOD, f"argument {str(key)[:40]!r}")
        check_value(value, hints.get(key, Any), f"argument {key!r}")
    for name, param in named.items():
        if param.default is param.empty and name not in payload:
            raise BadArguments(NOT_UNDERSTOOD, f"missing argument {name!r}")


def _registered(name: Any) -> Any:
    if not isinstance(name, str):
        raise BadArguments(NOT_UNDERSTOOD, "event name")
    registered = RegistrationContext.get().event_handlers.get(name)
    if registered is None:
        raise BadArguments(NOT_UNDERSTOOD, f"unknown handler {name[-80:]!r}")
    return registered


def check_event(name: Any, payload: Any) -> None:
    """An event named `name` with `payload` may be processed."""
    registered = _registered(name)
    fn = registered.handler.fn
    check_call(fn, payload)
    if name.rpartition(".")[2] == "setvar":
        # `setvar(var_name, value)` calls the state's `set_<var_name>` handler directly,
        # past this check: check the value against that setter instead.
        setter = registered.states[0].event_handlers.get(f"set_{payload['var_name']}")
        if setter is None:
            raise BadArguments(NOT_UNDERSTOOD, f"setvar {payload['var_name'][:40]!r}")
        named, _, _ = _shape(setter.fn)
        if len(named) != 1:
            raise BadArguments(NOT_UNDERSTOOD, "setvar")
        check_call(setter.fn, {next(iter(named)): payload["value"]})


def refusal(exc: BadArguments) -> list[Event]:
    """What the user sees instead of the handler running."""
    return Event.from_event_type(rx.toast.error(exc.message, id="bad-request"))


def _note(name: Any, exc: BadArguments) -> None:
    # One line, no values: they may be passwords, and they are the attacker's text.
    log.warning("refused event %s: %s", str(name)[-120:], exc.where)


class ArgumentGuard(Middleware):
    """Checks each event's arguments before its handler runs (see the module docstring)."""

    async def preprocess(self, app: Any, state: BaseState, event: Event) -> StateUpdate | None:
        try:
            check_event(event.name, event.payload)
        except BadArguments as exc:
            _note(event.name, exc)
            return StateUpdate(events=refusal(exc))
        return None


def _check_frame(data: Any) -> None:
    """What Reflex's `on_event` needs to build and route an Event without raising (the
    arguments themselves are checked by `ArgumentGuard`, which also sees `/_upload`)."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise BadArguments(NOT_UNDERSTOOD, "frame") from exc
    if not isinstance(data, dict):
        raise BadArguments(NOT_UNDERSTOOD, "frame")
    for key in ("router_data", "payload"):
        if key in data and not isinstance(data[key], dict):
            raise BadArguments(NOT_UNDERSTOOD, f"frame {key}")
    _registered(data.get("name"))


def install(app: rx.App) -> None:
    """Put the checks in front of every event handler of `app`."""
    app.add_middleware(ArgumentGuard(), index=0)
    namespace = app.event_namespace
    if namespace is None:
        return
    receive: Callable[[str, Any], Any] = namespace.on_event

    async def on_event(sid: str, data: Any) -> None:
        # Reflex raises (and socket.io logs a traceback) for a frame it cannot turn into
        # an event; answer it like any other refused event instead.
        try:
            _check_frame(data)
        except BadArguments as exc:
            _note(data.get("name") if isinstance(data, dict) else type(data).__name__, exc)
            await namespace.emit("event", StateUpdate(events=refusal(exc)), to=sid)
            return
        await receive(sid, data)

    namespace.on_event = on_event  # type: ignore[method-assign]


def id_from_text(value: Any) -> int:
    """An id that travels as text (a select's value, a form field, a query parameter): the
    id when it is ASCII digits within `integer`, else 0 (no row has id 0). Not
    `str.isdigit()`: that accepts "²", which `int()` refuses, and any length."""
    text = str(value or "").strip()
    if not re.fullmatch(r"[0-9]{1,10}", text) or int(text) > MAX_INT:
        return 0
    return int(text)
