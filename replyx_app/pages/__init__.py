"""One page per module, each named after its feature (`state/<feature>.py` holds its
state); every page registers itself with `registry` when its module is imported.

`load_all` imports every page module found here, so a new page needs no list to update.
"""

from __future__ import annotations

import importlib
import pkgutil


def load_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name != "registry":
            importlib.import_module(f"{__name__}.{info.name}")
