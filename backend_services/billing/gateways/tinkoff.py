"""T-Bank (Tinkoff) acquiring API v2: Init returns the payment page, GetState reads a
payment back, and notifications carry a Token.

The Token (requests and notifications alike) is SHA-256 over the values of the root-level
parameters plus the terminal password, sorted by parameter name and concatenated; nested
objects (Receipt, DATA) and the Token itself are left out. A notification is answered with
the body `OK`, or T-Bank sends it again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
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

# ISO 4217 numeric codes the terminal may be opened for.
CURRENCY_CODES = {"RUB": 643, "USD": 840, "EUR": 978}
_CODES_CURRENCY = {v: k for k, v in CURRENCY_CODES.items()}
_STATUS: dict[str, GatewayStatus] = {
    "CONFIRMED": "paid",
    "AUTHORIZED": "pending",  # two-stage terminals; we ask for one stage (PayType O)
    "NEW": "pending", "FORM_SHOWED": "pending", "AUTHORIZING": "pending",
    "3DS_CHECKING": "pending", "3DS_CHECKED": "pending", "CONFIRMING": "pending",
    "REJECTED": "failed", "AUTH_FAIL": "failed", "DEADLINE_EXPIRED": "canceled",
    "CANCELED": "canceled", "REVERSED": "canceled",
    "REFUNDED": "refunded", "PARTIAL_REFUNDED": "refunded",
}


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def token(params: dict[str, Any], password: str) -> str:
    flat = {k: v for k, v in params.items()
            if k != "Token" and not isinstance(v, dict | list) and v is not None}
    flat["Password"] = password
    joined = "".join(_value(flat[k]) for k in sorted(flat))
    return hashlib.sha256(joined.encode()).hexdigest()


class TinkoffGateway:
    name = "tinkoff"

    def __init__(self, api_url: str, terminal_key: str, password: str,
                 timeout: float) -> None:
        self._url = api_url.rstrip("/")
        self._terminal = terminal_key
        self._password = password
        self._timeout = timeout

    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        body = {"TerminalKey": self._terminal, **params}
        body["Token"] = token(body, self._password)
        status, data = await call_json("POST", f"{self._url}/{method}", what=method,
                                       seconds=self._timeout, json=body)
        if status != 200 or not isinstance(data, dict):
            raise GatewayError("The payment service failed. Try again later.",
                               detail=f"{method}: HTTP {status}")
        if not data.get("Success") or str(data.get("ErrorCode", "0")) != "0":
            raise GatewayError(
                "The payment service refused the payment.",
                detail=f"{method}: {data.get('ErrorCode')} {data.get('Message', '')} "
                       f"{data.get('Details', '')}"[:300])
        return data

    async def create(self, order: Order) -> Created:
        data = await self._call("Init", {
            "Amount": order.amount_minor, "OrderId": order.order_id,
            "Description": order.description[:140], "PayType": "O",
            "Currency": CURRENCY_CODES.get(order.currency, 643),
            "SuccessURL": order.return_url, "FailURL": order.return_url,
            "NotificationURL": order.notification_url,
        })
        url, payment_id = data.get("PaymentURL"), data.get("PaymentId")
        if not url or payment_id in (None, ""):
            raise GatewayError("The payment service failed. Try again later.",
                               detail="Init: no PaymentURL")
        return Created(str(payment_id), str(url))

    def _state(self, data: dict[str, Any], currency: str = "") -> State:
        status = _STATUS.get(str(data.get("Status", "")), "pending")
        amount = int(data.get("Amount") or 0)
        code = data.get("Currency")
        # A refund notification's Amount is what has been given back so far (T-Bank sends
        # REFUNDED for all of it, PARTIAL_REFUNDED for part).
        return State(
            gateway_payment_id=str(data.get("PaymentId", "")),
            order_id=str(data.get("OrderId", "")),
            status=status,
            amount_minor=0 if status == "refunded" else amount,
            refunded_minor=amount if status == "refunded" else 0,
            currency=_CODES_CURRENCY.get(int(code), "") if code else currency,
            reason=str(data.get("Message") or data.get("ErrorCode") or "")[:200]
            if status in ("failed", "canceled") else "",
        )

    async def state(self, gateway_payment_id: str) -> State:
        return self._state(await self._call("GetState", {"PaymentId": gateway_payment_id}))

    async def verify(self, body: bytes, remote_ip: str) -> Notice:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise NotVerified("not JSON") from exc
        if not isinstance(data, dict) or not isinstance(data.get("Token"), str):
            raise NotVerified("no Token")
        if str(data.get("TerminalKey", "")) != self._terminal:
            raise NotVerified("another terminal")
        expected = token(data, self._password)
        if not hmac.compare_digest(expected, str(data["Token"])):
            raise NotVerified("wrong Token")
        state = self._state(data)
        if state.status == "paid" and data.get("Success") is False:
            state = State(state.gateway_payment_id, state.order_id, "failed",
                          state.amount_minor, state.currency, reason="Success=false")
        return Notice(state, "OK")
