"""Typed stand-ins, for mypy only, for two Reflex declarations mypy reads wrongly.

At run time both names below are Reflex's own (`event` is `rx.event`, `ObjectField` is
`rx.Field`); only what mypy sees differs.

- `rx.event` is a class (`EventNamespace`) whose `__new__` returns an `EventCallback`.
  mypy ignores a `__new__` that returns something other than an instance of its class,
  so a handler decorated with `@rx.event` is typed as `EventNamespace` and
  `SomeState.handler(arg)` in a page is "not callable". The stand-in declares what
  `rx.event` returns, so a handler's arguments are checked where a page binds them.
- `rx.Field[dict[...]]` read through the class should be an `ObjectVar`, but mypy solves
  the union `self` types of `Field.__get__`'s list and sequence overloads with `Never`
  and picks those first, so a dict field reads as `ArrayVar[Never]` (no `[key]`, no
  `.get`). `ObjectField` declares the one overload that applies; declare a dict state var
  as `name: ObjectField[dict[str, T]] = object_field(dict)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple, overload

import reflex as rx

M = TypeVar("M", bound=Mapping[str, Any])
P = TypeVarTuple("P")

if TYPE_CHECKING:
    from reflex.vars import ObjectVar
    from reflex_base.event import EventCallback

    @overload
    def event(fn: Callable[[Any, *P], Any], /) -> EventCallback[*P]: ...

    @overload
    def event(
        *, background: bool = ...
    ) -> Callable[[Callable[[Any, *P], Any]], EventCallback[*P]]: ...

    def event(fn: Any = None, /, **kwargs: Any) -> Any: ...

    class ObjectField(rx.Field[M]):
        @overload  # type: ignore[override]
        def __get__(self, instance: None, owner: Any) -> ObjectVar[M]: ...

        @overload
        def __get__(self, instance: object, owner: Any) -> M: ...

        def __get__(self, instance: Any, owner: Any) -> Any: ...

    def object_field(default_factory: Callable[[], M]) -> ObjectField[M]: ...

else:
    event = rx.event
    ObjectField = rx.Field

    def object_field(default_factory):
        return rx.field(default_factory=default_factory)
