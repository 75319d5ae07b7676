"""Building the typed views services return from table rows.

Services hand out frozen dataclasses, never rows (a row is bound to a session and carries
columns such as token hashes that no page should see). Most view fields are the row's
column of the same name: `view_from` copies exactly the view's fields, and the caller
passes only what differs (a conversion, a joined name, a computed figure). A field the row
does not have and the caller did not give fails at once rather than defaulting quietly.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

V = TypeVar("V")


def view_from(view: type[V], row: object, **given: Any) -> V:
    """`view` with each field from `given` when named there, else from `row`'s attribute."""
    names = [f.name for f in dataclasses.fields(view)]  # type: ignore[arg-type]
    unknown = given.keys() - set(names)
    if unknown:
        raise TypeError(f"{view.__name__} has no field {sorted(unknown)}")
    values = {n: given[n] if n in given else getattr(row, n) for n in names}
    return view(**values)
