"""Narrowing stored or posted strings to the `Literal` types statuses and modes use.

A column or a Redis field holds a plain string; the services hand out `Literal` values so
mypy checks every comparison. `one_of` is the single place that crossing happens, without
a `cast` that would let a misspelt value through.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T", bound=str)


def one_of(value: object, allowed: tuple[T, ...]) -> T | None:
    """`value` as the matching member of `allowed`, or None when it is not one of them."""
    for member in allowed:
        if member == value:
            return member
    return None
