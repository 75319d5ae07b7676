"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives, for assertions.

It can be told to refuse mail (a 451), so tests see what users see when SMTP fails.
"""

from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        return body.get_content() if body is not None else ""

    def link(self, path: str) -> str:
        m = re.search(rf"https?://\S+{re.escape(path)}\?token=[\w\-]+", self.text)
        assert m, f"no {path} link in mail: {self.text!r}"
        return m.group(0)


@dataclass
class _Handler:
    mails: list[Received] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    refuse: bool = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "451 4.3.0 Try again later"
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        with self.cond:
            self.mails.append(Received(to=list(envelope.rcpt_tos), message=msg))
            self.cond.notify_all()
        return "250 OK"


class SmtpTestServer:
    def __init__(self) -> None:
        self.handler = _Handler()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self._port = int(s.getsockname()[1])
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self._port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    @property
    def port(self) -> int:
        return self._port

    def set_refusing(self, refuse: bool) -> None:
        self.handler.refuse = refuse

    def wait_for(self, to: str, subject_contains: str, timeout: float = 20.0) -> Received:
        """Block until a matching mail arrives (newest first); raise if none in time."""

        def find() -> Received | None:
            for mail in reversed(self.handler.mails):
                if to.lower() in [t.lower() for t in mail.to] and subject_contains in mail.subject:
                    return mail
            return None

        with self.handler.cond:
            ok = self.handler.cond.wait_for(lambda: find() is not None, timeout=timeout)
            found = find()
        assert ok and found is not None, f"no mail to {to} about {subject_contains!r}"
        return found

    def forget(self) -> None:
        """Drop what was received so far: a test counts only its own mail."""
        with self.handler.cond:
            self.handler.mails.clear()

    def count_to(self, to: str, subject_contains: str = "") -> int:
        with self.handler.cond:
            return sum(1 for m in self.handler.mails if to.lower() in [t.lower() for t in m.to]
                       and subject_contains in m.subject)
