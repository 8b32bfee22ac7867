"""Fixtures for spider tests: the replay server, a sources.yaml pointing at it, a bus reader."""

from __future__ import annotations

import pytest
import yaml

from pipeline.bus.embedded import EmbeddedBus
from pipeline.config import DEFAULT_CONFIG
from pipeline.ingest.runner import crawl_in_subprocess
from pipeline.schema import RawPost

from .fixture_server import FixtureServer
from .pages import install_all

FAST = {"delay_s": 0, "retry_backoff_s": 0.05, "timeout_s": 5, "max_pages": 3, "retry_times": 2}


@pytest.fixture
def server():
    with FixtureServer() as srv:
        install_all(srv)
        yield srv


@pytest.fixture
def sources_file(tmp_path, server):
    base = server.url
    forum = {"item": "article.post", "id": "::attr(data-post-id)", "text": ".post-body",
             "author": ".post-author::text", "created_at": "time::attr(datetime)",
             "url": "a.permalink::attr(href)", "next": "a[rel=next]::attr(href)"}
    sources = [
        {"name": "rss:riverton-courier", "kind": "rss", "url": f"{base}/feeds/local.xml"},
        {"name": "rss:courier-schools", "kind": "rss", "url": f"{base}/feeds/schools.xml"},
        {"name": "rss:courier-maple", "kind": "rss", "url": f"{base}/feeds/local.xml",
         "terms": ["Maple Ridge"], "require_terms": True},
        {"name": "rss:eusd-news", "kind": "rss", "url": f"{base}/news/atom.xml"},
        {"name": "rss:broken", "kind": "rss", "url": f"{base}/feeds/broken.xml"},
        {"name": "rss:slow", "kind": "rss", "url": f"{base}/feeds/slow.xml", "timeout_s": 1},
        {"name": "reddit:riverton", "kind": "reddit", "base_url": base, "subreddit": "riverton"},
        {"name": "reddit:riverton-search", "kind": "reddit", "base_url": base, "subreddit": "riverton",
         "search": True, "terms": ["Lincoln High", "Maple Ridge"]},
        {"name": "reddit:lincolnlynx", "kind": "reddit", "base_url": base, "subreddit": "lincolnlynx"},
        {"name": "reddit:busy", "kind": "reddit", "base_url": base, "subreddit": "busy"},
        {"name": "reddit:brokenjson", "kind": "reddit", "base_url": base, "subreddit": "brokenjson"},
        {"name": "mastodon:riverton.social", "kind": "mastodon", "base_url": base,
         "tags": ["rivertonschools", "#mustangs"]},
        {"name": "mastodon:band-booster", "kind": "mastodon", "base_url": base, "accounts": ["@band_booster"]},
        {"name": "mastodon:inst-b", "kind": "mastodon", "base_url": f"{base}/inst-b", "tags": ["rivertonschools"]},
        {"name": "mastodon:throttled", "kind": "mastodon", "base_url": base, "tags": ["slowa", "slowb"]},
        {"name": "mastodon:broken", "kind": "mastodon", "base_url": base, "tags": ["broken"]},
        {"name": "mastodon:weird", "kind": "mastodon", "base_url": base, "tags": ["weird"]},
        {"name": "bluesky:search", "kind": "bluesky", "base_url": base, "terms": ["Lincoln High"]},
        {"name": "bluesky:authors", "kind": "bluesky", "base_url": base,
         "authors": ["cougarmom.bsky.example", "did:plc:eeee5555"]},
        {"name": "page:lhs-parents-forum", "kind": "page", "url": f"{base}/forum/latest", "selectors": forum},
        {"name": "page:forum-bwing", "kind": "page", "url": f"{base}/forum/latest", "selectors": forum,
         "terms": ["B-wing"], "require_terms": True},
        {"name": "page:truncated", "kind": "page", "url": f"{base}/forum/truncated", "selectors": forum},
        {"name": "page:signin", "kind": "page", "url": f"{base}/forum/signin", "selectors": forum},
        {"name": "page:private", "kind": "page", "url": f"{base}/private/board",
         "selectors": {"item": "article.post", "id": "::attr(data-post-id)", "text": ".post-body"}},
    ]
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"defaults": FAST, "sources": sources}), encoding="utf-8")
    return path


@pytest.fixture
def crawl(settings, sources_file):
    """Run the named sources through the real Scrapy engine in a child process."""

    def run(*names: str, **kwargs):
        return crawl_in_subprocess(DEFAULT_CONFIG, sources_file, list(names), timeout_s=120, **kwargs)

    return run


@pytest.fixture
def published(settings):
    """Every RawPost on posts.raw so far, in publish order."""

    def read() -> list[RawPost]:
        with EmbeddedBus(settings.data_dir / settings.bus.sqlite_file) as bus:
            bus.setup(["posts.raw"])
            with bus.consumer(f"reader-{__import__('uuid').uuid4().hex}", ["posts.raw"]) as consumer:
                out = []
                while batch := consumer.poll(500, 0.05):
                    out += [RawPost.from_bytes(m.value) for m in batch]
                return out

    return read
