"""What every source spider shares: its Source, its state, RawPost building, error accounting."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import scrapy
from pydantic import ValidationError
from scrapy import signals
from scrapy.exceptions import IgnoreRequest

from pipeline.bus import Bus
from pipeline.config import Settings
from pipeline.ingest.items import Harvest
from pipeline.ingest.sources import Source
from pipeline.ingest.state import SeenKeys, SourceState
from pipeline.schema import RawPost

log = logging.getLogger(__name__)

ProgressFn = Callable[[dict[str, Any]], None]


@dataclass
class IngestContext:
    """Handed to every spider of one crawl as a constructor argument: Scrapy deep-copies its
    settings per crawler, which a live bus connection would not survive. What lives here is
    shared by all sources of the crawl (they run in one reactor thread)."""

    settings: Settings
    bus: Bus
    batch_size: int = 100
    on_progress: ProgressFn | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Dedupe keys handled this run by any source, published or not: a post two sources reach in
    # one crawl is queued once even before either batch is flushed.
    run_keys: set[str] = field(default_factory=set)
    _seen: SeenKeys | None = None

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def seen(self) -> SeenKeys:
        if self._seen is None:
            self._seen = SeenKeys(self.data_dir)
        return self._seen

    def close(self) -> None:
        if self._seen is not None:
            self._seen.close()
            self._seen = None


class SourceSpider(scrapy.Spider):
    kind = "unknown"

    def __init__(self, source: Source, ctx: IngestContext, **kwargs):
        super().__init__(name=source.name, **kwargs)
        self.source = source
        self.ctx = ctx
        self.state = SourceState(ctx.data_dir, source.name)
        self.pending: dict[str, Any] = {}  # state updates, saved only after a clean run
        self.errors = 0
        self.malformed = 0
        self.filtered = 0
        self.truncated = 0
        self.blocked = 0
        self.pages = 0

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.on_callback_exception, signal=signals.spider_error)
        return spider

    @property
    def seen(self) -> SeenKeys:
        return self.ctx.seen

    # --- helpers for subclasses ----------------------------------------------------------

    def request(self, url: str, callback, **kwargs) -> scrapy.Request:
        return scrapy.Request(url, callback=callback, errback=self.on_error, **kwargs)

    def on_error(self, failure) -> None:
        url = failure.request.url if hasattr(failure, "request") else "?"
        if failure.check(IgnoreRequest) and "robots.txt" in failure.getErrorMessage():
            self.blocked += 1
            log.warning("%s: %s is disallowed by robots.txt: not fetched", self.name, url)
        else:
            log.warning("%s: %s failed: %s", self.name, url, failure.getErrorMessage())
        # Either way the run missed something, so its cursors must not move.
        self.errors += 1

    def on_callback_exception(self, failure, response, spider) -> None:
        """A callback crashed on a response shaped unlike the API's: count it, keep the cursor."""
        if spider is self:
            self.note_malformed(response.url, f"{failure.type.__name__}: {failure.getErrorMessage()}")

    def json_or_none(self, response) -> Any:
        """The parsed body, or None (counted) when a source sends something that is not JSON."""
        try:
            return response.json()
        except ValueError:
            self.note_malformed(response.url, "not JSON")
            return None

    def note_malformed(self, where: str, why: str) -> None:
        """A response we could not read. It also counts as an error: the cursor must not move
        past what we missed."""
        self.malformed += 1
        self.errors += 1
        log.warning("%s: malformed response at %s (%s)", self.name, where, why)

    def note_bad_item(self, where: str, why: str) -> None:
        """One unusable item in an otherwise good response: counted, the rest goes on. Refetching
        would return the same broken item, so it does not hold the cursor back."""
        self.malformed += 1
        log.warning("%s: unusable item at %s (%s)", self.name, where, why)

    def note_filtered(self, reason: str) -> None:
        """An item deliberately not published (off topic, someone else's repost)."""
        self.filtered += 1
        self.crawler.stats.inc_value(f"ingest/filtered/{reason}")

    def note_truncated(self, timeline: str) -> None:
        """Paging stopped at max_pages while the timeline still had newer-than-cursor items."""
        self.truncated += 1
        log.warning("%s: %s: stopped at max_pages=%d; posts older than the last page fetched but "
                    "newer than the previous run are not fetched (raise max_pages or shorten interval_s)",
                    self.name, timeline, self.source.max_pages)

    def page_done(self) -> None:
        self.pages += 1
        self.report("page")

    def dedupe_key(self, native_id: str) -> str:
        """Per source by default: a native id is only known to be unique within its source."""
        return f"src|{self.name}|{native_id}"

    def post(self, **fields: Any) -> Harvest | None:
        try:
            post = RawPost(source=self.source.name, source_kind=self.kind, **fields)
        except ValidationError as exc:
            self.note_bad_item(str(fields.get("url") or fields.get("native_id") or "?"), str(exc).splitlines()[0])
            return None
        return Harvest(post=post, key=self.dedupe_key(post.native_id))

    def build(self, make, raw: Any, where: str) -> Harvest | None:
        """``make(raw)`` with shape surprises (a string where an object was, an object where text
        was) counted as one bad item instead of ending the page's callback."""
        try:
            return make(raw)
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            self.note_bad_item(where, f"{type(exc).__name__}: {exc}")
            return None

    def already_seen(self, native_id: str) -> bool:
        return self.seen.contains(self.dedupe_key(native_id))

    # --- counts and end of run -----------------------------------------------------------

    def counts(self) -> dict[str, Any]:
        stats = self.crawler.stats
        return {
            "kind": self.kind,
            "produced": stats.get_value("ingest/produced", 0),
            "skipped": stats.get_value("ingest/skipped", 0),
            "failed": stats.get_value("ingest/failed", 0),
            "malformed": self.malformed,
            "filtered": self.filtered,
            "truncated": self.truncated,
            "blocked": self.blocked,
            "errors": self.errors,
            "pages": self.pages,
        }

    def report(self, event: str, extra: dict[str, Any] | None = None) -> None:
        if self.ctx.on_progress is not None:
            self.ctx.on_progress({"source": self.name, "event": event, **self.counts(), **(extra or {})})

    def closed(self, reason: str) -> None:
        failed = self.crawler.stats.get_value("ingest/failed", 0)
        clean = reason == "finished" and self.errors == 0 and failed == 0
        if clean and self.pending:
            self.state.save(self.pending)
        result = {**self.counts(), "state_saved": bool(clean and self.pending), "reason": reason}
        self.ctx.results[self.name] = result
        self.report("closed", {"state_saved": result["state_saved"], "reason": reason})
