"""Our own log lines in a web worker, with time and source.

Granian configures logging for its own loggers in each worker; without this, our
warnings reach stderr bare (no time, no worker) through logging's last-resort handler and
our INFO lines (an answer taken over, answers handed on at stop) not at all, which is
what an operator reads after a fault.
"""

from __future__ import annotations

import logging
import sys

from backend_services.core.settings import get_settings

OURS = ("backend_services", "state", "replyx_app")
_FORMAT = "%(asctime)s web[%(process)d] %(levelname)s %(name)s: %(message)s"


def configure() -> None:
    """Idempotent: a worker's lifespan may start again in the same process."""
    level = get_settings().web_log_level
    for name in OURS:
        logger = logging.getLogger(name)
        logger.disabled = False  # a logging dictConfig disables loggers it does not name
        if any(getattr(h, "_replyx", False) for h in logger.handlers):
            continue
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler._replyx = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
