"""The Reflex app: pages from the registry, FastAPI in front, middleware around it all."""

from __future__ import annotations

import reflex as rx

from components.reconnect_banner import reconnect_banner
from replyx_app.answer_recovery import answer_recovery
from replyx_app.api import build_api
from replyx_app.cross_site import CrossSiteGuard, no_credentialed_cors
from replyx_app.live_access import LiveAccessMiddleware, live_access_task
from replyx_app.live_updates import live_updates
from replyx_app.middleware import SecurityAndMetrics
from replyx_app.pages import load_all
from replyx_app.pages.registry import add_all
from replyx_app.pages.widget_chat import CLIENT_ID_SCRIPT, STORAGE_SHIM
from replyx_app.upload_guard import UploadGuard
from replyx_app.web_heartbeat import web_heartbeat
from replyx_app.web_logging import configure as log_with_time_and_worker
from replyx_app.web_sessions import install as keep_sessions_of_dead_sockets
from state import arguments
from state.failures import backend_exception_handler

no_credentialed_cors()  # before rx.App builds its ASGI app
log_with_time_and_worker()  # again in each worker's lifespan (answer_recovery)


app = rx.App(
    api_transformer=[build_api(), UploadGuard, SecurityAndMetrics, CrossSiteGuard],
    head_components=[rx.el.script(STORAGE_SHIM), rx.el.script(CLIENT_ID_SCRIPT)],
    backend_exception_handler=backend_exception_handler,
)
# Our calm "Reconnecting…" replaces Reflex's developer toast (Reflex 0.10.1 app wrap).
app.app_wraps[(5, "Overlay")] = lambda stateful: reconnect_banner() if stateful else None
# A tab whose worker was SIGKILLed keeps its session (replyx_app/web_sessions.py).
keep_sessions_of_dead_sockets(app)
arguments.install(app)  # every event's arguments are checked before its handler runs
app.register_lifespan_task(live_updates)
app.register_lifespan_task(live_access_task)
app.register_lifespan_task(answer_recovery)
app.register_lifespan_task(web_heartbeat)
# Before any hydrate snapshot: a tab whose login ended loses its live links first.
app.add_middleware(LiveAccessMiddleware(), index=0)
load_all()
add_all(app)
