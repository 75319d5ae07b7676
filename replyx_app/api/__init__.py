"""The FastAPI app mounted in front of Reflex (api_transformer): REST, auth cookies, health."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from replyx_app.api import (
    assistants_routes,
    auth_routes,
    demo_routes,
    dialogs_routes,
    errors,
    knowledge_routes,
    payments_routes,
    system_routes,
    telegram_routes,
    widget_routes,
    workspace_routes,
)
from replyx_app.api.input_guard import check_request

API_DESCRIPTION = """\
The public API of a ReplyX workspace.

**Authentication.** Create a key in the dashboard (Settings → API keys) and send it as
`Authorization: Bearer rxk_…`. A key belongs to one workspace and has scopes: `read`
(assistants, knowledge status, dialogs, contacts), `write` (assistants, operator messages,
closing dialogs), `knowledge` (adding and deleting knowledge). Objects of another
workspace are 404; a route outside the key's scopes is 403; past the per-key rate limit,
429 with `Retry-After`. A signed-in dashboard session may call the same routes; its role
decides.

**Errors** are JSON: `{"detail": "what went wrong, in words for people"}`.
"""


def build_api() -> FastAPI:
    # FastAPIOffline serves Swagger UI's script and styles from the package itself, so
    # the docs work on a network without internet.
    api = FastAPIOffline(
        title="ReplyX API",
        version="1",
        description=API_DESCRIPTION,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        static_url="/api/docs-assets",
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect",
        # Every route: no NUL, lone surrogate or out-of-range id reaches a handler.
        dependencies=[Depends(check_request)],
    )
    errors.install(api)
    api.include_router(system_routes.router)
    api.include_router(auth_routes.router)
    api.include_router(assistants_routes.router)
    api.include_router(knowledge_routes.router)
    api.include_router(knowledge_routes.upload_router)
    api.include_router(dialogs_routes.router)
    api.include_router(widget_routes.router)
    api.include_router(demo_routes.router)
    api.include_router(telegram_routes.router)
    api.include_router(payments_routes.router)
    api.include_router(workspace_routes.router)
    api.include_router(workspace_routes.admin_router)
    return api
