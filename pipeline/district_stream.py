"""The district's own posts, read back from the bus for retraining: the ones nobody flagged as
low-weight background negatives, and all of them for a shadow run (what champion and challenger
would page on the district's last N days).

Read from `items.scored`, which holds every post the classify stage scored, for as long as the
bus keeps it (bus.raw_retention_days): nothing older than retention can be read, and nothing is
copied anywhere else. It is read with the bus's ``scan``, without a consumer group: reading
changes nothing for the stages, and two districts on one Kafka cluster never split a read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from pipeline.bus import Bus
from pipeline.schema import ScoredItem, as_utc


@dataclass(frozen=True)
class DistrictStream:
    days: int
    posts: list[str]       # every post scored in the window, oldest first: the shadow run
    unflagged: list[str]   # of those, the ones that were not flagged at all
    unreadable: int = 0    # messages that were not a scored item (counted, not used)


def read_district_stream(bus: Bus, topic: str, *, days: int, max_posts: int = 50_000,
                         now: datetime | None = None) -> DistrictStream:
    """Posts (not tips) scored within the last ``days``, one per item id (the bus delivers at
    least once), at most the newest ``max_posts``."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    latest: dict[str, ScoredItem] = {}
    unreadable = 0
    for message in bus.scan(topic, since_ts=cutoff.timestamp()):
        try:
            item = ScoredItem.model_validate_json(message.value)
        except ValidationError:
            unreadable += 1
            continue
        if item.kind == "post" and as_utc(item.scored_at) >= cutoff:
            latest.pop(item.id, None)
            latest[item.id] = item  # re-inserted: keeps arrival order with the newest copy
    items = list(latest.values())[-max_posts:]
    return DistrictStream(days, [i.text for i in items], [i.text for i in items if i.severity == "none"], unreadable)


def background_sample(texts: Sequence[str], n: int) -> list[str]:
    """A deterministic sample of ``n`` distinct texts: the same stream gives the same sample."""
    distinct = dict.fromkeys(t for t in texts if t.strip())
    return sorted(distinct, key=lambda t: hashlib.sha256(t.encode()).digest())[:n]
