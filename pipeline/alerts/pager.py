"""Paging people about flagged items: route, deliver down the chain, merge repeats, escalate, ack.

The alert record in the store is the single source of truth (its id is derived from item and
role): the alert stage, the escalation sweep and acknowledgements all change it with optimistic
concurrency, so whichever runs second sees what the first did. Deliveries happen outside a store
update and are recorded after; a crash in between can resend one message (at-least-once), never
lose it, and the alert id in the message lets a reader spot the duplicate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipeline import metrics
from pipeline.alerts.ack import ack_url, sign
from pipeline.alerts.delivery import Delivery, Notify, apprise_notify, deliver
from pipeline.alerts.messages import alert_message, alert_title, excerpt
from pipeline.alerts.roster import Person, Roster
from pipeline.alerts.rules import RoutingRules
from pipeline.schema import (
    OPEN_ALERT_STATUSES,
    SEVERITY_RANK,
    Alert,
    AlertEvent,
    ReviewEvent,
    ScoredItem,
    alert_document,
    audit_document,
    stable_id,
    utcnow,
)
from pipeline.store import ConflictError, NotFound, Store, StoreUnavailable

log = logging.getLogger(__name__)
PIPELINE = "threatline"
UPDATE_ATTEMPTS = 5
OPEN_ALERTS_SCAN = 1000


@dataclass(frozen=True)
class PagerPolicy:
    ack_secrets: list[str]
    console_url: str
    ack_link_ttl: timedelta = timedelta(hours=24)
    dedup_window: timedelta = timedelta(minutes=30)
    unreached_retry: timedelta = timedelta(seconds=60)
    delivery_retries: int = 2
    delivery_backoff_s: float = 0.5


@dataclass
class SweepReport:
    checked: int = 0
    escalated: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    exhausted: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Acknowledgement:
    alert: Alert
    already: bool  # someone had acknowledged it before; ``alert`` says who and when


def dedup_key(item: ScoredItem) -> str | None:
    return _dedup_key(item.tip_code, item.source, item.author, item.thread_id)


def _dedup_key(tip_code: str | None, source: str | None, author: str | None, thread_id: str | None) -> str | None:
    """Posts by one author (or in one thread) on one source, or messages of one tip thread."""
    if tip_code:
        return f"tip:{tip_code}"
    if author:
        return f"{source}|author:{author}"
    if thread_id:
        return f"{source}|thread:{thread_id}"
    return None


def _last_activity(alert: Alert) -> datetime:
    # The window slides with every repeat: someone posting every ten minutes pages once.
    return max([alert.created_at, *(h.at for h in alert.history if h.event == "repeat")])


def _alert_of_document(item_id: str, role: str, doc: dict[str, Any], now: datetime) -> Alert:
    """A fresh alert for an item as the store holds it (the console pages from there)."""
    threat = doc.get("threat") or {}
    key = _dedup_key((threat.get("tip") or {}).get("code"), (doc.get("event") or {}).get("provider"),
                     (doc.get("user") or {}).get("name"), threat.get("thread_id"))
    return Alert(item_id=item_id, role=role, severity=threat.get("severity", "P3"),
                 category=threat.get("category", "none"), school=threat.get("school"),
                 excerpt=excerpt(doc.get("message") or ""), explanation=list(threat.get("explanation") or []),
                 page=True, dedup_key=key, created_at=now)


def alert_from_document(doc: dict[str, Any]) -> Alert:
    return Alert.model_validate({**{k: v for k, v in doc.items() if k != "@timestamp"}, "created_at": doc["@timestamp"]})


class Pager:
    def __init__(self, store: Store, roster: Roster, rules: RoutingRules, policy: PagerPolicy, *,
                 clock: Callable[[], datetime] = utcnow, notify: Notify = apprise_notify,
                 sleep: Callable[[float], None] = time.sleep):
        self.store, self.roster, self.rules, self.policy = store, roster, rules, policy
        self.clock, self.notify, self.sleep = clock, notify, sleep

    # --- the alert stage ------------------------------------------------------------------------

    def page(self, item: ScoredItem) -> list[Alert]:
        """Alert each role the rules name for ``item``; returns the alerts that went out now.
        A replay finds its alerts already handled and sends nothing."""
        decision = self.rules.route(item.category, item.severity, item.school)
        sent: list[Alert] = []
        for role in decision.roles:
            alert = Alert(item_id=item.id, role=role, severity=item.severity, category=item.category,
                          school=item.school, excerpt=excerpt(item.text), explanation=item.explanation,
                          page=decision.page, dedup_key=dedup_key(item), created_at=self.clock())
            self.store.create_alert(alert.id, alert_document(alert))
            stored = self._load(alert.id)
            if stored.status != "pending":
                continue  # a replay: this alert was handled before
            if (open_alert := self._open_alert_to_merge_into(stored)) is not None:
                self._merge(stored, open_alert, item)
                continue
            sent.append(self._send(stored, fresh_round=True))
        return sent

    def alerts_of(self, item: ScoredItem) -> list[Alert]:
        """The item's alerts as stored now, whatever their status."""
        return [alert_from_document(doc.doc) for doc in self.store.search_alerts(item_id=item.id)]

    def _open_alert_to_merge_into(self, alert: Alert) -> Alert | None:
        if not alert.dedup_key:
            return None
        since = alert.created_at - self.policy.dedup_window
        for doc in self.store.search_alerts(status=list(OPEN_ALERT_STATUSES), size=OPEN_ALERTS_SCAN):
            other = alert_from_document(doc.doc)
            if (other.id != alert.id and other.dedup_key == alert.dedup_key and other.role == alert.role
                    and other.school == alert.school and _last_activity(other) >= since
                    # A more severe repeat is news: it pages even while the first is open.
                    and SEVERITY_RANK[alert.severity] <= SEVERITY_RANK[other.severity]):
                return other
        return None

    def _merge(self, alert: Alert, into: Alert, item: ScoredItem) -> None:
        now = self.clock()

        def add_repeat(target: Alert) -> Alert:
            if item.id in target.related_items:
                return target
            event = AlertEvent(at=now, event="repeat", by=PIPELINE, detail=f"item {item.id}")
            return target.model_copy(update={"related_items": [*target.related_items, item.id],
                                             "history": [*target.history, event], "updated_at": now})

        self._update(into.id, add_repeat)
        self._update(alert.id, lambda a: a.model_copy(update={"status": "merged", "merged_into": into.id,
                                                                 "updated_at": now}))
        log.info("alert %s merged into open alert %s (same author or thread)", alert.id, into.id)

    # --- delivery -------------------------------------------------------------------------------

    def _send(self, alert: Alert, *, fresh_round: bool) -> Alert:
        """Deliver to the first reachable person of the chain not yet tried in this round."""
        now = self.clock()
        tried = [] if fresh_round else list(alert.tried)
        people = [p for p in self.roster.chain(alert.role, alert.school, now) if p.id not in tried]
        deliveries: list[Delivery] = []
        for person in people:
            result = self._deliver(alert, person, now)
            deliveries.append(result)
            if result.status == "delivered":
                break
        metrics.delivered(alert.severity, deliveries)
        return self._update(alert.id, lambda current: self._record(current, deliveries, tried, fresh_round))

    def _deliver(self, alert: Alert, person: Person, now: datetime) -> Delivery:
        link = None
        if alert.page:
            token = sign(alert.id, person.id, now + self.policy.ack_link_ttl, self.policy.ack_secrets)
            link = ack_url(self.policy.console_url, token)
        return deliver(person, alert_title(alert), alert_message(alert, link), retries=self.policy.delivery_retries,
                       backoff_s=self.policy.delivery_backoff_s, notify=self.notify, sleep=self.sleep)

    def _record(self, alert: Alert, deliveries: list[Delivery], tried: list[str], fresh_round: bool) -> Alert:
        now = self.clock()
        history = list(alert.history)
        if fresh_round and alert.tried:
            history.append(AlertEvent(at=now, event="retry", by=PIPELINE, detail="nobody was reached: trying the chain again"))
        for d in deliveries:
            if d.status == "delivered":
                history.append(AlertEvent(at=now, event="sent", by=PIPELINE, person=d.person, channel=d.channel))
            else:
                why = "; ".join(f"{a.channel}: {a.error or 'refused'}" for a in d.attempts) or "no channel configured"
                history.append(AlertEvent(at=now, event="failed", by=PIPELINE, person=d.person, detail=why))
        update: dict[str, Any] = {"history": history, "tried": [*tried, *(d.person for d in deliveries)],
                                  "attempts": alert.attempts + sum(len(d.attempts) for d in deliveries),
                                  "updated_at": now}
        reached = next((d for d in deliveries if d.status == "delivered"), None)
        if alert.status == "acknowledged":
            return alert.model_copy(update=update)  # acknowledged meanwhile: keep the record only
        timeout = self.rules.escalation_timeout(alert.severity) if alert.page else None
        if reached:
            update |= {"status": "escalated" if alert.escalation_level else "sent", "person": reached.person,
                       "channel": reached.channel, "delivered_at": now, "last_error": None,
                       "recipients": [*alert.recipients, reached.person],
                       "escalate_at": now + timeout if timeout else None}
        elif alert.status in ("pending", "failed") or fresh_round:
            # Nobody could be reached at all: keep trying the whole chain, it may be a mail outage.
            update |= {"status": "failed", "last_error": "nobody in the chain could be reached",
                       "escalate_at": now + self.policy.unreached_retry}
        else:
            # Someone has it, nobody after them could be reached: the chain is done.
            history.append(AlertEvent(at=now, event="exhausted", by=PIPELINE,
                                      detail="everyone in the chain was tried; the alert stays open"))
            update |= {"escalate_at": None, "last_error": "escalation chain exhausted"}
        if not reached:
            log.warning("alert %s (%s %s): %s", alert.id, alert.severity, alert.role, update["last_error"],
                        extra={"alert_id": alert.id, "item_id": alert.item_id, "outcome": "delivery_failed"})
        return alert.model_copy(update=update)

    # --- escalation -----------------------------------------------------------------------------

    def sweep(self) -> SweepReport:
        """Move every unacknowledged page whose time is up to the next person; retry the unreached;
        send a page still ``pending`` long after it was raised (its alert stage died mid-send)."""
        report = SweepReport()
        now = self.clock()
        stuck_before = now - self.policy.unreached_retry
        for doc in self.store.search_alerts(status=["pending", *OPEN_ALERT_STATUSES], size=OPEN_ALERTS_SCAN):
            alert = alert_from_document(doc.doc)
            report.checked += 1
            if alert.status == "pending":
                if alert.created_at <= stuck_before:
                    log.warning("alert %s was still pending %s after it was raised; sending it now",
                                alert.id, now - alert.created_at)
                    self._send(alert, fresh_round=True)
                    report.retried.append(alert.id)
                continue
            if alert.escalate_at is None or alert.escalate_at > now:
                continue
            if alert.status == "failed":
                self._send(alert, fresh_round=True)
                report.retried.append(alert.id)
                continue
            escalated = self._update(alert.id, lambda a: self._escalation_step(a, now))
            if escalated.status != "escalated" or escalated.escalation_level == alert.escalation_level:
                continue  # acknowledged meanwhile or no longer due
            metrics.escalated(alert.severity)
            result = self._send(escalated, fresh_round=False)
            (report.exhausted if result.escalate_at is None else report.escalated).append(alert.id)
        if report.checked == OPEN_ALERTS_SCAN:
            log.error("escalation sweep saw %d open alerts, its scan limit: some may wait a round", OPEN_ALERTS_SCAN)
        return report

    def _escalation_step(self, alert: Alert, now: datetime) -> Alert:
        if alert.status not in ("sent", "escalated") or alert.escalate_at is None or alert.escalate_at > now:
            return alert
        waited = int((now - (alert.delivered_at or alert.created_at)).total_seconds())
        event = AlertEvent(at=now, event="escalated", by=PIPELINE, person=alert.person,
                           detail=f"not acknowledged after {waited} s")
        return alert.model_copy(update={"status": "escalated", "escalation_level": alert.escalation_level + 1,
                                        "history": [*alert.history, event], "updated_at": now})

    # --- paging from the console ----------------------------------------------------------------

    def page_now(self, item_id: str, role: str, by: str, *, move_on: bool = False, why: str = "") -> Alert:
        """Page ``role`` about an indexed item now, whatever the rules did: a P1 nobody was paged
        for, a page that sits unread, a case escalated to the next role. The alert (one per item
        and role) is created, or re-opened if it was acknowledged, and is delivered to the chain's
        first reachable person (``move_on``: the next one not yet tried in this round). It then
        escalates like any page. The history names ``by`` and ``why``."""
        stored = self.store.get_item(item_id)
        if stored is None:
            raise NotFound(f"item {item_id} not found")
        now = self.clock()
        alert = _alert_of_document(item_id, role, stored.doc, now)
        self.store.create_alert(alert.id, alert_document(alert))
        detail = ("to the next in the chain" if move_on else "to the person on duty") + (f": {why}" if why else "")

        def reopen(current: Alert) -> Alert:
            event = AlertEvent(at=now, event="paged", by=by, detail=detail)
            return current.model_copy(update={
                "status": "pending" if current.status in ("acknowledged", "merged") else current.status,
                "page": True, "merged_into": None, "escalation_level": current.escalation_level + move_on,
                "acknowledged_at": None, "acknowledged_by": None, "time_to_ack_s": None,
                "tried": current.tried if move_on else [], "history": [*current.history, event], "updated_at": now})

        reopened = self._update(alert.id, reopen)
        log.info("alert %s paged from the console by %s (%s)", reopened.id, by, "next" if move_on else "on duty")
        return self._send(reopened, fresh_round=not move_on)

    # --- acknowledgement ------------------------------------------------------------------------

    def acknowledge(self, alert_id: str, by: str, *, via: str, role: str | None = None,
                    audit: bool = True) -> Acknowledgement:
        """Stop the escalation of ``alert_id``: ``by`` (a roster id or console user) has it.
        Records the time to acknowledge, marks the item acknowledged if still open, and audits
        (``audit=False``: the caller writes one record for all of an item's alerts, as the
        review console does). A merged repeat acknowledges the alert it was merged into.
        NotFound for unknown alerts."""
        now = self.clock()
        alert = self._load(alert_id)
        if alert.status == "merged" and alert.merged_into:
            alert = self._load(alert.merged_into)
        won = False

        def ack(current: Alert) -> Alert:
            nonlocal won
            won = current.status != "acknowledged"  # the last call is the one that was stored
            if not won:
                return current
            event = AlertEvent(at=now, event="acknowledged", by=by, detail=f"via {via}")
            # max(0): the acknowledging process's clock may be behind the alert stage's.
            waited = max(0.0, round((now - current.created_at).total_seconds(), 3))
            return current.model_copy(update={
                "status": "acknowledged", "acknowledged_at": now, "acknowledged_by": by, "escalate_at": None,
                "time_to_ack_s": waited, "history": [*current.history, event], "updated_at": now})

        after = self._update(alert.id, ack)
        metrics.acknowledged(after.severity, after.time_to_ack_s, first=won)
        # Both steps are idempotent and run on every acknowledgement, so a failure after the alert
        # was marked is repaired by the retry that then finds it "already" acknowledged.
        self._mark_item_acknowledged(after)
        if not audit:
            return Acknowledgement(after, already=not won)
        actor = after.acknowledged_by or by
        self.store.append_audit([audit_document(ReviewEvent(
            id=stable_id("acknowledge", after.id), item_id=after.item_id, actor=actor,
            role=role or self._role_of(actor, after), action="acknowledge",
            at=after.acknowledged_at or now,
            details={"alert_id": after.id, "via": via, "time_to_ack_s": after.time_to_ack_s}))])
        return Acknowledgement(after, already=not won)

    def record_view(self, alert: Alert, by: str, *, via: str, role: str | None = None) -> None:
        """Audit that ``by`` was shown the alert's excerpt of a flagged item."""
        self.store.append_audit([audit_document(ReviewEvent(
            item_id=alert.item_id, actor=by, role=role or self._role_of(by, alert), action="view", at=self.clock(),
            details={"alert_id": alert.id, "via": via}))])

    def _role_of(self, person_id: str, alert: Alert) -> str:
        person = self.roster.people.get(person_id)
        return person.roles[0] if person else alert.role

    def _mark_item_acknowledged(self, alert: Alert) -> None:
        for _ in range(UPDATE_ATTEMPTS):
            item = self.store.get_item(alert.item_id)
            if item is None or (item.doc.get("review") or {}).get("status") != "open":
                return  # not indexed yet, or a reviewer has moved it on already
            try:
                self.store.update_review(alert.item_id, {
                    "status": "acknowledged", "updated": (alert.acknowledged_at or self.clock()).isoformat(),
                    "updated_by": alert.acknowledged_by}, item.version)
                return
            except ConflictError:
                continue

    # --- store plumbing -------------------------------------------------------------------------

    def _load(self, alert_id: str) -> Alert:
        stored = self.store.get_alert(alert_id)
        if stored is None:
            raise NotFound(f"alert {alert_id} not found")
        return alert_from_document(stored.doc)

    def _update(self, alert_id: str, change: Callable[[Alert], Alert]) -> Alert:
        """Apply ``change`` to the stored alert, re-reading and re-applying on a concurrent write."""
        for _ in range(UPDATE_ATTEMPTS):
            stored = self.store.get_alert(alert_id)
            if stored is None:
                raise StoreUnavailable(f"alert {alert_id} vanished while being updated")
            current = alert_from_document(stored.doc)
            changed = change(current)
            if changed == current:
                return current
            try:
                self.store.update_alert(alert_id, alert_document(changed), stored.version)
                return changed
            except ConflictError:
                continue
        raise StoreUnavailable(f"alert {alert_id} kept changing under {UPDATE_ATTEMPTS} attempts to update it")

