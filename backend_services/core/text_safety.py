"""Text and numbers PostgreSQL cannot take, found (at the edges) or cleaned (at the database).

PostgreSQL refuses a NUL character in `text` and in `jsonb` ("\\u0000"), and a Python
string holding an unpaired UTF-16 surrogate (JSON's "\\ud800", which `json.loads` accepts)
cannot even be encoded to UTF-8 for the wire. Ids are 32-bit `integer` columns. The edges
— REST (replyx_app/api/input_guard.py) and socket events (state/arguments.py) — refuse such
input with a clear message, using `text_problem`. Text that comes from elsewhere (Telegram
updates, extracted documents and web pages, provider replies) is cleaned by
`install_database_guard` on its way into PostgreSQL: a stray NUL from a PDF must not fail
an ingestion, and nothing can reach a query with one.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

MAX_INT = 2**31 - 1  # PostgreSQL `integer`, the type of every id column
MIN_INT = -(2**31)

# json.loads joins a valid surrogate pair into one code point, so a surrogate left in a
# Python str is always unpaired.
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")

BAD_CHARACTERS = ("The text contains characters that cannot be saved (a NUL character or a "
                  "broken Unicode character). Remove them and try again.")


def text_problem(value: str, max_chars: int) -> str | None:
    """Why `value` cannot be taken as text (a message for the user), or None."""
    if len(value) > max_chars:
        return f"The text is too long (at most {max_chars:,} characters)."
    if _BAD_CHARS.search(value):
        return BAD_CHARACTERS
    return None


OUT_OF_RANGE = "A number in the request is out of range."
MALFORMED = "The request has a shape we do not accept (too large, too deep or an odd value)."


def value_problem(value: Any, *, max_chars: int, max_items: int = 1_000, max_depth: int = 8,
                  depth: int = 0) -> str | None:
    """Why a decoded JSON value cannot be taken (a message for the user), or None: every
    string and key clean and bounded, every int in `integer` range, floats finite,
    containers bounded in size and depth."""
    if depth > max_depth:
        return MALFORMED
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if MIN_INT <= value <= MAX_INT else OUT_OF_RANGE
    if isinstance(value, float):
        return None if math.isfinite(value) else OUT_OF_RANGE
    if isinstance(value, str):
        return text_problem(value, max_chars)
    if isinstance(value, list | dict):
        if len(value) > max_items:
            return MALFORMED
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(value, dict):
                if not isinstance(key, str):
                    return MALFORMED
                if (problem := text_problem(key, max_chars)) is not None:
                    return problem
            problem = value_problem(item, max_chars=max_chars, max_items=max_items,
                                    max_depth=max_depth, depth=depth + 1)
            if problem is not None:
                return problem
        return None
    return MALFORMED


def clean_text(value: str) -> str:
    """`value` with each NUL and unpaired surrogate replaced by U+FFFD: visibly marked,
    and two different texts never become the same one (as dropping them could do)."""
    return _BAD_CHARS.sub("\ufffd", value)


def clean_json(value: Any) -> Any:
    """A JSON-able value with every string (and key) cleaned."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(k) if isinstance(k, str) else k: clean_json(v)
                for k, v in value.items()}
    return value


def json_serializer(value: Any) -> str:
    """The engine's JSON serializer: what `json.dumps` gives, with strings cleaned first."""
    return json.dumps(clean_json(value))


def _clean_param(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list) and any(isinstance(v, str) for v in value):  # text[] arrays
        return [clean_text(v) if isinstance(v, str) else v for v in value]
    return value


def _clean_row(params: Any) -> Any:
    """One statement's parameters: positional (asyncpg) or named."""
    if isinstance(params, dict):
        return {k: _clean_param(v) for k, v in params.items()}
    if isinstance(params, list | tuple):
        return type(params)(_clean_param(v) for v in params)
    return params


def install_database_guard(engine: Engine) -> None:
    """Clean every text parameter bound to a statement of `engine` (the sync core of the
    async engine). JSON values are cleaned by `json_serializer` before this point."""

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _clean(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> tuple[str, Any]:
        if executemany and isinstance(parameters, list | tuple):
            return statement, type(parameters)(_clean_row(p) for p in parameters)
        return statement, _clean_row(parameters)
