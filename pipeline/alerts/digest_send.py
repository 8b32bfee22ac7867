"""Sending the daily digest (docs/alerts-ack-digest.md): read what it needs from the store, build
one digest per school (pipeline.alerts.digest), mail each to the people who hold a duty for that
school, and leave one audit record per digest saying which items went to whom.

Only channels labelled ``email`` are used: a digest is a long read, not something to push to a
phone as SMS. Everything else (retries, backoff, a person's next email address when the first
fails) is ``pipeline.alerts.delivery.deliver``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.alerts.delivery import Message, Notify, apprise_notify, deliver
from pipeline.alerts.digest import OPEN_STATUSES, Digest, build_digests
from pipeline.alerts.roster import ROLES, Person, Roster
from pipeline.bootstrap import build_roster, district_schools
from pipeline.config import Settings
from pipeline.schema import ReviewEvent, audit_document, utcnow
from pipeline.store import ItemQuery, Store
from pipeline.store.paging import every_item

log = logging.getLogger("threatline.digest")

ACTOR = "threatline-digest"
ROLE = "system"
CHANNEL_TYPE = "email"
PAGE_SIZE = 500


@dataclass(frozen=True)
class Planned:
    digest: Digest
    recipients: tuple[Person, ...]  # copies holding only their email channels


@dataclass
class SchoolReport:
    school: str | None  # None: the digest of items that matched no configured school
    items: int
    recipients: list[str]  # roster ids, never addresses
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@dataclass
class DigestReport:
    now: str
    schools: list[SchoolReport] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(len(s.failed) for s in self.schools)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- what to send --------------------------------------------------------------------------------

def fetch_items(store: Store, page_size: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """Every item a digest may list: every P3 item and every open or escalated one.

    All P3 items, not the last day's: the store filters on when a post was written, the digest on
    when it was flagged, and a late crawl flags last week's posts today. The builder picks."""
    docs: dict[str, dict[str, Any]] = {}
    for query in (ItemQuery(severity=("P3",)), ItemQuery(status=tuple(sorted(OPEN_STATUSES)))):
        for hit in every_item(store, query, page_size):
            docs.setdefault(hit.id, hit.doc)
    return list(docs.values())


def recipients(roster: Roster, school: str | None, now: datetime) -> list[Person]:
    """Who gets ``school``'s digest, in roster order, each holding only their email channels.

    Everyone with a duty there whatever the hour: every weekly shift covering the school, an
    override covering it today, the escalation lists that apply to it, its admins. The digest of
    items that matched no school goes to the admins for all schools only."""
    if school is None:
        ids = {p.id for p in roster.admins(None)}
    else:
        def covers(schools: tuple[str, ...] | None) -> bool:
            return schools is None or school in schools

        ids = {s.person for s in roster.data.shifts if covers(s.schools)}
        for o in roster.data.overrides:
            # Today only: a stand-in from last month's training day is not this school's staff.
            today = now.astimezone(ZoneInfo(o.timezone or roster.timezone)).date()
            if o.person and covers(o.schools) and o.dates[0] <= today <= o.dates[1]:
                ids.add(o.person)
        for role in ROLES:
            ids |= {p.id for p in roster.chain(role, school, now)}
        ids |= {p.id for p in roster.admins(school)}
    chosen = []
    for person in roster.data.people:
        emails = tuple(c for c in person.channels if c.type == CHANNEL_TYPE)
        if person.id in ids and emails:
            chosen.append(person.model_copy(update={"channels": emails}))
    return chosen


def prepare(settings: Settings, store: Store, now: datetime, *, school: str | None = None) -> list[Planned]:
    """The digests to send now and who gets each. ``school`` limits it to that school's digest."""
    names = district_schools(settings)
    if school is not None and school not in names:
        raise ValueError(f"unknown school {school!r} (known: {', '.join(names)})")
    # The roster first: a broken roster fails before the store is read.
    roster = build_roster(settings)
    digests = build_digests(fetch_items(store), now, settings.general.timezone, names)
    if school is not None:
        digests = [d for d in digests if d.school == school]
    return [Planned(d, tuple(recipients(roster, d.school, now))) for d in digests]


# --- sending -------------------------------------------------------------------------------------

def digest_event(digest: Digest, result: SchoolReport, now: datetime) -> ReviewEvent:
    # Ids and roster ids only: the audit trail outlives the items and must not copy their text.
    return ReviewEvent(actor=ACTOR, role=ROLE, action="digest", at=now, reason="daily digest",
                       details={"school": digest.school, "item_ids": list(digest.item_ids),
                                "sent_to": result.sent, "failed": result.failed})


def send(plans: Sequence[Planned], store: Store, settings: Settings, now: datetime, *,
         notify: Notify = apprise_notify, sleep: Callable[[float], None] = time.sleep) -> DigestReport:
    """Mail each digest to each of its recipients; one audit record per digest, written right
    after it went out, so a failure later in the run loses no record of what was already sent."""
    report = DigestReport(now=now.isoformat())
    for plan in plans:
        digest = plan.digest
        result = SchoolReport(digest.school, len(digest.item_ids), [p.id for p in plan.recipients])
        if not plan.recipients:
            log.warning("digest for %s: nobody with an email channel holds a duty there", digest.school or "no school")
        for person in plan.recipients:
            delivery = deliver(person, digest.subject, Message(digest.text, digest.html), retries=settings.alerts.delivery_retries,
                               backoff_s=settings.alerts.delivery_backoff_s, notify=notify, sleep=sleep)
            (result.sent if delivery.status == "delivered" else result.failed).append(person.id)
        if plan.recipients:
            store.append_audit([audit_document(digest_event(digest, result, now))])
        report.schools.append(result)
    return report


def send_daily_digest(settings: Settings, now: datetime | None = None, *, school: str | None = None,
                      **kwargs: Any) -> DigestReport:
    """Build the store from config, then ``prepare`` and ``send`` (the flow and `digest --send`)."""
    from pipeline.bootstrap import build_store

    now = now or utcnow()
    store = build_store(settings)
    try:
        return send(prepare(settings, store, now, school=school), store, settings, now, **kwargs)
    finally:
        store.close()
