"""Pure parts of ingestion: sources.yaml, text cleaning, Retry-After, the bus pipeline's counts."""

from __future__ import annotations

from types import SimpleNamespace

import json
import subprocess

import pytest
import yaml
from scrapy.settings import Settings as ScrapySettings
from scrapy.statscollectors import MemoryStatsCollector

from pipeline.bus import BusError
from pipeline.config import ConfigError
from pipeline.ingest.middlewares import retry_after_seconds
from pipeline.ingest.pipelines import BusPipeline
from pipeline.ingest.sources import gazetteer_terms, load_sources
from pipeline.ingest.items import Harvest
from pipeline.ingest.runner import select
from pipeline.ingest.spiders.base import IngestContext
from pipeline.ingest.state import SeenKeys
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


@pytest.mark.parametrize("entry, message", [
    ({"kind": "mastodon", "base_url": "https://m.example", "accounts": ["not an account"]}, "not Mastodon accounts"),
    ({"kind": "mastodon", "base_url": "https://m.example", "tags": ["two words"]}, "not hashtags"),
    ({"kind": "bluesky", "base_url": "https://b.example", "authors": ["@@nope"]}, "not Bluesky handles or DIDs"),
    ({"kind": "bluesky", "base_url": "https://b.example", "search": False}, "nothing to crawl"),
    ({"kind": "reddit", "base_url": "https://r.example", "subreddit": "riverton", "tags": ["x"]},
     "tags not used by kind reddit"),
    ({"kind": "rss", "url": "https://f.example/x.xml", "accounts": ["a"]}, "accounts not used by kind rss"),
    ({"kind": "reddit", "base_url": "ftp://r.example", "subreddit": "riverton"}, "not an http"),
    ({"kind": "reddit", "base_url": "https://r.example", "subreddit": "a b"}, "not a subreddit name"),
    ({"kind": "gopher", "url": "https://x.example"}, "kind"),
])
def test_nonsense_sources_are_one_line_config_errors(tmp_path, settings, entry, message):
    bad = tmp_path / "s.yaml"
    bad.write_text(yaml.safe_dump({"sources": [{"name": "x", **entry}]}))
    with pytest.raises(ConfigError, match=message) as caught:
        load_sources(bad, settings.config_path(settings.classify.schools_file))
    assert "\n" not in str(caught.value) and "sources[0] (x)" in str(caught.value)


def test_accounts_authors_and_tags_are_normalised_and_keep_defaults(tmp_path, settings):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"sources": [
        {"name": "m1", "kind": "mastodon", "base_url": "https://m.example", "accounts": ["@coach@riverton.social.example"]},
        {"name": "m2", "kind": "mastodon", "base_url": "https://m.example"},
        {"name": "m3", "kind": "mastodon", "base_url": "https://m.example", "tags": ["#LynxPride"], "accounts": ["jo"]},
        {"name": "b1", "kind": "bluesky", "base_url": "https://b.example", "authors": ["@lynx.bsky.example"]},
        {"name": "b2", "kind": "bluesky", "base_url": "https://b.example", "authors": ["did:plc:abc123"], "search": True},
        {"name": "b3", "kind": "bluesky", "base_url": "https://b.example"},
    ]}))
    m1, m2, m3, b1, b2, b3 = load_sources(path, settings.config_path(settings.classify.schools_file))
    assert m1.accounts == ["coach@riverton.social.example"] and m1.tags == []
    assert "lincolnhighschool" in m2.tags  # neither tags nor accounts: tags from the gazetteer
    assert m3.tags == ["LynxPride"] and m3.accounts == ["jo"]
    assert b1.authors == ["lynx.bsky.example"] and not b1.searches
    assert b2.searches and b3.searches


def test_select_names_sources_or_raises_a_config_error(settings):
    sources = load_sources(settings.config_dir / "sources.yaml", settings.config_path(settings.classify.schools_file))
    assert [s.name for s in select(sources, ["reddit:riverton", "rss:eusd-news"])] == ["reddit:riverton", "rss:eusd-news"]
    assert select(sources, None) == [s for s in sources if s.enabled]
    with pytest.raises(ConfigError, match="unknown source.*nope.*known: rss:riverton-courier"):
        select(sources, ["reddit:riverton", "nope"])


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


class _Spider(SimpleNamespace):
    def report(self, event):
        self.events.append(event)


def _pipeline(ctx, name="t"):
    stats = MemoryStatsCollector(SimpleNamespace(settings=ScrapySettings({"STATS_DUMP": False})))
    spider = _Spider(name=name, ctx=ctx, events=[])
    pipe = BusPipeline(SimpleNamespace(stats=stats, spider=spider))
    pipe.open_spider()
    return pipe, stats, spider


def _ctx(tmp_path, fail):
    ctx = IngestContext(settings=SimpleNamespace(topic=lambda t: t, data_dir=tmp_path), bus=_Bus(fail), batch_size=2)
    return ctx


def _harvest(source, native_id, key=None):
    post = RawPost(source=source, native_id=native_id, text="t")
    return Harvest(post=post, key=key or f"src|{source}|{native_id}")


def test_bus_pipeline_batches_counts_and_marks_seen_only_when_durable(tmp_path):
    items = [_harvest("s", str(i)) for i in (1, 2, 2, 3)]
    ctx = _ctx(tmp_path, fail=True)
    pipe, stats, spider = _pipeline(ctx)
    for h in items:
        pipe.process_item(h)
    pipe.close_spider()
    assert stats.get_value("ingest/failed") == 3 and stats.get_value("ingest/produced") == 0
    assert spider.events == ["batch", "batch"]
    assert not ctx.seen.contains(items[0].key)  # released: the next run retries them
    ctx.close()

    ctx = _ctx(tmp_path, fail=False)
    pipe, stats, spider = _pipeline(ctx)
    for h in items:
        pipe.process_item(h)
    pipe.close_spider()
    assert stats.get_value("ingest/produced") == 3 and stats.get_value("ingest/skipped") == 1
    assert [m.key for m in ctx.bus.published] == [items[0].post.id, items[1].post.id, items[3].post.id]
    assert all(m.topic == "posts.raw" for m in ctx.bus.published)
    assert ctx.seen.contains(items[3].key)
    ctx.close()


def test_two_sources_of_one_crawl_queue_a_shared_key_once(tmp_path):
    ctx = _ctx(tmp_path, fail=False)
    a, a_stats, _ = _pipeline(ctx, "a")
    b, b_stats, _ = _pipeline(ctx, "b")
    a.process_item(_harvest("a", "t3_x", key="reddit|r.example|t3_x"))
    b.process_item(_harvest("b", "t3_x", key="reddit|r.example|t3_x"))  # before a's batch is flushed
    a.close_spider()
    b.close_spider()
    assert len(ctx.bus.published) == 1 and b_stats.get_value("ingest/skipped") == 1
    ctx.close()


def test_claims_are_atomic_across_processes_and_survive_a_dead_claimer(tmp_path):
    one, two = SeenKeys(tmp_path), SeenKeys(tmp_path)
    assert one.claim([("k1", "s"), ("k2", "s")]) == {"k1", "k2"}
    # another live crawl is publishing k1 right now: not ours, and not "seen" yet either
    assert two.claim([("k1", "s2"), ("k3", "s2")]) == {"k3"} and not two.contains("k1")
    one.confirm(["k1"])
    one.release(["k2"])  # its publish failed
    assert two.contains("k1") and two.claim([("k1", "s2"), ("k2", "s2")]) == {"k2"}

    dead = subprocess.Popen(["true"])
    dead.wait()
    three = SeenKeys(tmp_path)
    three.owner = f"{dead.pid}:crashed"  # claimed, then died before publishing
    assert three.claim([("k4", "s3")]) == {"k4"}
    assert one.claim([("k4", "s")]) == {"k4"}  # taken over: a crash never loses a post
    for seen in (one, two, three):
        seen.close()


def _mastodon_spider(tmp_path, since_id):
    from pipeline.ingest.sources import Source
    from pipeline.ingest.spiders.mastodon import MastodonSpider
    from pipeline.ingest.state import SourceState

    source = Source(name="m", kind="mastodon", base_url="https://m.example", tags=["lynx"], page_size=3, max_pages=2)
    SourceState(tmp_path, "m").save({"since_id": {"#lynx": since_id}})
    ctx = IngestContext(settings=SimpleNamespace(data_dir=tmp_path), bus=None)
    return MastodonSpider(source=source, ctx=ctx)


def _statuses(url, ids):
    from scrapy.http import Request, TextResponse

    body = json.dumps([{"id": str(i), "uri": f"https://m.example/users/a/statuses/{i}", "content": "<p>x</p>"}
                        for i in ids])
    return TextResponse(url, body=body.encode(), encoding="utf-8", request=Request(url))


def test_a_timeline_cut_by_max_pages_is_counted_as_truncated(tmp_path):
    spider = _mastodon_spider(tmp_path, since_id="100")
    spider.pending["since_id"] = {"#lynx": "100"}
    out = list(spider.parse_timeline(_statuses("https://m.example/p1", [205, 204, 203]), "#lynx", "/t", page=1))
    assert any(getattr(o, "url", "").endswith("max_id=203") for o in out) and spider.truncated == 0
    # the last allowed page is full and the run has not reached since_id: a gap is possible
    list(spider.parse_timeline(_statuses("https://m.example/p2", [202, 201, 150]), "#lynx", "/t", page=2))
    assert spider.truncated == 1 and spider.errors == 0
    # a short last page reached the end of what is new: not truncated
    list(spider.parse_timeline(_statuses("https://m.example/p3", [120]), "#lynx", "/t", page=2))
    assert spider.truncated == 1
