"""What an alert says: a plain-text body for every channel (phone lock screens, SMS, webhooks)
and an HTML body for email channels (pipeline.alerts.delivery.Message says which goes where).

Excerpts and explanations are untrusted (posts and tips are written by anyone): each is flattened
to one line in both parts, so it cannot fake extra lines of the message, and escaped in the HTML.
"""

from __future__ import annotations

import html
from datetime import datetime

from pipeline.alerts.delivery import Message
from pipeline.alerts.digest import _one_line as one_line
from pipeline.schema import Alert

EXCERPT_CHARS = 280


def excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def alert_title(alert: Alert) -> str:
    # Severity first and short: a lock screen shows the first forty-odd characters. A mail header: one line.
    return f"[threatline {alert.severity}] {alert.category.replace('_', '-')} — {_school(alert)}"


def _school(alert: Alert) -> str:
    return one_line(alert.school) or "no school matched"


def _why(alert: Alert) -> list[str]:
    return [one_line(line) for line in alert.explanation] or ["(no explanation)"]


def _escalated(alert: Alert) -> str:
    return f"ESCALATED (level {alert.escalation_level}): nobody earlier in the chain acknowledged."


def _paged(alert: Alert) -> str:
    """Who asked for this page in the console ("Page now", Escalate), while that is the news."""
    last = alert.history[-1] if alert.history else None
    if last is None or last.event != "paged":
        return ""
    return f"PAGED by {one_line(last.by or 'someone')} from the review console ({one_line(last.detail or '')})."


def alert_body(alert: Alert, ack_link: str | None) -> str:
    # The tipster's contact never travels in an alert; the item id leads to it in the console.
    # The alert id lets a receiver drop the duplicate that a crash mid-delivery can cause.
    why = "\n".join(f"- {line}" for line in _why(alert))
    ack = f"Acknowledge: {ack_link}\n" if ack_link else "No acknowledgement needed.\n"
    if alert.escalation_level:
        ack = f"{_escalated(alert)}\n{ack}"
    if _paged(alert):
        ack = f"{_paged(alert)}\n{ack}"
    return f"{one_line(alert.excerpt)}\n\nWhy flagged:\n{why}\n\n{ack}\nItem: {alert.item_id}\nAlert: {alert.id}"


# Inline styles only and no <style>, scripts or images: mail clients drop or block them.
# apprise derives the text/plain part from this HTML (pipeline.alerts.delivery.apprise_notify), so
# sections are zero-margin blocks parted by a <br>, which that part keeps as a blank line, and no
# whitespace sits between tags (its converter turns that into stray blank lines).
_FONT = "font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.45;color:#1a1a1a"
_HEADING = "margin:0;font-size:18px"
_BANNER = "margin:0;padding:10px 12px;background:#b00020;color:#ffffff;font-weight:bold"
_QUOTE = "margin:0;padding:8px 12px;border-left:4px solid #8a8a8a;background:#f2f2f2"
_SMALL = "margin:0;font-size:12px;color:#555555"


def _page(title: str, *sections: str) -> str:
    body = "<br>".join(s for s in sections if s)
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
            f'<body style="margin:0;padding:12px"><div style="{_FONT};max-width:600px">{body}</div>'
            "</body></html>")


def _ack_block(ack_link: str | None) -> str:
    if not ack_link:
        return '<p style="margin:0">No acknowledgement needed.</p>'
    # The address shown as the link's text, not hidden behind a button label: the plain part
    # apprise derives keeps only visible text, and it must still carry the link.
    link = html.escape(ack_link)
    return (f'<p style="margin:0"><strong>Acknowledge:</strong> '
            f'<a href="{link}" style="color:#0b57d0;font-weight:bold">{link}</a></p>')


def alert_html(alert: Alert, ack_link: str | None) -> str:
    """The email body: what ``alert_body`` says, laid out; every value escaped."""
    x = html.escape  # quote=True: safe in text and in attribute values
    heading = f"{alert.severity} · {alert.category.replace('_', '-')} · {_school(alert)}"
    banner = "<br>".join(f'<p style="{_BANNER}">{x(line)}</p>' for line in (
        _escalated(alert) if alert.escalation_level else "", _paged(alert)) if line)
    why = "".join(f"<li>{x(line)}</li>" for line in _why(alert))
    return _page(alert_title(alert), banner,
                 f'<h2 style="{_HEADING}">{x(heading)}</h2>',
                 f'<div style="{_QUOTE}">{x(one_line(alert.excerpt))}</div>',
                 '<p style="margin:0;font-weight:bold">Why flagged:</p>'
                 f'<ul style="margin:4px 0 0;padding-left:20px">{why}</ul>',
                 _ack_block(ack_link),
                 f'<p style="{_SMALL}">Item: {x(alert.item_id)}<br>Alert: {x(alert.id)}</p>')


def alert_message(alert: Alert, ack_link: str | None) -> Message:
    return Message(text=alert_body(alert, ack_link), html=alert_html(alert, ack_link))


TEST_PAGE_TITLE = "threatline test page — no action needed"


def message_for_test_page(name: str, channel_type: str, sent_by: str, at: datetime) -> Message:
    """A test of one channel: says so in the first words, and names no item and no alert."""
    lines = [f"This is a test page from threatline for {one_line(name)} through their {channel_type} channel.",
             "No action needed: there is no alert and nothing to acknowledge.",
             f"Sent by {one_line(sent_by)} at {at:%Y-%m-%d %H:%M} UTC."]
    return Message(text="\n".join([TEST_PAGE_TITLE, "", *lines]),
                   html=_page(TEST_PAGE_TITLE, f'<h2 style="{_HEADING}">{TEST_PAGE_TITLE}</h2>',
                              "".join(f'<p style="margin:0">{html.escape(line)}</p>' for line in lines)))
