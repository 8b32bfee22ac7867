"""What every source spider shares: its Source, its state, RawPost building, error accounting."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import scrapy
from pydantic import ValidationError

from pipeline.bus import Bus
from pipeline.config import Settings
from pipeline.ingest.sources import Source
from pipeline.ingest.state import SeenIds, SourceState
from pipeline.schema import RawPost

log = logging.getLogger(__name__)


@dataclass
class IngestContext:
    """Handed to every spider of one crawl as a constructor argument: Scrapy deep-copies its
    settings per crawler, which a live bus connection would not survive."""

    settings: Settings
    bus: Bus
    batch_size: int = 100
    results: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir


class SourceSpider(scrapy.Spider):
    kind = "unknown"

    def __init__(self, source: Source, ctx: IngestContext, **kwargs):
        super().__init__(name=source.name, **kwargs)
        self.source = source
        self.ctx = ctx
        self.state = SourceState(ctx.data_dir, source.name)
        self.seen = SeenIds(ctx.data_dir)
        self.pending: dict[str, Any] = {}  # state updates, saved only after a clean run
        self.errors = 0
        self.malformed = 0
        self.pages = 0

    # --- helpers for subclasses ----------------------------------------------------------

    def request(self, url: str, callback, **kwargs) -> scrapy.Request:
        return scrapy.Request(url, callback=callback, errback=self.on_error, **kwargs)

    def on_error(self, failure) -> None:
        self.errors += 1
        log.warning("%s: %s failed: %s", self.name, failure.request.url if hasattr(failure, "request") else "?",
                    failure.getErrorMessage())

    def json_or_none(self, response) -> Any:
        """The parsed body, or None (counted) when a source sends something that is not JSON."""
        try:
            return response.json()
        except ValueError:
            self.note_malformed(response.url, "not JSON")
            return None

    def note_malformed(self, where: str, why: str) -> None:
        # A malformed page also counts as an error: the cursor must not move past what we missed.
        self.malformed += 1
        self.errors += 1
        log.warning("%s: malformed response at %s (%s)", self.name, where, why)

    def post(self, **fields: Any) -> RawPost | None:
        try:
            return RawPost(source=self.source.name, source_kind=self.kind, **fields)
        except ValidationError as exc:
            self.malformed += 1
            log.warning("%s: item dropped: %s", self.name, str(exc).splitlines()[0])
            return None

    def already_seen(self, native_id: str) -> bool:
        return self.seen.contains(RawPost(source=self.source.name, native_id=native_id, text="").id)

    # --- end of run ----------------------------------------------------------------------

    def closed(self, reason: str) -> None:
        failed = self.crawler.stats.get_value("ingest/failed", 0)
        clean = reason == "finished" and self.errors == 0 and failed == 0
        if clean and self.pending:
            self.state.save(self.pending)
        self.ctx.results[self.name] = {
            "kind": self.kind,
            "produced": self.crawler.stats.get_value("ingest/produced", 0),
            "skipped": self.crawler.stats.get_value("ingest/skipped", 0),
            "failed": failed,
            "malformed": self.malformed,
            "errors": self.errors,
            "pages": self.pages,
            "state_saved": bool(clean and self.pending),
            "reason": reason,
        }
        self.seen.close()
