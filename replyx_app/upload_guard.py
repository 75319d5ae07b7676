"""`POST /_upload` aimed at a handler that takes no files: 400, not Reflex's 500.

Reflex's upload endpoint names the handler in the `reflex-event-handler` header and only
then finds out that the handler has no `list[rx.UploadFile]` parameter: it raises, and the
client gets a 500 and the log a traceback. This ASGI middleware asks the same question
(Reflex's own `resolve_upload_*_handler_param`) before the request reaches it. The
arguments of an accepted upload are checked like any other event (state/arguments.py).
"""

from __future__ import annotations

import json

from reflex_base.event import resolve_upload_chunk_handler_param, resolve_upload_handler_param
from reflex_base.registry import RegistrationContext
from reflex_base.utils.exceptions import UploadTypeError, UploadValueError
from starlette.types import ASGIApp, Receive, Scope, Send

UPLOAD_PATHS = frozenset({"/_upload", "/_upload/"})
NO_FILES = "That action takes no files."


def upload_refusal(handler_name: str) -> str | None:
    """Why the upload endpoint must refuse files for `handler_name`, or None."""
    registered = RegistrationContext.get().event_handlers.get(handler_name)
    if registered is None:
        return None  # Reflex answers 400 "Unknown upload event handler" itself
    handler = registered.handler
    if handler.is_background:
        try:
            resolve_upload_chunk_handler_param(handler)
            return None
        except (UploadTypeError, UploadValueError):
            pass
    try:
        resolve_upload_handler_param(handler)
    except (UploadTypeError, UploadValueError):
        return NO_FILES
    return None


DRAIN_LIMIT = 1024 * 1024


async def _drain(receive: Receive) -> None:
    """Read (and drop) the refused upload's body first: a server that answers while the
    client is still sending may reset the connection, and the client would see a broken
    connection instead of the 400 (seen under load in CI). Past DRAIN_LIMIT we stop
    reading; the connection closes after the answer."""
    read = 0
    while read <= DRAIN_LIMIT:
        message = await receive()
        if message["type"] != "http.request":
            return
        read += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class UploadGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") in UPLOAD_PATHS:
            headers = dict(scope.get("headers") or [])
            name = headers.get(b"reflex-event-handler", b"").decode("latin-1")
            refusal = upload_refusal(name) if name else None
            if refusal is not None:
                await _drain(receive)
                body = json.dumps({"detail": refusal}).encode()
                await send({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
