"""Reading every item a query matches, oldest first, on either store adapter.

Keyset paging on (@timestamp, id), not a growing offset: Elasticsearch refuses offsets past
10,000 hits, and the digest, the label export and the retention purge must not quietly stop at
some count. Times are compared in whole milliseconds, the precision both stores filter and sort on.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.store import ItemQuery, Store, StoredDoc, StoreError

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PAGE_SIZE = 500


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time (naive means UTC, as in the stores) or epoch milliseconds (which an
    Elasticsearch ``date`` accepts too) as an aware datetime; None if unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return EPOCH + timedelta(milliseconds=value)
        except OverflowError:
            return None
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def epoch_ms(moment: datetime) -> int:
    """Whole milliseconds since the epoch, rounded down."""
    delta = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000 + delta.microseconds // 1_000


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def hit_ms(hit: StoredDoc) -> int | None:
    """The hit's @timestamp in epoch milliseconds; None if unreadable."""
    moment = parse_time(hit.doc.get("@timestamp"))
    return None if moment is None else epoch_ms(moment)


def every_item(store: Store, query: ItemQuery, page_size: int = PAGE_SIZE) -> Iterator[StoredDoc]:
    """Every hit of ``query`` (its own sort, offset and size ignored), oldest first, a page at a
    time. For reading only: a caller that deletes as it goes needs its own bookkeeping."""
    since: datetime | None = query.since
    skip = read = 0
    total: int | None = None
    previous: list[str] | None = None
    while True:
        page = store.search_items(dataclasses.replace(query, since=since, sort="oldest", size=page_size, offset=skip))
        total = page.total if total is None else total
        ids = [h.id for h in page.hits]
        if ids and ids == previous:  # a store that ignores since/offset would loop forever
            raise StoreError(f"paging made no progress at items {ids[:3]}")
        previous = ids
        read += len(page.hits)
        yield from page.hits
        if len(page.hits) < page_size:
            break
        last = hit_ms(page.hits[-1])
        if last is None:  # a time only the store can read: plain offset from here
            skip += len(page.hits)
        else:
            at_last = sum(hit_ms(h) == last for h in page.hits)
            if since is not None and epoch_ms(since) == last:  # the whole page on one millisecond
                skip += at_last
            else:
                since, skip = from_ms(last), at_last
    if read < total:
        # Items deleted meanwhile (a purge) explain a few; more means the paging missed some.
        log.warning("read %d of the %d items matching %s", read, total, query)
