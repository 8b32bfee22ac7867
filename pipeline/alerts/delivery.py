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

EMAIL = "email"  # the roster label of a mailbox; an email-to-SMS gateway is labelled sms


@dataclass(frozen=True)
class Message:
    text: str  # every channel: SMS, push, webhooks, and email when there is no HTML
    html: str | None = None  # email channels only

    def for_channel(self, channel_type: str) -> Message:
        # By the roster's label, not the URL: an SMS gateway is a mailto:// URL too.
        return self if channel_type == EMAIL else Message(self.text)


Notify = Callable[[str, str, Message], bool]  # (apprise url, title, message) -> accepted


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


def apprise_notify(url: str, title: str, message: Message) -> bool:
    """One notification through apprise, which takes one body and its format per call.

    With HTML, apprise's email plugin sends multipart/alternative: our HTML, and a text/plain part
    it derives from it (apprise.conversion.html_to_text: block tags and <br> become line breaks,
    <li> becomes "- "), so ``alert_html`` is laid out for that. Text goes as TEXT, not apprise's
    default of no format: an HTML plugin (mailto:// to an SMS gateway) then escapes it and keeps
    its line breaks, where no format would paste it raw into the HTML part and its plain part
    would lose every line break."""
    notifier = apprise.Apprise()
    if not notifier.add(url):
        raise ValueError("the channel's apprise URL is invalid")
    if message.html is not None:
        return bool(notifier.notify(title=title, body=message.html, body_format=apprise.NotifyFormat.HTML))
    return bool(notifier.notify(title=title, body=message.text, body_format=apprise.NotifyFormat.TEXT))


def deliver(person: Person, title: str, message: Message, *, retries: int = 2, backoff_s: float = 0.5,
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
                ok, error = notify(channel.url.get_secret_value(), title, message.for_channel(channel.type)), None
            except Exception as exc:  # noqa: BLE001 (a plugin's failure must not stop the fallback)
                # The type only: apprise exception texts can quote the URL and its credentials.
                ok, error = False, type(exc).__name__
            attempts.append(Attempt(channel.type, ok, error if not ok else None))
            if ok:
                return Delivery(person.id, "delivered", channel.type, attempts)
            log.warning("message to %s via %s failed (attempt %d)", person.id, channel.type, attempt + 1)
    return Delivery(person.id, "failed", None, attempts)

