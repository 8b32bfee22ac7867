"""Retention of flagged items (DESIGN.md §7): decided items are deleted once their class's time is
up, one audit record per deleted item proves it. ``purge_all`` also trims the embedded bus
(``purge_bus``) and the tip threads (``pipeline.tipline.retention``); docs/retention.md.

Classes, from the item's ``review``:

- ``dismissed`` (``store.dismissed_retention_days``, 30): dismissed, or resolved with
  ``review.outcome`` "no action". Nobody acted on them, so they are kept only long enough for a
  second look at false alarms.
- ``actioned`` (``store.actioned_retention_days``, 365): escalated, or resolved with any other
  outcome (or none recorded: deleting too early cannot be undone, keeping a case longer can).
- ``open``: open, acknowledged, assigned, or any status this module does not know. Never purged
  automatically: an undecided item must be decided by a person, and a clock must not close a
  possible threat that nobody looked at.

A purged item's alerts stay (who was paged, who acknowledged, when) without its words: their
excerpt and explanation are replaced. The audit record names the item, never its text.

The clock starts at the item's last review change (``review.updated``), or at ``@timestamp`` when
no review time was recorded. The same rules hold on both stores: Elasticsearch ILM deletes whole
indices, so it cannot tell a dismissed item from an open case in the same index (see
``pipeline.store.elasticsearch.ilm_policies``); this module deletes item by item on either.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pipeline.config import Settings
from pipeline.schema import ReviewEvent, audit_document, stable_id, utcnow
from pipeline.store import ConflictError, ItemQuery, NotFound, Store, StoredDoc, StoreError
from pipeline.store.paging import epoch_ms, from_ms, hit_ms, parse_time

log = logging.getLogger("threatline.retention")

RetentionClass = Literal["dismissed", "actioned", "open"]
PURGED_CLASSES: tuple[RetentionClass, ...] = ("dismissed", "actioned")
ACTOR = "threatline-retention"
ROLE = "system"
NO_ACTION_OUTCOMES = frozenset({"no_action", "none"})
# The classes each review status can fall in; "resolved" depends on the outcome.
STATUS_CLASSES: dict[str, tuple[RetentionClass, ...]] = {
    "dismissed": ("dismissed",),
    "resolved": ("dismissed", "actioned"),
    "escalated": ("actioned",),
}
PAGE_SIZE = 500
# An alert keeps its delivery and acknowledgement record (accountability, time-to-ack charts) but
# not the item's words once the item is purged.
REDACTED_EXCERPT = "[removed by the retention purge]"
ALERT_UPDATE_ATTEMPTS = 3


# --- pure rules ----------------------------------------------------------------------------------


def _review(doc: dict[str, Any]) -> dict[str, Any]:
    review = doc.get("review")
    return review if isinstance(review, dict) else {}


def outcome_key(value: Any) -> str | None:
    """``"No action"``, ``"no-action"`` and ``"no_action"`` are one outcome."""
    return re.sub(r"[\s\-]+", "_", value.strip().lower()) if isinstance(value, str) else None


def retention_class(doc: dict[str, Any]) -> RetentionClass:
    review = _review(doc)
    status = review.get("status")
    if status == "dismissed":
        return "dismissed"
    if status == "escalated":
        return "actioned"
    if status == "resolved":
        return "dismissed" if outcome_key(review.get("outcome")) in NO_ACTION_OUTCOMES else "actioned"
    return "open"


def last_change(doc: dict[str, Any]) -> datetime | None:
    """Where the retention clock starts: ``review.updated``, else ``@timestamp``.

    None when the review time is present but unreadable: falling back to ``@timestamp`` then
    could delete an item dismissed yesterday about a post from last year."""
    updated = _review(doc).get("updated")
    if updated is not None:
        return parse_time(updated)
    return parse_time(doc.get("@timestamp"))


def retention_days(settings: Settings) -> dict[str, int]:
    return {"dismissed": settings.store.dismissed_retention_days, "actioned": settings.store.actioned_retention_days}


def expiry(doc: dict[str, Any], days: dict[str, int]) -> datetime | None:
    """When the item may be purged; None if never automatically (open) or its clock is unreadable."""
    cls = retention_class(doc)
    start = last_change(doc)
    if cls == "open" or start is None:
        return None
    return start + timedelta(days=days[cls])


def is_expired(doc: dict[str, Any], now: datetime, days: dict[str, int]) -> bool:
    """Kept for exactly ``days`` after the last change; purged strictly after."""
    ends = expiry(doc, days)
    return ends is not None and ends < now


def purge_reason(cls: str, days: int) -> str:
    # One fixed string per class and setting: the audit index keeps ``reason`` as a keyword, so
    # purges can be counted per class there (the date goes in ``details``).
    return f"retention: {cls} item, kept {days} days after its last review change"


def redact_alert(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The alert document without the item's text and explanation; None if already so."""
    if doc.get("excerpt") == REDACTED_EXCERPT and not doc.get("explanation"):
        return None
    return {**doc, "excerpt": REDACTED_EXCERPT, "explanation": []}


def purge_event(doc: dict[str, Any], item_id: str, now: datetime, days: dict[str, int],
                alerts_redacted: int = 0) -> ReviewEvent:
    """The audit record of one purge. Names the item and its class, never its text or author:
    the audit trail outlives the item and must not keep what retention just deleted."""
    cls = retention_class(doc)
    start = last_change(doc)
    if cls == "open" or start is None:
        raise ValueError(f"item {item_id} has no retention clock; only expired items are purged")
    threat = doc.get("threat") if isinstance(doc.get("threat"), dict) else {}
    return ReviewEvent(
        # Stable per item and clock: a purge retried after a crash writes no second record, while
        # the same post indexed and decided again later gets a record of its own.
        id=stable_id("purge", item_id, start.isoformat()),
        item_id=item_id,
        actor=ACTOR,
        role=ROLE,
        action="purge",
        reason=purge_reason(cls, days[cls]),
        at=now,
        details={
            "retention_class": cls,
            "retention_days": days[cls],
            "review_status": _review(doc).get("status"),
            "last_change": start.isoformat(),
            "severity": threat.get("severity"),
            "category": threat.get("category"),
            "school": threat.get("school"),
            "alerts_redacted": alerts_redacted,
        },
    )


# --- the purge ------------------------------------------------------------------------------------


@dataclass
class PurgeReport:
    dry_run: bool
    now: str
    checked: int = 0  # decided items read because their time might be up
    # Per class; in a dry run, what would have been purged.
    purged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PURGED_CLASSES, 0))
    unreadable: list[str] = field(default_factory=list)  # kept: their review time is not a date
    alerts_redacted: int = 0  # alerts of purged items whose excerpt was removed

    @property
    def total(self) -> int:
        return sum(self.purged.values())


def sweep(store: Store, statuses: Sequence[str], since: datetime | None, until: datetime | None,
          handle: Callable[[list[StoredDoc]], set[str]], page_size: int = PAGE_SIZE) -> None:
    """Hand every item with one of ``statuses`` and ``since <= @timestamp < until`` to ``handle``
    a page at a time, oldest first; ``handle`` returns the ids it deleted.

    Keyset paging on (@timestamp, id): each query starts at the last page's timestamp and skips
    the items kept there. A plain offset would pass Elasticsearch's 10,000-hit limit on a large
    store and would shift as deleted items leave the result."""
    since_ms = None if since is None else epoch_ms(since)
    skip = 0
    previous: list[str] | None = None
    while True:
        start = None if since_ms is None else from_ms(since_ms)
        hits = store.search_items(ItemQuery(status=tuple(statuses), since=start, until=until, sort="oldest",
                                            size=page_size, offset=skip)).hits
        if not hits:
            return
        page_ids = [h.id for h in hits]
        if page_ids == previous:
            raise StoreError(f"retention purge made no progress at items {page_ids[:3]}…: deleted items still found")
        previous = page_ids
        deleted = handle(hits)
        last_ms = hit_ms(hits[-1])
        if last_ms is None:  # a timestamp only the store could read: fall back to an offset
            skip += sum(h.id not in deleted for h in hits)
        else:
            kept_at_last = sum(hit_ms(h) == last_ms and h.id not in deleted for h in hits)
            if last_ms == since_ms:  # the whole page sits on one millisecond
                skip += kept_at_last
            else:
                since_ms, skip = last_ms, kept_at_last
        if len(hits) < page_size:
            return


def redact_alerts(store: Store, alerts: list[StoredDoc]) -> None:
    for alert in alerts:
        current = alert
        for _ in range(ALERT_UPDATE_ATTEMPTS):
            doc = redact_alert(current.doc)
            if doc is None:
                break
            try:
                store.update_alert(current.id, doc, current.version)
                break
            except NotFound:
                break
            except ConflictError:  # changed meanwhile (an escalation sweep): redo on the new version
                current = store.get_alert(current.id)
                if current is None:
                    break
        else:
            raise ConflictError(f"alert {alert.id} kept changing; its item stays until the next purge")


def purge_items(store: Store, settings: Settings, now: datetime, *, dry_run: bool = False,
                page_size: int = PAGE_SIZE) -> PurgeReport:
    """Delete the decided items whose retention has passed: audit record, then the item's words
    out of its alerts, then the item.

    Audit first: a crash after it leaves a record whose item the next run deletes (the record's
    id is stable, so it is not written twice), never a deletion nobody can account for.
    """
    # Whole milliseconds, as the stores keep times: the query bounds mean what the checks mean.
    now = from_ms(epoch_ms(now))
    days = retention_days(settings)
    report = PurgeReport(dry_run=dry_run, now=now.isoformat())

    def handle(hits: list[StoredDoc]) -> set[str]:
        report.checked += len(hits)
        expired: list[StoredDoc] = []
        for hit in hits:
            if retention_class(hit.doc) != "open" and last_change(hit.doc) is None:
                report.unreadable.append(hit.id)
            elif is_expired(hit.doc, now, days):
                expired.append(hit)
        if not expired:
            return set()
        alerts = {h.id: [a for a in store.search_alerts(item_id=h.id) if redact_alert(a.doc) is not None]
                  for h in expired}
        for hit in expired:
            report.purged[retention_class(hit.doc)] += 1
            report.alerts_redacted += len(alerts[hit.id])
        if dry_run:
            return set()
        store.append_audit([audit_document(purge_event(h.doc, h.id, now, days, len(alerts[h.id])))
                            for h in expired])
        for hit in expired:
            redact_alerts(store, alerts[hit.id])
        gone = store.delete_items([h.id for h in expired])
        log.info("retention: %d item(s) purged (%d already gone)", gone, len(expired) - gone)
        return {h.id for h in expired}

    # One sweep per distinct horizon: a status is read once its shortest possible retention is up.
    horizons: dict[int, list[str]] = {}
    for status, classes in STATUS_CLASSES.items():
        horizons.setdefault(min(days[c] for c in classes), []).append(status)
    for horizon, statuses in sorted(horizons.items()):
        # The store filters on @timestamp, which precedes the review, so an item whose last change
        # is older than the horizon is older than it too. A source's timestamp in the future would
        # hide an item from that query forever: the second window reads those few as well.
        sweep(store, statuses, None, now - timedelta(days=horizon), handle, page_size)
        sweep(store, statuses, now, None, handle, page_size)
    if report.unreadable:
        log.warning("retention: %d decided item(s) kept because review.updated is not a date: %s",
                    len(report.unreadable), ", ".join(report.unreadable[:10]))
    return report


# --- the bus ---------------------------------------------------------------------------------------


@dataclass
class BusPurgeReport:
    backend: str
    retention_days: int
    # Per topic, messages older than the retention deleted (in a dry run: that would be). Empty
    # on Kafka: the broker drops them by the topics' retention.ms, which setup sets.
    messages: dict[str, int] = field(default_factory=dict)
    unconsumed: int = 0  # of those, messages a consumer group had not committed past yet

    @property
    def total(self) -> int:
        return sum(self.messages.values())


def purge_bus(settings: Settings, now: datetime, *, dry_run: bool = False) -> BusPurgeReport:
    """Embedded bus messages older than ``bus.raw_retention_days``, on every topic.

    Unconsumed ones go too: a post nobody classified within the retention is no early warning
    any more, and a stage that was down must not extend how long students' words are kept. They
    are counted and logged so the outage shows."""
    from pipeline.bus import TOPICS
    from pipeline.bus.embedded import EmbeddedBus

    days = settings.bus.raw_retention_days
    report = BusPurgeReport(settings.bus.backend, days)
    path = settings.data_dir / settings.bus.sqlite_file
    if settings.bus.backend != "embedded" or not path.exists():
        return report
    before = (now - timedelta(days=days)).timestamp()
    with EmbeddedBus(path) as bus:
        for topic in (settings.topic(t) for t in TOPICS):
            old, unread = bus.count_before(topic, before)
            report.messages[topic] = bus.delete_before(topic, before) if old and not dry_run else old
            report.unconsumed += unread
    verb = "would delete" if dry_run else "deleted"
    log.info("bus retention: %s %d message(s) older than %d days", verb, report.total, days)
    if report.unconsumed:
        log.warning("bus retention: %s %d message(s) older than %d days that a consumer group had not read yet",
                    verb, report.unconsumed, days)
    return report


# --- everything -----------------------------------------------------------------------------------


@dataclass
class RetentionReport:
    items: PurgeReport
    threads: int | None  # tip threads deleted; None in a dry run (the thread store cannot count them)
    bus: BusPurgeReport

    def as_dict(self) -> dict[str, Any]:
        return {"items": {**asdict(self.items), "total": self.items.total},
                "bus": {**asdict(self.bus), "total": self.bus.total}, "threads": self.threads}


def purge_all(settings: Settings, now: datetime | None = None, *, dry_run: bool = False) -> RetentionReport:
    """Flagged items, bus messages and tip threads, each past its retention.

    Every step runs even when another fails (they share nothing, and one unreachable store must
    not keep the rest past their time); the first failure is raised afterwards so the flow run
    shows as failed."""
    from pipeline.bootstrap import build_store
    from pipeline.tipline.retention import purge_threads

    now = now or utcnow()
    failures: list[Exception] = []

    def step(what: str, run: Callable[[], Any]) -> Any:
        try:
            return run()
        except Exception as exc:  # noqa: BLE001 - raised below, after the other steps
            log.error("retention: purging %s failed: %s", what, exc)
            failures.append(exc)
            return None

    def items() -> PurgeReport:
        store = build_store(settings)
        try:
            return purge_items(store, settings, now, dry_run=dry_run)
        finally:
            store.close()

    report = RetentionReport(
        items=step("flagged items", items),
        threads=None if dry_run else step("tip threads", lambda: purge_threads(settings, now)),
        bus=step("bus messages", lambda: purge_bus(settings, now, dry_run=dry_run)),
    )
    if failures:
        raise failures[0]
    return report
