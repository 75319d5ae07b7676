"""What every gateway does for us, and the shapes it answers in.

A gateway creates a payment for an order of ours and gives the page the payer goes to;
it reads a payment's state back; and it turns a notification into a *verified* state — by
its signature (T-Bank) or by re-reading the payment from the gateway's own API (YooKassa).
Nothing unverified ever reaches the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx

GatewayStatus = Literal["pending", "paid", "failed", "canceled", "refunded"]


class GatewayError(Exception):
    """The gateway refused or could not be reached; the message is fit for the payer."""

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # for the log and the payment row, never a secret


class NotVerified(Exception):
    """A notification that does not prove itself (bad signature, wrong terminal, unknown
    source, a payment the gateway does not know)."""


@dataclass(frozen=True)
class Order:
    order_id: str
    amount_minor: int
    currency: str
    description: str
    return_url: str  # where the payer comes back to (success and failure alike)
    notification_url: str


@dataclass(frozen=True)
class Created:
    gateway_payment_id: str
    payment_url: str


@dataclass(frozen=True)
class State:
    """A payment as the gateway vouches for it."""

    gateway_payment_id: str
    order_id: str
    status: GatewayStatus
    amount_minor: int  # the amount the payment is for
    currency: str
    refunded_minor: int = 0
    reason: str = ""  # why it failed or was canceled, in the gateway's words


@dataclass(frozen=True)
class Notice:
    """A verified notification: the state, and the body the gateway expects back."""

    state: State
    reply: str
    reply_type: str = "text/plain"


class Gateway(Protocol):
    name: str

    async def create(self, order: Order) -> Created: ...

    async def state(self, gateway_payment_id: str) -> State: ...

    async def verify(self, body: bytes, remote_ip: str) -> Notice:
        """Raises NotVerified for anything that does not prove itself."""
        ...


async def call_json(method: str, url: str, *, what: str, seconds: float,
                    **request: Any) -> tuple[int, Any]:
    """One HTTP call to a gateway: (status, parsed JSON or None). A timeout or a broken
    connection is a GatewayError the payer can read; the gateway's own answers are for
    the caller to judge."""
    try:
        async with httpx.AsyncClient(timeout=seconds, trust_env=False) as client:
            response = await client.request(method, url, **request)
    except httpx.TimeoutException as exc:
        raise GatewayError("The payment service did not answer in time. Try again.",
                           detail=f"{what}: timeout") from exc
    except httpx.HTTPError as exc:
        raise GatewayError("The payment service cannot be reached. Try again later.",
                           detail=f"{what}: {type(exc).__name__}") from exc
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None
