"""Replying by e-mail, as a visitor's mail server would: a real SMTP client that hands a
mail to our receiver of replies (conversations.email_thread; the `receiver` fixture in
tests/conftest.py runs it)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage


def send(port: int, mail: EmailMessage) -> None:
    """Hand `mail` to the receiver (blocking: run it in a thread)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(mail)
