"""One period's documents, read from the ports: flagged items, alerts and audit records from the
store; what was taken in from the bus's ``items.scored`` (every post and tip the classify stages
scored, for as long as the bus keeps it). Reading changes nothing: the bus is scanned without a
consumer group, and the one audit record a report leaves is written by the caller."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from pipeline.bus import Bus
from pipeline.report.figures import NO_SCHOOL, Intake, PeriodData
from pipeline.schema import ScoredItem, as_utc
from pipeline.store import ItemQuery, Store
from pipeline.store.paging import every_item


def read_intake(bus: Bus, topic: str, since: datetime, until: datetime, retention_days: int,
                now: datetime, school: str | None = None) -> Intake:
    """Items scored, by the time the item itself carries (when it was written, else scored), the
    same clock the store filters flagged items on. An item scored twice counts once."""
    seen: dict[str, ScoredItem] = {}
    for message in bus.scan(topic, since_ts=since.timestamp()):
        try:
            item = ScoredItem.model_validate_json(message.value)
        except ValidationError:
            continue  # not a scored item: nothing a report can count
        when = as_utc(item.created_at or item.scored_at)
        if since <= when < until and (school is None or item.school == school):
            seen[item.id] = item
    items = list(seen.values())
    return Intake(
        posts=sum(i.kind == "post" for i in items), tips=sum(i.kind == "tip" for i in items),
        by_school=Counter(i.school or NO_SCHOOL for i in items), by_source=Counter(i.source for i in items),
        by_model=Counter(i.model_version for i in items),
        covered_from=max(since, now - timedelta(days=retention_days)))


def read_period(store: Store, bus: Bus, scored_topic: str, since: datetime, until: datetime, *,
                retention_days: int, school: str | None = None, now: datetime | None = None) -> PeriodData:
    since, until = as_utc(since), as_utc(until)
    items = [h.doc for h in every_item(store, ItemQuery(since=since, until=until, school=(school,) if school else ()))]
    ids = {h["event"]["id"] for h in items}
    alerts = [a.doc for a in store.alerts_between(since, until) if school is None or a.doc.get("item_id") in ids]
    audit = list(store.search_audit(since, until, actions=("view", "purge")))
    if school is not None:  # a purge or a read names an item: keep only this school's
        audit = [r for r in audit if (r.get("threat") or {}).get("item_id") in ids
                 or ((r.get("event") or {}).get("action") == "purge" and _purged_here(r, school))]
    intake = read_intake(bus, scored_topic, since, until, retention_days, as_utc(now or datetime.now(UTC)), school)
    return PeriodData(since, until, items, alerts, audit, intake)


def _purged_here(record: dict, school: str) -> bool:
    return ((record.get("details") or {}).get("school")) == school
