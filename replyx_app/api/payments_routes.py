"""Payment gateways' notifications. Each is stored before it is handled and answered with a
2xx only once its effect is committed (`billing.payments.handle_notification`); a forged
one gets 403 and an audit entry; PostgreSQL or the gateway's API being unreachable gets a
503, so the gateway sends it again later."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.exc import SQLAlchemyError

from backend_services.billing import payments
from backend_services.billing.gateways.base import GatewayError
from replyx_app.api.deps import client_ip
from replyx_app.api.input_guard import body_checked_downstream

log = logging.getLogger(__name__)
router = APIRouter(tags=["payments"])

MAX_NOTIFICATION_BYTES = 100_000


@router.post("/api/payments/{gateway}/notify", include_in_schema=False)
@body_checked_downstream
async def payment_notification(gateway: str, request: Request) -> Response:
    body = await request.body()
    if len(body) > MAX_NOTIFICATION_BYTES:
        return Response("too large", status_code=413)
    try:
        reply = await payments.handle_notification(gateway, body, client_ip(request))
    except (GatewayError, OSError, SQLAlchemyError) as exc:
        # The gateway's API or our database: nothing was answered OK, the gateway retries.
        return _later(gateway, exc)
    return Response(reply.body, status_code=reply.status_code, media_type=reply.media_type)


def _later(gateway: str, exc: Exception) -> Response:
    log.warning("payment notification from %s not handled (%s); the gateway will retry",
                gateway, type(exc).__name__)
    return Response("try again later", status_code=503, headers={"Retry-After": "10"})
