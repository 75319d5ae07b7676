"""YooKassa API v3: a payment is created with an `Idempotence-Key` and a redirect
confirmation; a notification is only a hint — the payment is re-read from the API and that
answer is what counts (a forged notification can at most make us ask). Optionally the
notification must also come from YooKassa's documented address ranges.
"""

from __future__ import annotations

import ipaddress
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from backend_services.billing.gateways.base import (
    Created,
    GatewayError,
    GatewayStatus,
    Notice,
    NotVerified,
    Order,
    State,
    call_json,
)

# https://yookassa.ru/developers/using-api/webhooks (IP addresses to allow).
SOURCE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "185.71.76.0/27", "185.71.77.0/27", "77.75.153.0/25", "77.75.156.11/32",
    "77.75.156.35/32", "77.75.154.128/25", "2a02:5180::/32"))
# Cancellations the payer caused (card declined, 3-D Secure failed…) are failures; the
# rest (expired, canceled by us or the merchant) are cancellations.
_FAILED_REASONS = {"3d_secure_failed", "call_issuer", "card_expired", "country_forbidden",
                   "fraud_suspected", "general_decline", "identification_required",
                   "insufficient_funds", "invalid_card_number", "invalid_csc",
                   "issuer_unavailable", "payment_method_limit_exceeded",
                   "payment_method_restricted"}


def _minor(amount: Any) -> int:
    try:
        value = Decimal(str((amount or {}).get("value", "0")))
    except (InvalidOperation, AttributeError):
        return 0
    return int(value * 100)


def _major(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def state_of(payment: dict[str, Any]) -> State:
    raw = str(payment.get("status", ""))
    refunded = _minor(payment.get("refunded_amount"))
    reason = str((payment.get("cancellation_details") or {}).get("reason", ""))
    status: GatewayStatus
    if raw == "succeeded":
        status = "refunded" if refunded > 0 else "paid"
    elif raw == "canceled":
        status = "failed" if reason in _FAILED_REASONS else "canceled"
    else:
        status = "pending"
    return State(
        gateway_payment_id=str(payment.get("id", "")),
        order_id=str((payment.get("metadata") or {}).get("order_id", "")),
        status=status,
        amount_minor=_minor(payment.get("amount")),
        currency=str((payment.get("amount") or {}).get("currency", "")),
        refunded_minor=refunded,
        reason=reason,
    )


class YooKassaGateway:
    name = "yookassa"

    def __init__(self, api_url: str, shop_id: str, secret_key: str, timeout: float, *,
                 check_source: bool = True) -> None:
        self._url = api_url.rstrip("/")
        self._auth = (shop_id, secret_key)
        self._timeout = timeout
        self._check_source = check_source

    async def _request(self, method: str, path: str, *, body: dict[str, Any] | None = None,
                       idempotence_key: str = "") -> dict[str, Any]:
        headers = {"Idempotence-Key": idempotence_key} if idempotence_key else {}
        status, data = await call_json(method, f"{self._url}{path}", what=path,
                                       seconds=self._timeout, json=body, headers=headers,
                                       auth=self._auth)
        if status != 200 or not isinstance(data, dict):
            what = data.get("description", "") if isinstance(data, dict) else ""
            raise GatewayError("The payment service refused the payment.",
                               detail=f"{path}: HTTP {status} {what}"[:300])
        return data

    async def create(self, order: Order) -> Created:
        # The order id is the idempotence key: a retried create is the same payment.
        data = await self._request("POST", "/payments", idempotence_key=order.order_id, body={
            "amount": {"value": _major(order.amount_minor), "currency": order.currency},
            "capture": True,
            "confirmation": {"type": "redirect", "return_url": order.return_url},
            "description": order.description[:128],
            "metadata": {"order_id": order.order_id},
        })
        url = (data.get("confirmation") or {}).get("confirmation_url")
        if not url or not data.get("id"):
            raise GatewayError("The payment service failed. Try again later.",
                               detail="create: no confirmation_url")
        return Created(str(data["id"]), str(url))

    async def state(self, gateway_payment_id: str) -> State:
        return state_of(await self._request("GET", f"/payments/{gateway_payment_id}"))

    def _from_yookassa(self, remote_ip: str) -> bool:
        try:
            address = ipaddress.ip_address(remote_ip)
        except ValueError:
            return False
        return any(address in network for network in SOURCE_NETWORKS)

    async def verify(self, body: bytes, remote_ip: str) -> Notice:
        if self._check_source and not self._from_yookassa(remote_ip):
            raise NotVerified(f"not from YooKassa's addresses ({remote_ip})")
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise NotVerified("not JSON") from exc
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict) or data.get("type") != "notification":
            raise NotVerified("not a notification")
        event = str(data.get("event", ""))
        payment_id = obj.get("payment_id") if event.startswith("refund.") else obj.get("id")
        if not isinstance(payment_id, str) or not payment_id:
            raise NotVerified("no payment id")
        try:
            state = await self.state(payment_id)
        except GatewayError as exc:
            if "HTTP 404" in exc.detail:
                raise NotVerified("YooKassa does not know this payment") from exc
            raise
        return Notice(state, "", "application/json")
