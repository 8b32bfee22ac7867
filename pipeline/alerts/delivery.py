"""Delivering one message to one person: their channels in order, each retried with backoff.

The first channel that accepts the message wins; a channel that keeps failing falls back to the
next one of the same person. When none works the caller escalates at once (alerts issue): a
person nobody can reach must not hold a page for five minutes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import apprise

from pipeline.alerts.roster import Person

log = logging.getLogger(__name__)

Notify = Callable[[str, str, str], bool]  # (apprise url, title, body) -> accepted


@dataclass(frozen=True)
class Attempt:
    channel: str  # the channel's type label (email, sms, webhook…), never its URL
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class Delivery:
    person: str
    status: Literal["delivered", "failed", "no_channel"]
    channel: str | None = None
    attempts: list[Attempt] = field(default_factory=list)


def apprise_notify(url: str, title: str, body: str) -> bool:
    notifier = apprise.Apprise()
    if not notifier.add(url):
        raise ValueError("the channel's apprise URL is invalid")
    return bool(notifier.notify(title=title, body=body))


def deliver(person: Person, title: str, body: str, *, retries: int = 2, backoff_s: float = 0.5,
            notify: Notify = apprise_notify, sleep: Callable[[float], None] = time.sleep) -> Delivery:
    """Try each of ``person``'s channels ``1 + retries`` times (backoff doubling) until one accepts."""
    if not person.channels:
        return Delivery(person.id, "no_channel")
    attempts: list[Attempt] = []
    for channel in person.channels:
        for attempt in range(retries + 1):
            if attempt:
                sleep(backoff_s * 2 ** (attempt - 1))
            try:
                ok, error = notify(channel.url.get_secret_value(), title, body), None
            except Exception as exc:  # noqa: BLE001 (a plugin's failure must not stop the fallback)
                # The type only: apprise exception texts can quote the URL and its credentials.
                ok, error = False, type(exc).__name__
            attempts.append(Attempt(channel.type, ok, error if not ok else None))
            if ok:
                return Delivery(person.id, "delivered", channel.type, attempts)
            log.warning("alert to %s via %s failed (attempt %d)", person.id, channel.type, attempt + 1)
    return Delivery(person.id, "failed", None, attempts)

