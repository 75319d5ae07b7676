"""Service views as the plain dicts that list state vars hold (a page reads `row["name"]`)."""

from __future__ import annotations

from typing import Any


def picked(view: Any, *names: str, **computed: Any) -> dict[str, Any]:
    """The attributes `names` of `view`, then the `computed` entries."""
    return {**{name: getattr(view, name) for name in names}, **computed}
