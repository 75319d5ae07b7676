"""A webhook receiver on 127.0.0.1 for tests: records every POST (headers and body) and
answers with scripted statuses, in order, then 200."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.support.api_server import serve


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in order, then 200

    async def _hook(self, request: Request) -> PlainTextResponse:
        self.received.append(Received(dict(request.headers), await request.body()))
        status = self.statuses.pop(0) if self.statuses else 200
        return PlainTextResponse("ok" if status < 300 else "receiver is down",
                                 status_code=status)

    def app(self) -> Any:
        return Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])


@contextlib.asynccontextmanager
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    async with serve(receiver.app()) as base:
        receiver.url = f"{base}/hook"
        yield receiver
