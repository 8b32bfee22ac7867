"""Who gets told about a flagged item, and telling them through apprise.

Routing here is the backbone's default (DESIGN.md §4): violence and weapons page the SRO;
self-harm goes to the counselor, never to police as a threat, with the SRO added for P1 only so
someone can do a welfare check. Rosters, shifts and escalation build on this (alerts issue).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import apprise
from pydantic import SecretStr

from pipeline.schema import Alert, ScoredItem

log = logging.getLogger(__name__)
EXCERPT_CHARS = 280


def roles_for(item: ScoredItem) -> list[str]:
    if item.category == "self_harm":
        return ["counselor", "sro"] if item.severity == "P1" else ["counselor"]
    return ["sro"]


def alert_for(item: ScoredItem) -> list[Alert]:
    excerpt = item.text if len(item.text) <= EXCERPT_CHARS else item.text[: EXCERPT_CHARS - 1] + "…"
    return [
        Alert(item_id=item.id, role=role, severity=item.severity, category=item.category,
              school=item.school, excerpt=excerpt, explanation=item.explanation)
        for role in roles_for(item)
    ]


def alert_title(alert: Alert) -> str:
    return f"[threatline {alert.severity}] {alert.category.replace('_', '-')} — {alert.school or 'no school matched'}"


def alert_body(alert: Alert) -> str:
    # The tipster's contact never travels in an alert; the item id leads to it in the console.
    # The alert id lets a receiver drop the duplicate that a crash mid-delivery can cause.
    why = "\n".join(f"- {line}" for line in alert.explanation) or "- (no explanation)"
    return f"{alert.excerpt}\n\nWhy flagged:\n{why}\n\nItem: {alert.item_id}\nAlert: {alert.id}"


class Dispatcher:
    """Sends an alert to every apprise URL configured for its role."""

    def __init__(self, urls_by_role: Mapping[str, Sequence[SecretStr | str]]):
        self._urls = {role: [_plain(u) for u in urls] for role, urls in urls_by_role.items()}

    def deliver(self, alert: Alert) -> tuple[str, list[str], str | None]:
        """Returns (status, recipients, error). Recipients are apprise service names, never URLs
        (URLs carry credentials)."""
        urls = self._urls.get(alert.role, [])
        if not urls:
            return "no_channel", [], f"no notification channel configured for role {alert.role!r}"
        notifier = apprise.Apprise()
        for url in urls:
            if not notifier.add(url):
                log.error("alert %s: an apprise URL for role %s is invalid", alert.id, alert.role)
        if len(notifier) == 0:
            return "failed", [], f"every channel for role {alert.role!r} is misconfigured"
        services = [s.service_name for s in notifier]
        if notifier.notify(title=alert_title(alert), body=alert_body(alert)):
            return "sent", services, None
        return "failed", services, "delivery failed on at least one channel"


def _plain(url: SecretStr | str) -> str:
    return url.get_secret_value() if isinstance(url, SecretStr) else url
