"""The workspace export download: a plain GET with the session cookie, so the browser
saves the file itself (a websocket event cannot hand over a download)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from backend_services.core.principal import Principal
from backend_services.identity import workspace_deletion
from replyx_app.api.deps import current_principal

router = APIRouter(prefix="/api/workspace", tags=["workspace"])


@router.get("/export", include_in_schema=False)
async def export(principal: Principal = Depends(current_principal)) -> Response:
    data = await workspace_deletion.export_zip(principal)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", principal.workspace_name).strip("-").lower()
    name = f"replyx-{slug or 'workspace'}-{datetime.now(UTC):%Y-%m-%d}.zip"
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store"})
