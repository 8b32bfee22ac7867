"""What an alert says. Plain text: recipients read it on a phone lock screen or in a mail client."""

from __future__ import annotations

from pipeline.schema import Alert

EXCERPT_CHARS = 280


def excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def alert_title(alert: Alert) -> str:
    return f"[threatline {alert.severity}] {alert.category.replace('_', '-')} — {alert.school or 'no school matched'}"


def alert_body(alert: Alert, ack_link: str | None) -> str:
    # The tipster's contact never travels in an alert; the item id leads to it in the console.
    # The alert id lets a receiver drop the duplicate that a crash mid-delivery can cause.
    why = "\n".join(f"- {line}" for line in alert.explanation) or "- (no explanation)"
    ack = f"Acknowledge: {ack_link}\n" if ack_link else "No acknowledgement needed.\n"
    if alert.escalation_level:
        ack = f"ESCALATED (level {alert.escalation_level}): nobody earlier in the chain acknowledged.\n{ack}"
    return f"{alert.excerpt}\n\nWhy flagged:\n{why}\n\n{ack}\nItem: {alert.item_id}\nAlert: {alert.id}"
