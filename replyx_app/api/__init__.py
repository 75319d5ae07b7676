"""The FastAPI app mounted in front of Reflex (api_transformer): REST, auth cookies, health."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from replyx_app.api import (
    assistants_routes,
    auth_routes,
    demo_routes,
    errors,
    payments_routes,
    system_routes,
    telegram_routes,
    widget_routes,
    workspace_routes,
)
from replyx_app.api.input_guard import check_request


def build_api() -> FastAPI:
    api = FastAPI(
        title="ReplyX API",
        version="1",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        # Every route: no NUL, lone surrogate or out-of-range id reaches a handler.
        dependencies=[Depends(check_request)],
    )
    errors.install(api)
    api.include_router(system_routes.router)
    api.include_router(auth_routes.router)
    api.include_router(assistants_routes.router)
    api.include_router(widget_routes.router)
    api.include_router(demo_routes.router)
    api.include_router(telegram_routes.router)
    api.include_router(payments_routes.router)
    api.include_router(workspace_routes.router)
    api.include_router(workspace_routes.admin_router)
    return api
