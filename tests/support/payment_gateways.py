"""Emulators of the two payment gateways on 127.0.0.1 (aiohttp), speaking their wire
protocols: T-Bank (Tinkoff) acquiring API v2 and YooKassa API v3.

Each one keeps payments, serves the payment page a payer is sent to (buttons: pay,
decline), and sends notifications to the app the way the real gateway does — T-Bank
signed with the Token and expecting the body `OK`, YooKassa as an event the app must
confirm by reading the payment back. Tests also drive them directly: send a notification
again (duplicates), a forged or altered one, one for an order nobody made, a reversal
after success, a refund; make the API refuse, fail or stall (`misbehave`). Every
notification sent is recorded with the app's answer.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from aiohttp import web

from backend_services.billing.gateways.tinkoff import token

Trouble = Literal["", "refuse", "http500", "stall"]
_PAGE = """<!doctype html><html><head><title>{title}</title></head><body>
<h1>{title}</h1><p id="amount">{amount}</p>
<form method="post"><button id="pay" name="action" value="pay">Pay</button>
<button id="decline" name="action" value="decline">Decline</button></form></body></html>"""


@dataclass
class Sent:
    url: str
    body: dict[str, Any]
    status: int
    reply: str


@dataclass
class _Server:
    host: str = "127.0.0.1"
    port: int = 0
    trouble: Trouble = ""
    sent: list[Sent] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def misbehave(self, trouble: Trouble) -> None:
        """The API's next answers: refuse (a gateway error), HTTP 500, or never answer
        (until `stop`, so the app's own timeout is what ends the call)."""
        self.trouble = trouble
        self._release.clear()

    async def _trouble(self) -> web.Response | None:
        if self.trouble == "stall":
            await self._release.wait()
            return web.Response(status=503)
        if self.trouble == "http500":
            return web.Response(status=500, text="internal error")
        return None

    async def post_json(self, url: str, body: dict[str, Any]) -> Sent:
        async with aiohttp.ClientSession() as session, session.post(url, json=body) as r:
            sent = Sent(url, body, r.status, await r.text())
        self.sent.append(sent)
        return sent


# ------------------------------------------------------------------------------ T-Bank


@dataclass
class TinkoffPayment:
    payment_id: int
    order_id: str
    amount: int
    currency: int
    status: str
    success_url: str
    fail_url: str
    notification_url: str


@dataclass
class TinkoffServer(_Server):
    terminal_key: str = "1700000000000DEMO"
    password: str = "tinkoff-test-password"
    payments: dict[int, TinkoffPayment] = field(default_factory=dict)
    # The bank is still processing when the payer is sent back: no state change and no
    # notification until the test sends one (`notify`).
    hold: bool = False
    _ids: Any = field(default_factory=lambda: itertools.count(7_091_235_801))

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/Init", self._init)
        app.router.add_post("/v2/GetState", self._get_state)
        app.router.add_get("/pay/{id}", self._page)
        app.router.add_post("/pay/{id}", self._submit)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v2"

    def _error(self, code: str, message: str) -> web.Response:
        return web.json_response({"Success": False, "ErrorCode": code, "Message": message,
                                  "TerminalKey": self.terminal_key})

    async def _signed(self, request: web.Request) -> dict[str, Any] | web.Response:
        problem = await self._trouble()
        if problem is not None:
            return problem
        body = await request.json()
        if body.get("TerminalKey") != self.terminal_key:
            return self._error("202", "Терминал не найден")
        if body.get("Token") != token(body, self.password):
            return self._error("204", "Неверный токен. Проверьте пару TerminalKey/SecretKey.")
        if self.trouble == "refuse":
            return self._error("9999", "Внутренняя ошибка системы")
        return dict(body)

    async def _init(self, request: web.Request) -> web.Response:
        body = await self._signed(request)
        if isinstance(body, web.Response):
            return body
        if any(p.order_id == body["OrderId"] for p in self.payments.values()):
            return self._error("8", "Неверный статус транзакции (OrderId уже использован)")
        payment = TinkoffPayment(next(self._ids), str(body["OrderId"]), int(body["Amount"]),
                                 int(body.get("Currency", 643)), "NEW",
                                 str(body.get("SuccessURL", "")), str(body.get("FailURL", "")),
                                 str(body.get("NotificationURL", "")))
        self.payments[payment.payment_id] = payment
        return web.json_response({
            "Success": True, "ErrorCode": "0", "TerminalKey": self.terminal_key,
            "Status": "NEW", "PaymentId": str(payment.payment_id),
            "OrderId": payment.order_id, "Amount": payment.amount,
            "PaymentURL": f"{self.base_url}/pay/{payment.payment_id}"})

    async def _get_state(self, request: web.Request) -> web.Response:
        body = await self._signed(request)
        if isinstance(body, web.Response):
            return body
        payment = self.payments.get(int(body["PaymentId"]))
        if payment is None:
            return self._error("7", "Неверный статус транзакции")
        return web.json_response({
            "Success": True, "ErrorCode": "0", "TerminalKey": self.terminal_key,
            "Status": payment.status, "PaymentId": str(payment.payment_id),
            "OrderId": payment.order_id, "Amount": payment.amount})

    async def _page(self, request: web.Request) -> web.Response:
        payment = self.payments[int(request.match_info["id"])]
        return web.Response(text=_PAGE.format(title="T-Bank test payment",
                                              amount=f"{payment.amount / 100:.2f}"),
                            content_type="text/html")

    async def _submit(self, request: web.Request) -> web.Response:
        payment = self.payments[int(request.match_info["id"])]
        paid = (await request.post()).get("action") == "pay"
        if not self.hold:
            await self.notify(payment.payment_id, "CONFIRMED" if paid else "REJECTED")
        raise web.HTTPSeeOther(payment.success_url if paid else payment.fail_url)

    def notification(self, payment_id: int, status: str, *, amount: int | None = None,
                     order_id: str | None = None) -> dict[str, Any]:
        """The body T-Bank sends for this payment in this status, signed."""
        payment = self.payments[payment_id]
        body: dict[str, Any] = {
            "TerminalKey": self.terminal_key, "OrderId": order_id or payment.order_id,
            "Success": status not in ("REJECTED", "AUTH_FAIL"), "Status": status,
            "PaymentId": payment.payment_id,
            "ErrorCode": "0" if status not in ("REJECTED", "AUTH_FAIL") else "1051",
            "Amount": payment.amount if amount is None else amount, "CardId": 322264,
            "Pan": "430000******0777", "ExpDate": "1130"}
        body["Token"] = token(body, self.password)
        return body

    async def notify(self, payment_id: int, status: str, *, amount: int | None = None,
                     forge: bool = False, order_id: str | None = None) -> Sent:
        """Move the payment to `status` and tell the app (forged: a Token of a wrong
        password, as anyone without the terminal's password would make it)."""
        payment = self.payments[payment_id]
        payment.status = status
        body = self.notification(payment_id, status, amount=amount, order_id=order_id)
        if forge:
            body["Token"] = token({k: v for k, v in body.items() if k != "Token"}, "guess")
        return await self.post_json(payment.notification_url, body)

    def payment_for(self, order_id: str) -> TinkoffPayment:
        return next(p for p in self.payments.values() if p.order_id == order_id)



# ---------------------------------------------------------------------------- YooKassa


@dataclass
class YooKassaServer(_Server):
    shop_id: str = "506751"
    secret_key: str = "test_yookassa_secret_key"
    webhook_url: str = ""  # set in YooKassa's dashboard for a real shop
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    _by_key: dict[str, str] = field(default_factory=dict)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v3/payments", self._create)
        app.router.add_get("/v3/payments/{id}", self._get)
        app.router.add_get("/pay/{id}", self._page)
        app.router.add_post("/pay/{id}", self._submit)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v3"

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.shop_id}:{self.secret_key}".encode()).decode()
        return request.headers.get("Authorization", "") == f"Basic {expected}"

    @staticmethod
    def _error(status: int, code: str, description: str) -> web.Response:
        return web.json_response({"type": "error", "id": str(uuid.uuid4()), "code": code,
                                  "description": description}, status=status)

    async def _create(self, request: web.Request) -> web.Response:
        problem = await self._trouble()
        if problem is not None:
            return problem
        if not self._authorized(request):
            return self._error(401, "invalid_credentials", "Authentication failed")
        key = request.headers.get("Idempotence-Key", "")
        if not key:
            return self._error(400, "invalid_request", "Idempotence key is missing")
        if key in self._by_key:
            return web.json_response(self.payments[self._by_key[key]])
        if self.trouble == "refuse":
            return self._error(400, "invalid_request", "Payment method is not available")
        body = await request.json()
        payment_id = str(uuid.uuid4())
        payment = {
            "id": payment_id, "status": "pending", "paid": False,
            "amount": body["amount"], "description": body.get("description", ""),
            "recipient": {"account_id": self.shop_id, "gateway_id": "1"},
            "created_at": "2026-12-07T10:00:00.000Z", "test": True, "refundable": False,
            "confirmation": {"type": "redirect",
                             "return_url": body["confirmation"]["return_url"],
                             "confirmation_url": f"{self.base_url}/pay/{payment_id}"},
            "metadata": body.get("metadata", {}),
        }
        self.payments[payment_id] = payment
        self._by_key[key] = payment_id
        return web.json_response(payment)

    async def _get(self, request: web.Request) -> web.Response:
        problem = await self._trouble()
        if problem is not None:
            return problem
        if not self._authorized(request):
            return self._error(401, "invalid_credentials", "Authentication failed")
        payment = self.payments.get(request.match_info["id"])
        if payment is None:
            return self._error(404, "not_found", "Payment not found")
        return web.json_response(payment)

    async def _page(self, request: web.Request) -> web.Response:
        payment = self.payments[request.match_info["id"]]
        return web.Response(text=_PAGE.format(title="YooKassa test payment",
                                              amount=payment["amount"]["value"]),
                            content_type="text/html")

    async def _submit(self, request: web.Request) -> web.Response:
        payment = self.payments[request.match_info["id"]]
        if (await request.post()).get("action") == "pay":
            await self.succeed(payment["id"])
        else:
            await self.cancel(payment["id"], "insufficient_funds")
        raise web.HTTPSeeOther(payment["confirmation"]["return_url"])

    async def _event(self, event: str, obj: dict[str, Any]) -> Sent:
        return await self.post_json(self.webhook_url, {"type": "notification", "event": event,
                                                       "object": obj})

    async def succeed(self, payment_id: str) -> Sent:
        payment = self.payments[payment_id]
        payment.update(status="succeeded", paid=True, refundable=True,
                       captured_at="2026-12-07T10:01:00.000Z")
        return await self._event("payment.succeeded", payment)

    async def cancel(self, payment_id: str, reason: str = "expired_on_confirmation") -> Sent:
        payment = self.payments[payment_id]
        payment.update(status="canceled", paid=False, cancellation_details={
            "party": "payment_network" if reason == "insufficient_funds" else "yoo_money",
            "reason": reason})
        return await self._event("payment.canceled", payment)

    async def refund(self, payment_id: str, value: str) -> Sent:
        payment = self.payments[payment_id]
        payment["refunded_amount"] = {"value": value,
                                      "currency": payment["amount"]["currency"]}
        return await self._event("refund.succeeded", {
            "id": str(uuid.uuid4()), "payment_id": payment_id, "status": "succeeded",
            "amount": payment["refunded_amount"], "created_at": "2026-12-07T11:00:00.000Z"})

    async def send(self, event: str, obj: dict[str, Any]) -> Sent:
        """Any notification body, as anyone could POST it."""
        return await self._event(event, obj)

    def payment_for(self, order_id: str) -> dict[str, Any]:
        return next(p for p in self.payments.values()
                    if p["metadata"].get("order_id") == order_id)

