"""The one check of what a REST request carries, before any route's own code runs.

A dependency of the whole API (`build_api`), so a new route is covered without doing
anything. FastAPI already refuses a value of the wrong type for a typed parameter (422);
this adds what PostgreSQL would otherwise refuse with a 500:

- a NUL character (`%00`, `"\\u0000"`) or an unpaired UTF-16 surrogate (`"\\ud800"`, which
  `json.loads` accepts) in the path, the query or anywhere in a JSON body;
- an `int` path or query parameter outside PostgreSQL's `integer` (ids are 32-bit), and any
  number outside it in a JSON body;
- strings past MAX_TEXT_CHARS, and JSON nested or sized past reason.

Such a request is refused whole with 422 and a message saying what to change; nothing is
cleaned silently (backend_services/core/text_safety.py explains where cleaning happens instead).
Headers and cookies are not checked: the HTTP server refuses NUL in them, and the session
cookie is only ever hashed.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import HTTPException, Request

from backend_services.core.text_safety import (
    MAX_INT,
    MIN_INT,
    OUT_OF_RANGE,
    text_problem,
    value_problem,
)

MAX_TEXT_CHARS = 100_000
MAX_URL_TEXT_CHARS = 4_096
_ASCII_INT = re.compile(r"[+-]?[0-9]+")
_TRUSTED_BODY = "__replyx_body_from_authenticated_sender__"
F = TypeVar("F", bound=Callable[..., Any])


def body_checked_downstream(endpoint: F) -> F:
    """Mark a route whose JSON body comes from an authenticated machine sender and is
    cleaned where it is stored (the Telegram webhook: Telegram retries a refused update
    and holds back the bot's later ones, and the same update over long polling never
    passes here). Its path and query are still checked."""
    setattr(endpoint, _TRUSTED_BODY, True)
    return endpoint


def _refuse(message: str, where: str) -> HTTPException:
    return HTTPException(status_code=422, detail=f"{message} ({where})")


def _declares_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType or origin is typing.Annotated:
        return any(_declares_int(a) for a in typing.get_args(annotation))
    return False


def _int_params(request: Request) -> set[str]:
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return set()
    fields = [*dependant.path_params, *dependant.query_params]
    return {f.alias for f in fields if _declares_int(f.field_info.annotation)}


def _check_url_value(name: str, value: str, ints: set[str], where: str) -> None:
    for text in (name, value):
        problem = text_problem(text, MAX_URL_TEXT_CHARS)
        if problem is not None:
            raise _refuse(problem, where)
    if name in ints and _ASCII_INT.fullmatch(value.strip()) and not (
        MIN_INT <= int(value) <= MAX_INT
    ):
        raise _refuse(OUT_OF_RANGE, where)


async def check_request(request: Request) -> None:
    """Refuse (422) a request carrying text or numbers PostgreSQL cannot take."""
    ints = _int_params(request)
    for name, value in request.path_params.items():
        _check_url_value(name, str(value), ints, f"path parameter {name!r}")
    for name, value in request.query_params.multi_items():
        _check_url_value(name, value, ints, f"query parameter {name[:40]!r}")
    route = request.scope.get("route")
    if request.method in ("GET", "HEAD", "OPTIONS") or getattr(
        getattr(route, "endpoint", None), _TRUSTED_BODY, False
    ):
        return
    if request.headers.get("content-type", "").startswith("multipart/"):
        return  # a file upload: the route streams the parts and checks the file name
    body = await request.body()  # cached: the route reads the same bytes
    if not body:
        return
    try:
        data = json.loads(body)
    except ValueError:
        return  # not JSON: the route refuses it in its own words (415, 400 or 422)
    problem = value_problem(data, max_chars=MAX_TEXT_CHARS)
    if problem is not None:
        raise _refuse(problem, "body")
