"""Scrapy item pipeline: dedupe RawPosts and publish them to ``posts.raw`` in batches.

An id is marked seen only after its batch is durable on the bus, so a failed publish is retried
by the next run (at-least-once) and a successful one is never published again.
"""

from __future__ import annotations

import logging

from pipeline.bus import BusError, OutMessage
from pipeline.schema import RawPost

log = logging.getLogger(__name__)


class BusPipeline:
    def __init__(self, crawler):
        self.crawler = crawler
        self.batch: list[RawPost] = []
        # Every id handled this run, published or failed: a page repeated later in the same run
        # is a duplicate, not a second chance (the next run retries failures).
        self.run_ids: set[str] = set()

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
        if not isinstance(item, RawPost):
            return item
        if item.id in self.run_ids or self.spider.seen.contains(item.id):
            self.crawler.stats.inc_value("ingest/skipped")
            return item
        self.batch.append(item)
        self.run_ids.add(item.id)
        if len(self.batch) >= self.spider.ctx.batch_size:
            self.flush()
        return item

    def close_spider(self) -> None:
        self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        ctx = self.spider.ctx
        topic = ctx.settings.topic("posts.raw")
        messages = [
            OutMessage(topic, post.id, post.to_bytes(), {"source": post.source, "source_kind": post.source_kind})
            for post in batch
        ]
        try:
            ctx.bus.publish(messages)
        except BusError as exc:
            self.crawler.stats.inc_value("ingest/failed", len(batch))
            log.error("%s: publishing %d posts failed: %s", self.spider.name, len(batch), exc)
            return
        self.spider.seen.add((post.id, post.source) for post in batch)
        self.crawler.stats.inc_value("ingest/produced", len(batch))
