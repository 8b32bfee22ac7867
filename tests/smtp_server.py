"""A real SMTP server (aiosmtpd) on loopback that keeps every message it accepts."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from contextlib import contextmanager
from email.message import EmailMessage

from aiosmtpd.controller import Controller


class Mailbox:
    def __init__(self):
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.received_at: list[float] = []  # time.perf_counter() of each message, same order
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.arrived:
            self.messages.append((list(envelope.rcpt_tos), message))
            self.received_at.append(time.perf_counter())
            self.arrived.notify_all()
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.arrived:
            return [m for rcpt, m in self.messages if address in rcpt]

    @staticmethod
    def text(message: EmailMessage) -> str:
        part = message.get_body(("plain", "html"))
        return part.get_content() if part is not None else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def smtp_server():
    """Yields (mailto URL builder, mailbox); ``url("x@example.org")`` is an apprise URL to it."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield (lambda to: f"mailto://127.0.0.1:{port}?from=threatline@example.org&to={to}&mode=insecure"), mailbox
    finally:
        controller.stop()
