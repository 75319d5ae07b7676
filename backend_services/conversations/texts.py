"""The fixed texts visitors see as `system` messages, in the assistant's language (en/ru).

They live in the one catalogue (`core.catalogue`, keys `system.*`); this name stays so the
conversation services keep asking for "the system text `closed`" without the prefix."""

from __future__ import annotations

from backend_services.core import catalogue


def text(language: str, key: str, **values: str) -> str:
    return catalogue.text(language, f"system.{key}", **values)
