"""The daily digest: one email per school listing what needs a look (docs/alerts-ack-digest.md).

A digest covers P3 items flagged in the last 24 hours, whatever their review status, and every
item still open or escalated, whatever its age or severity. Pure: the caller fetches the item
documents (pipeline.schema.item_document shape), passes the clock, and sends what comes back.

Everything taken from an item is untrusted (posts and tips are written by anyone): it is escaped
in the HTML part and flattened to one line in both parts, so a post cannot inject markup or fake
extra entries. The tipster's contact (``threat.tip.contact``) is never read at all.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.schema import SEVERITY_RANK, dotted

WINDOW = timedelta(hours=24)
OPEN_STATUSES = frozenset({"open", "escalated"})
EXCERPT_CHARS = 200
WHY_CHARS = 200
NO_SCHOOL = "no school matched"
# Bidi overrides and isolates can make an excerpt display as different text than it is.
_BIDI = dict.fromkeys(map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


@dataclass(frozen=True)
class Digest:
    school: str | None  # None: items that matched no configured school
    subject: str
    text: str
    html: str
    item_ids: tuple[str, ...] = ()  # what this digest lists, in order, for the audit trail


@dataclass(frozen=True)
class _Entry:
    id: str
    severity: str
    category: str
    status: str
    at: datetime | None
    new: bool
    source: str
    excerpt: str
    why: str
    school: str | None  # shown only in the no-school digest, for schools not configured

    def sort_key(self) -> tuple:
        # Most severe first; within a severity oldest first (the longest-waiting open item leads);
        # items without a time last; the id settles ties so the order never depends on the input.
        return (-SEVERITY_RANK.get(self.severity, 0), self.at is None,
                self.at or datetime.min.replace(tzinfo=UTC), self.id)


def build_digests(items: Iterable[Mapping[str, Any]], now: datetime, timezone: str | tzinfo,
                  schools: Sequence[str], *, include_empty: bool = False,
                  window: timedelta = WINDOW) -> list[Digest]:
    """One digest per school in ``schools`` (in that order), then one for items with no school
    or a school not in ``schools``. A digest with nothing to list is left out unless
    ``include_empty``, when it says "nothing new" (so silence never has to mean "it broke").

    "Flagged in the last 24 hours" means ``event.created`` in [now - window, now): consecutive
    daily runs tile time with no gap and no overlap.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime {now.isoformat()}: pass a timezone-aware instant")
    tz = _zone(timezone)
    since = now - window
    known = list(dict.fromkeys(schools))
    buckets: dict[str | None, list[_Entry]] = {school: [] for school in (*known, None)}
    seen: set[str] = set()
    for doc in items:
        item_id = _one_line(dotted(doc, "event.id"))
        if item_id and item_id in seen:
            continue  # the same item twice (overlapping store pages) is listed once
        entry = _entry(doc, item_id or "(no id)", since, now)
        if entry is None:
            continue
        seen.add(item_id)
        buckets[entry.school if entry.school in buckets else None].append(entry)

    digests = []
    for school, entries in buckets.items():
        if entries or include_empty:
            entries.sort(key=_Entry.sort_key)
            digests.append(_render(school, entries, now, since, tz))
    return digests


# --- selection -----------------------------------------------------------------------------------

def _entry(doc: Mapping[str, Any], item_id: str, since: datetime, now: datetime) -> _Entry | None:
    severity = _one_line(dotted(doc, "threat.severity")) or "none"
    # No review status means nobody has reviewed it: treat as open rather than hide it.
    status = _one_line(dotted(doc, "review.status")) or "open"
    flagged = _instant(dotted(doc, "event.created")) or _instant(doc.get("@timestamp"))
    new = flagged is not None and since <= flagged < now
    if status not in OPEN_STATUSES and not (severity == "P3" and new):
        return None
    explanation = dotted(doc, "threat.explanation")
    first = explanation[0] if isinstance(explanation, list) and explanation else None
    return _Entry(
        id=item_id,
        severity=severity,
        category=(_one_line(dotted(doc, "threat.category")) or "none").replace("_", "-"),
        status=status,
        at=_instant(doc.get("@timestamp")) or flagged,
        new=new,
        source=_one_line(dotted(doc, "event.provider")) or "unknown source",
        excerpt=_cut(_one_line(doc.get("message")), EXCERPT_CHARS),
        why=_cut(_one_line(first), WHY_CHARS) or "(no explanation)",
        school=_one_line(dotted(doc, "threat.school")) or _one_line(dotted(doc, "labels.school")) or None,
    )


def _instant(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value  # store times are UTC


def _one_line(value: Any) -> str:
    """Untrusted text as one clean line: bidi controls dropped, control characters and runs of
    whitespace one space."""
    if value is None:
        return ""
    text = str(value).translate(_BIDI)
    text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)
    return re.sub(r"\s+", " ", text).strip()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _zone(timezone: str | tzinfo) -> tzinfo:
    if isinstance(timezone, tzinfo):
        return timezone
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {timezone!r}") from None


# --- rendering -----------------------------------------------------------------------------------

def _local(at: datetime | None, tz: tzinfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if at else "time unknown"


def _render(school: str | None, entries: list[_Entry], now: datetime, since: datetime, tz: tzinfo) -> Digest:
    label = _one_line(school) or NO_SCHOOL  # the subject is a mail header: one line only
    day = now.astimezone(tz).strftime("%Y-%m-%d")
    new = sum(e.new for e in entries)
    summary = f"{len(entries)} item{'s' if len(entries) != 1 else ''}, {new} new" if entries else "nothing new"
    subject = f"[threatline digest] {label} — {day}: {summary}"
    scope = (f"P3 items flagged since {_local(since, tz)} and every item still open or escalated, "
             "most severe first.")
    nothing = f"Nothing new: no P3 items flagged since {_local(since, tz)} and no open items."
    footer = "Open an item in the review console by its id. Digests never include a tipster's contact details."

    def heads(e: _Entry) -> list[str]:
        parts = [f"{e.severity} {e.category}", e.status + (" (new)" if e.new else ""), _local(e.at, tz)]
        if school is None and e.school:
            parts.append(f"school not configured: {e.school}")
        return parts

    lines = [f"threatline daily digest — {label} — {day}", scope, ""]
    if not entries:
        lines += [nothing, ""]
    for n, e in enumerate(entries, 1):
        lines += [f"{n}. " + " · ".join(heads(e)),
                  f"   Source: {e.source}",
                  f"   Excerpt: {e.excerpt or '(empty)'}",
                  f"   Why: {e.why}",
                  f"   Item: {e.id}",
                  ""]
    text = "\n".join([*lines, footer]) + "\n"

    x = html.escape  # quote=True by default: safe in text and in attribute values
    body = [
        "<!doctype html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{x(subject)}</title></head>",
        '<body style="font-family:sans-serif;max-width:46em">',
        f"<h1 style=\"font-size:1.3em\">threatline daily digest — {x(label)} — {x(day)}</h1>",
        f"<p>{x(scope)}</p>",
    ]
    if not entries:
        body.append(f"<p><strong>{x(nothing)}</strong></p>")
    else:
        body.append("<ol>")
        for e in entries:
            first, *rest = heads(e)
            body += [
                '<li style="margin-bottom:1em">',
                f"<p><strong>{x(first)}</strong> · " + " · ".join(x(h) for h in rest) + "</p>",
                f"<p>Source: {x(e.source)}</p>",
                f"<blockquote>{x(e.excerpt or '(empty)')}</blockquote>",
                f"<p>Why: {x(e.why)}</p>",
                f"<p>Item: <code>{x(e.id)}</code></p>",
                "</li>",
            ]
        body.append("</ol>")
    body += [f"<p><small>{x(footer)}</small></p>", "</body></html>"]
    return Digest(school=school, subject=subject, text=text, html="\n".join(body) + "\n",
                  item_ids=tuple(e.id for e in entries))
