"""Downloads: the workspace export and the audit log as CSV (the owner's own workspace,
or the whole platform for its admins). Plain GETs with the session cookie, so the browser
saves the file itself (a websocket event cannot hand over a download)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from backend_services.core.dates import parse_day
from backend_services.core.principal import Principal
from backend_services.identity import audit_viewer, workspace_deletion
from backend_services.identity.audit_viewer import AuditFilter
from replyx_app.api.deps import current_principal

router = APIRouter(prefix="/api/workspace", tags=["workspace"])
admin_router = APIRouter(prefix="/api/admin", tags=["admin"])


# An export is built on disk past this size, then sent from there in blocks: memory stays
# bounded however large the workspace.
EXPORT_IN_MEMORY = 16 * 1024 * 1024


def _blocks(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        while block := spool.read(64 * 1024):
            yield block
    finally:
        spool.close()


@router.get("/export", include_in_schema=False)
async def export(principal: Principal = Depends(current_principal)) -> StreamingResponse:
    spool = tempfile.SpooledTemporaryFile(max_size=EXPORT_IN_MEMORY)  # noqa: SIM115
    try:
        await workspace_deletion.write_export(principal, spool)
    except BaseException:
        spool.close()
        raise
    size = spool.tell()
    spool.seek(0)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", principal.workspace_name).strip("-").lower()
    name = f"replyx-{slug or 'workspace'}-{datetime.now(UTC):%Y-%m-%d}.zip"
    return StreamingResponse(_blocks(spool), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Length": str(size), "Cache-Control": "no-store"})


async def _audit_csv(principal: Principal, own: bool, actor: str, workspace: str, action: str,
                     since: str, until: str) -> StreamingResponse:
    flt = AuditFilter(actor=actor, workspace="" if own else workspace, action=action,
                      since=parse_day(since, "since"), until=parse_day(until, "until"))
    chunks = await audit_viewer.csv_chunks(principal, flt, own_workspace=own)
    name = f"replyx-audit-{datetime.now(UTC):%Y-%m-%d}.csv"
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


@router.get("/audit.csv", include_in_schema=False)
async def workspace_audit_csv(
    principal: Principal = Depends(current_principal), actor: str = Query("", max_length=100),
    action: str = Query("", max_length=64), since: str = Query("", max_length=10),
    until: str = Query("", max_length=10),
) -> StreamingResponse:
    return await _audit_csv(principal, True, actor, "", action, since, until)


@admin_router.get("/audit.csv", include_in_schema=False)
async def platform_audit_csv(
    principal: Principal = Depends(current_principal), actor: str = Query("", max_length=100),
    workspace: str = Query("", max_length=100), action: str = Query("", max_length=64),
    since: str = Query("", max_length=10), until: str = Query("", max_length=10),
) -> StreamingResponse:
    return await _audit_csv(principal, False, actor, workspace, action, since, until)
