"""A real OpenAI-compatible HTTP server on 127.0.0.1 (aiohttp), scriptable per key and model.

The provider pool talks to it through the real `openai` SDK, so tests see exactly what the
SDK makes of each reply: streamed chunks, usage, 429s with `retry-after`, quota and auth
errors, 5xx, hangs longer than the client timeout, and malformed bodies. Every request is
recorded (key, model, messages) so tests can assert which key was tried and how often.

It runs inside the test's own event loop; `stop()` releases every hanging handler first so
shutdown never waits for a sleep to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Reply:
    """A normal answer; streamed as one chunk per piece of `chunks` (or per word of `text`).

    `break_after` > 0 makes a stream fail after that many content chunks: `break_with`
    "hang" stops sending (the client's read timeout fires), "malformed" sends a broken line.
    """

    text: str = "Hello from the test provider."
    chunks: tuple[str, ...] = ()
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    break_after: int = 0
    break_with: str = "hang"
    # False: behave like servers that ignore stream_options and never send usage.
    send_usage: bool = True
    # Seconds before the answer starts: a slow model (well within the client's timeout).
    delay: float = 0.0

    def pieces(self) -> list[str]:
        if self.chunks:
            return list(self.chunks)
        words = self.text.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]


@dataclass(frozen=True)
class RateLimit:
    """429 rate_limit_exceeded; `retry_after` None sends no header at all."""

    retry_after: str | None = "7"


@dataclass(frozen=True)
class QuotaExhausted:
    """429 with code insufficient_quota, as OpenAI sends when billing has run out."""


@dataclass(frozen=True)
class Unauthorized:
    status: int = 401


@dataclass(frozen=True)
class ServerError:
    status: int = 500


@dataclass(frozen=True)
class Hang:
    """Accept the request and say nothing for `seconds` (or until the server stops)."""

    seconds: float = 60.0


@dataclass(frozen=True)
class Malformed:
    """200 with a body that is not valid JSON (non-stream) or a broken SSE data line."""


Behaviour = Reply | RateLimit | QuotaExhausted | Unauthorized | ServerError | Hang | Malformed


@dataclass
class Recorded:
    path: str
    key: str
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    body: dict[str, Any]
    at: float


@dataclass
class OpenAITestServer:
    host: str = "127.0.0.1"
    port: int = 0
    requests: list[Recorded] = field(default_factory=list)
    models: list[str] = field(default_factory=lambda: ["gpt-test"])
    _rules: dict[tuple[str | None, str | None], Behaviour] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None)
        assert sockets
        self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # ------------------------------------------------------------------ scripting

    def script(
        self, behaviour: Behaviour, *, key: str | None = None, model: str | None = None
    ) -> None:
        """What to do for requests with this key and/or model (the most specific rule wins)."""
        self._rules[(key, model)] = behaviour

    def reset(self) -> None:
        self._rules.clear()
        self.requests.clear()

    def behaviour_for(self, key: str, model: str) -> Behaviour:
        for probe in ((key, model), (key, None), (None, model), (None, None)):
            if probe in self._rules:
                return self._rules[probe]
        return Reply()

    def calls(self, *, key: str | None = None, model: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.path.endswith("/chat/completions")
            and (key is None or r.key == key)
            and (model is None or r.model == model)
        ]

    # ------------------------------------------------------------------ handlers

    @staticmethod
    def _key(request: web.Request) -> str:
        auth = request.headers.get("Authorization", "")
        return auth.removeprefix("Bearer ").strip()

    async def _record(self, request: web.Request) -> tuple[Recorded, dict[str, Any]]:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            body = {}
        rec = Recorded(
            path=request.path,
            key=self._key(request),
            model=str(body.get("model", "")),
            messages=list(body.get("messages") or []),
            stream=bool(body.get("stream")),
            body=body,
            at=time.monotonic(),
        )
        self.requests.append(rec)
        return rec, body

    @staticmethod
    def _error(
        status: int,
        message: str,
        type_: str,
        code: str | None,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        payload = {"error": {"message": message, "type": type_, "param": None, "code": code}}
        return web.json_response(payload, status=status, headers=headers)

    async def _hang(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _failure(self, behaviour: Behaviour) -> web.StreamResponse | None:
        """The response for an error behaviour, or None when the request should be answered."""
        if isinstance(behaviour, RateLimit):
            headers = (
                {} if behaviour.retry_after is None else {"retry-after": behaviour.retry_after}
            )
            return self._error(
                429, "Rate limit reached for requests", "requests", "rate_limit_exceeded", headers
            )
        if isinstance(behaviour, QuotaExhausted):
            return self._error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            )
        if isinstance(behaviour, Unauthorized):
            if behaviour.status == 403:
                return self._error(
                    403,
                    "You are not allowed to use this model.",
                    "invalid_request_error",
                    "model_not_allowed",
                )
            return self._error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        if isinstance(behaviour, ServerError):
            return self._error(behaviour.status, "The server had an error.", "server_error", None)
        if isinstance(behaviour, Hang):
            await self._hang(behaviour.seconds)
            return self._error(503, "hung request released", "server_error", None)
        return None

    @staticmethod
    def _count_words(messages: list[dict[str, Any]]) -> int:
        return sum(len(str(m.get("content", "")).split()) for m in messages)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        rec, body = await self._record(request)
        behaviour = self.behaviour_for(rec.key, rec.model)
        failed = await self._failure(behaviour)
        if failed is not None:
            return failed
        reply = behaviour if isinstance(behaviour, Reply) else Reply()
        if reply.delay:
            await self._hang(reply.delay)
        pieces = reply.pieces()
        prompt_tokens = (
            reply.prompt_tokens
            if reply.prompt_tokens is not None
            else self._count_words(rec.messages)
        )
        completion_tokens = (
            reply.completion_tokens if reply.completion_tokens is not None else len(pieces)
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        cid = "chatcmpl-" + hashlib.sha1(str(time.time_ns()).encode()).hexdigest()[:12]  # noqa: S324
        if not rec.stream:
            if isinstance(behaviour, Malformed):
                return web.Response(
                    text='{"id": "x", "choices": [', content_type="application/json"
                )
            return web.json_response(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": rec.model,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": "".join(pieces)},
                        }
                    ],
                    "usage": usage,
                }
            )
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": rec.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        if isinstance(behaviour, Malformed):
            await resp.write(b'data: {"id": "x", "choices": [{"delta": \n\n')
            await resp.write(b"data: [DONE]\n\n")
            return resp
        await resp.write(chunk({"role": "assistant", "content": ""}))
        for i, piece in enumerate(pieces):
            if reply.break_after and i == reply.break_after:
                if reply.break_with == "malformed":
                    await resp.write(b"data: {not json at all\n\n")
                    return resp
                await self._hang(60.0)
                return resp
            await resp.write(chunk({"content": piece}))
        await resp.write(chunk({}, "stop"))
        if reply.send_usage and (body.get("stream_options") or {}).get("include_usage"):
            data = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": rec.model,
                "choices": [],
                "usage": usage,
            }
            await resp.write(f"data: {json.dumps(data)}\n\n".encode())
        await resp.write(b"data: [DONE]\n\n")
        return resp

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        rec, body = await self._record(request)
        failed = await self._failure(self.behaviour_for(rec.key, rec.model))
        if failed is not None:
            return failed
        raw = body.get("input", [])
        inputs = [raw] if isinstance(raw, str) else list(raw)
        dims = int(body.get("dimensions") or 8)
        data = []
        for i, text in enumerate(inputs):
            digest = hashlib.sha256(str(text).encode()).digest()
            vector = [(digest[j % len(digest)] - 128) / 128 for j in range(dims)]
            data.append({"object": "embedding", "index": i, "embedding": vector})
        tokens = sum(len(str(t).split()) for t in inputs)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": rec.model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 0, "owned_by": "test"}
                    for m in self.models
                ],
            }
        )
