"""Outgoing webhooks, as a workspace's admin manages them: endpoints (URL, events, a
signing secret shown once), the delivery log with each receiver's answer, a test event and
a retry of a failed delivery. Collecting events is `webhook_events`, sending them
`webhook_delivery`."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from backend_services.core import audit
from backend_services.core.db import session_scope
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.scoped import in_workspace
from backend_services.core.security import encrypt_secret
from backend_services.knowledge.web import normalize_url
from backend_services.models import Role, WebhookDelivery, WebhookEndpoint

EVENTS: dict[str, str] = {
    "dialog.created": "A conversation started",
    "message.created": "A message was posted (visitor, AI, operator or system; not notes)",
    "handoff.requested": "A conversation asks for a person",
    "dialog.closed": "A conversation was closed",
    "dialog.rated": "A visitor rated a conversation",
}
MAX_ENDPOINTS = 10
LOG_PAGE = 50
NOT_FOUND = "Webhook not found."


@dataclass(frozen=True)
class EndpointView:
    id: int
    url: str
    description: str
    events: list[str]
    is_active: bool
    created_at: datetime
    delivered_24h: int
    failing: int  # deliveries waiting for a retry or given up


@dataclass(frozen=True)
class DeliveryView:
    id: int
    event_type: str
    event_id: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_response: str
    last_error: str
    created_at: datetime
    delivered_at: datetime | None


def _clean_events(events: list[str]) -> list[str]:
    chosen = [e for e in EVENTS if e in set(events)]
    if set(events) - set(EVENTS):
        raise ValidationFailed("Unknown event: " + ", ".join(sorted(set(events) - set(EVENTS))))
    if not chosen:
        raise ValidationFailed("Choose at least one event to send.")
    return chosen


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


async def list_endpoints(principal: Principal) -> list[EndpointView]:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        rows = (await session.exec(select(WebhookEndpoint).where(
            WebhookEndpoint.workspace_id == principal.workspace_id)
            .order_by(col(WebhookEndpoint.id)))).all()
        counts: dict[int, tuple[int, int]] = {}
        for row in rows:
            assert row.id is not None
            done = (await session.exec(select(col(WebhookDelivery.id)).where(
                WebhookDelivery.endpoint_id == row.id, WebhookDelivery.status == "delivered",
                col(WebhookDelivery.delivered_at) >= datetime.now(UTC) - timedelta(days=1)))
                ).all()
            failing = (await session.exec(select(col(WebhookDelivery.id)).where(
                WebhookDelivery.endpoint_id == row.id, WebhookDelivery.attempts > 0,
                col(WebhookDelivery.status) != "delivered"))).all()
            counts[row.id] = (len(done), len(failing))
    return [EndpointView(r.id or 0, r.url, r.description, list(r.events), r.is_active,
                         r.created_at, *counts[r.id or 0]) for r in rows]


async def create_endpoint(principal: Principal, url: str, events: list[str],
                          description: str = "") -> tuple[EndpointView, str]:
    """The endpoint and its signing secret, which is shown this once."""
    principal.require(Role.ADMIN)
    clean_url = normalize_url(url)
    chosen = _clean_events(events)
    secret = new_secret()
    async with session_scope() as session:
        count = len((await session.exec(select(WebhookEndpoint.id).where(
            WebhookEndpoint.workspace_id == principal.workspace_id))).all())
        if count >= MAX_ENDPOINTS:
            raise ValidationFailed(f"A workspace has at most {MAX_ENDPOINTS} webhooks.")
        row = WebhookEndpoint(workspace_id=principal.workspace_id, url=clean_url,
                              description=" ".join(description.split())[:200],
                              secret_encrypted=encrypt_secret(secret), events=chosen)
        session.add(row)
        await session.flush()
        await audit.record_by(session, principal, "webhook_created", f"webhook:{row.id}",
                              details={"url": clean_url, "events": chosen})
        view = EndpointView(row.id or 0, row.url, row.description, chosen, True,
                            row.created_at, 0, 0)
    return view, secret


async def update_endpoint(principal: Principal, endpoint_id: int, *, events: list[str],
                          is_active: bool) -> None:
    principal.require(Role.ADMIN)
    chosen = _clean_events(events)
    async with session_scope() as session:
        row = await in_workspace(session, WebhookEndpoint, endpoint_id, principal,
                                 missing=NOT_FOUND, lock=True)
        if row.is_active != is_active and is_active:
            # Switched back on: what happened while it was off is not sent afterwards.
            row.scanned_until = datetime.now(UTC)
        row.events, row.is_active = chosen, is_active
        session.add(row)
        await audit.record_by(session, principal, "webhook_updated", f"webhook:{row.id}",
                              details={"events": chosen, "active": is_active})


async def rotate_secret(principal: Principal, endpoint_id: int) -> str:
    principal.require(Role.ADMIN)
    secret = new_secret()
    async with session_scope() as session:
        row = await in_workspace(session, WebhookEndpoint, endpoint_id, principal,
                                 missing=NOT_FOUND, lock=True)
        row.secret_encrypted = encrypt_secret(secret)
        session.add(row)
        await audit.record_by(session, principal, "webhook_secret_rotated", f"webhook:{row.id}")
    return secret


async def delete_endpoint(principal: Principal, endpoint_id: int) -> None:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        row = await in_workspace(session, WebhookEndpoint, endpoint_id, principal,
                                 missing=NOT_FOUND, lock=True)
        await session.delete(row)
        await audit.record_by(session, principal, "webhook_deleted", f"webhook:{endpoint_id}",
                              details={"url": row.url})


async def deliveries(principal: Principal, endpoint_id: int,
                     limit: int = LOG_PAGE) -> list[DeliveryView]:
    """The newest deliveries of the endpoint, with what the receiver said."""
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        await in_workspace(session, WebhookEndpoint, endpoint_id, principal, missing=NOT_FOUND)
        rows = (await session.exec(select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.workspace_id == principal.workspace_id)
            .order_by(col(WebhookDelivery.id).desc()).limit(max(1, min(limit, 200))))).all()
    return [DeliveryView(r.id or 0, r.event_type, r.event_id, r.status, r.attempts,
                         r.next_attempt_at, r.last_status_code, r.last_response, r.last_error,
                         r.created_at, r.delivered_at) for r in rows]


def envelope(event_id: str, event_type: str, workspace_id: int, data: dict[str, Any],
             at: datetime) -> dict[str, Any]:
    """Every event's JSON: its id (the same on every retry: receivers dedupe on it), type,
    time, workspace and the data of that type."""
    return {"id": event_id, "type": event_type, "created_at": at.isoformat(),
            "workspace_id": workspace_id, "data": data}


async def send_test_event(principal: Principal, endpoint_id: int) -> int:
    """Queue a `test` event for the endpoint now; the delivery's id (its log row)."""
    principal.require(Role.ADMIN)
    event_id = f"test:{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    async with session_scope() as session:
        await in_workspace(session, WebhookEndpoint, endpoint_id, principal, missing=NOT_FOUND)
        row = WebhookDelivery(
            workspace_id=principal.workspace_id, endpoint_id=endpoint_id, event_id=event_id,
            event_type="test", next_attempt_at=now,
            payload=envelope(event_id, "test", principal.workspace_id,
                             {"message": "A test event from ReplyX."}, now))
        session.add(row)
        await session.flush()
        assert row.id is not None
        return row.id


async def retry_delivery(principal: Principal, delivery_id: int) -> None:
    """Send a delivery again now (one that failed or is waiting for its next attempt)."""
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        row = await in_workspace(session, WebhookDelivery, delivery_id, principal,
                                 missing="Delivery not found.", lock=True)
        if row.status == "delivered":
            raise ValidationFailed("That delivery already succeeded.")
        row.status, row.next_attempt_at = "pending", datetime.now(UTC)
        session.add(row)

