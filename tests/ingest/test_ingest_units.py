"""Pure parts of ingestion: sources.yaml, text cleaning, Retry-After, the bus pipeline's counts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml
from scrapy.settings import Settings as ScrapySettings
from scrapy.statscollectors import MemoryStatsCollector

from pipeline.bus import BusError
from pipeline.config import ConfigError
from pipeline.ingest.middlewares import retry_after_seconds
from pipeline.ingest.pipelines import BusPipeline
from pipeline.ingest.sources import gazetteer_terms, load_sources
from pipeline.ingest.state import SeenIds
from pipeline.ingest.text import parse_date, strip_html
from pipeline.schema import RawPost


def test_shipped_sources_load_with_gazetteer_terms(settings):
    schools = settings.config_path(settings.classify.schools_file)
    sources = load_sources(settings.config_dir / "sources.yaml", schools)
    assert {s.kind for s in sources} == {"rss", "reddit", "mastodon", "bluesky", "page"}
    bluesky = next(s for s in sources if s.kind == "bluesky")
    assert bluesky.terms == gazetteer_terms(schools)
    assert "Lincoln High School" in bluesky.terms and "Lincoln" not in bluesky.terms


def test_sources_yaml_errors_are_one_line(tmp_path, settings):
    schools = settings.config_path(settings.classify.schools_file)
    bad = tmp_path / "s.yaml"
    bad.write_text(yaml.safe_dump({"sources": [{"name": "r", "kind": "reddit", "base_url": "http://x"}]}))
    with pytest.raises(ConfigError, match="needs subreddit"):
        load_sources(bad, schools)
    bad.write_text(yaml.safe_dump({"sources": [{"name": "f", "kind": "rss", "url": "http://x", "delay": 1}]}))
    with pytest.raises(ConfigError, match="delay"):
        load_sources(bad, schools)


def test_strip_html_and_dates():
    assert strip_html("<p>a &amp; b</p><script>x()</script><p>c<br>d</p>") == "a & b\nc\nd"
    assert parse_date("Tue, 17 Nov 2026 21:30:00 -0600").isoformat() == "2026-11-17T21:30:00-06:00"
    assert parse_date("2026-11-20T18:00:00.000Z").isoformat() == "2026-11-20T18:00:00+00:00"
    assert parse_date("not a date") is None


def test_retry_after_forms():
    assert retry_after_seconds(b"7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    assert retry_after_seconds(b"soon") is None and retry_after_seconds(None) is None


class _Bus:
    def __init__(self, fail: bool):
        self.fail, self.published = fail, []

    def publish(self, messages):
        if self.fail:
            raise BusError("down")
        self.published += messages


def _pipeline(tmp_path, fail):
    stats = MemoryStatsCollector(SimpleNamespace(settings=ScrapySettings({"STATS_DUMP": False})))
    ctx = SimpleNamespace(settings=SimpleNamespace(topic=lambda t: t), bus=_Bus(fail), batch_size=2)
    spider = SimpleNamespace(name="t", ctx=ctx, seen=SeenIds(tmp_path))
    pipe = BusPipeline(SimpleNamespace(stats=stats, spider=spider))
    pipe.open_spider()
    return pipe, stats, spider


def test_bus_pipeline_batches_counts_and_marks_seen_only_when_durable(tmp_path):
    posts = [RawPost(source="s", native_id=str(i), text="t") for i in (1, 2, 2, 3)]
    pipe, stats, spider = _pipeline(tmp_path, fail=True)
    for p in posts:
        pipe.process_item(p)
    pipe.close_spider()
    assert stats.get_value("ingest/failed") == 3 and stats.get_value("ingest/produced") == 0
    assert not spider.seen.contains(posts[0].id)  # the next run retries them

    pipe, stats, spider = _pipeline(tmp_path, fail=False)
    for p in posts:
        pipe.process_item(p)
    pipe.close_spider()
    assert stats.get_value("ingest/produced") == 3 and stats.get_value("ingest/skipped") == 1
    assert [m.key for m in spider.ctx.bus.published] == [posts[0].id, posts[1].id, posts[3].id]
    assert all(m.topic == "posts.raw" for m in spider.ctx.bus.published)
    assert spider.seen.contains(posts[3].id)
