"""Scrapy item pipeline: dedupe harvested posts and publish them to ``posts.raw`` in batches.

A key is claimed in the seen-set just before its batch is published, confirmed once the batch is
durable on the bus and released if the publish failed, so a failed publish is retried by the
next run (at-least-once) and a successful one is never published again, by any source.
"""

from __future__ import annotations

import logging

from pipeline.bus import BusError, OutMessage
from pipeline.ingest.items import Harvest

log = logging.getLogger(__name__)


class BusPipeline:
    def __init__(self, crawler):
        self.crawler = crawler
        self.batch: list[Harvest] = []

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    @property
    def spider(self):
        return self.crawler.spider

    def open_spider(self) -> None:
        for key in ("produced", "skipped", "failed"):
            self.crawler.stats.set_value(f"ingest/{key}", 0)

    def process_item(self, item):
        if not isinstance(item, Harvest):
            return item
        ctx = self.spider.ctx
        # Every key handled this run, published or failed, by any source of the crawl: a post
        # seen again later in the run is a duplicate, not a second chance (the next run retries
        # failures, because a source with failures keeps its cursor).
        if item.key in ctx.run_keys or ctx.seen.contains(item.key):
            self.crawler.stats.inc_value("ingest/skipped")
            return item
        ctx.run_keys.add(item.key)
        self.batch.append(item)
        if len(self.batch) >= ctx.batch_size:
            self.flush()
        return item

    def close_spider(self) -> None:
        self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        ctx = self.spider.ctx
        stats = self.crawler.stats
        try:
            claimed = ctx.seen.claim((h.key, h.post.source) for h in batch)
        except Exception as exc:  # noqa: BLE001 - sqlite3 errors; nothing published, next run retries
            stats.inc_value("ingest/failed", len(batch))
            log.error("%s: seen-set unavailable, %d posts not published: %s", self.spider.name, len(batch), exc)
            self.spider.report("batch")
            return
        mine = [h for h in batch if h.key in claimed]
        # Not claimed: published meanwhile by another crawl (a concurrent run of another source).
        stats.inc_value("ingest/skipped", len(batch) - len(mine))
        topic = ctx.settings.topic("posts.raw")
        messages = [
            OutMessage(topic, h.post.id, h.post.to_bytes(),
                       {"source": h.post.source, "source_kind": h.post.source_kind})
            for h in mine
        ]
        try:
            ctx.bus.publish(messages)
        except BusError as exc:
            ctx.seen.release(h.key for h in mine)
            stats.inc_value("ingest/failed", len(mine))
            log.error("%s: publishing %d posts failed: %s", self.spider.name, len(mine), exc)
        else:
            ctx.seen.confirm(h.key for h in mine)
            stats.inc_value("ingest/produced", len(mine))
        self.spider.report("batch")
