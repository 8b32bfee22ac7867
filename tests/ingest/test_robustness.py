"""Sources misbehaving: slow, busy, off topic, oddly shaped. Everything is retried or counted."""

from __future__ import annotations

from .pages import SLOW_S


def test_politeness_robots_user_agent_retry_after_on_429_and_503_and_a_timeout(crawl, published, server, settings):
    result = crawl("reddit:lincolnlynx", "reddit:busy", "rss:slow", "page:private", "mastodon:throttled")
    # robots.txt disallows /private/: never requested, counted as blocked, cursor held
    assert server.paths("/private/") == []
    private = result.pop("page:private")
    assert private["blocked"] == 1 and private["produced"] == 0 and not private["state_saved"]
    robots = server.paths("/robots.txt")
    assert robots, "robots.txt was not fetched"
    for request in robots + server.paths("/r/"):
        ua = request.headers["User-Agent"]
        assert settings.general.district in ua and settings.general.contact_email in ua
    throttled = server.paths("/r/lincolnlynx/new.json")
    assert len(throttled) == 2 and throttled[1].at - throttled[0].at >= 0.9  # waited the 1 s Retry-After
    # a Retry-After pauses the host, not just the request: the second tag waited for the first's
    tags = server.paths("/api/v1/timelines/tag/slow")
    first_a = min(h.at for h in tags if h.path.endswith("slowa"))
    first_b = min(h.at for h in tags if h.path.endswith("slowb"))
    assert abs(first_b - first_a) >= 0.9 and len(tags) == 4  # each tag: 429 once, then answered
    busy = server.paths("/r/busy/new.json")
    assert len(busy) == 2 and busy[1].at - busy[0].at >= 0.9  # waited the 1 s Retry-After
    slow = server.paths("/feeds/slow.xml")
    # gave up after timeout_s (1 s), well before the server's late answer, then asked again
    assert len(slow) == 2 and 0.9 <= slow[1].at - slow[0].at < SLOW_S - 1
    assert result["reddit:lincolnlynx"]["produced"] == 1
    assert result["reddit:busy"]["produced"] == 1 and result["rss:slow"]["produced"] == 2
    assert all(r["errors"] == 0 and r["state_saved"] for r in result.values())
    assert {p.source for p in published()} == {"reddit:lincolnlynx", "reddit:busy", "rss:slow"}


def test_require_terms_filters_feed_and_page_items_and_counts_them(crawl, published):
    result = crawl("rss:courier-maple", "page:forum-bwing")
    feed, page = result["rss:courier-maple"], result["page:forum-bwing"]
    assert feed["produced"] == 1 and feed["filtered"] == 2
    # page 1: post-501 kept, post-502 filtered; page 2: 502 and 499 filtered, one post has no id
    assert page["produced"] == 1 and page["filtered"] == 3 and page["malformed"] == 1
    texts = {p.source: p.text for p in published()}
    assert "Maple Ridge routes" in texts["rss:courier-maple"]
    assert texts["page:forum-bwing"] == "Does anyone know when B-wing reopens?"


def test_malformed_responses_and_items_are_counted_never_dropped(crawl, published, settings):
    result = crawl("reddit:brokenjson", "mastodon:broken", "rss:broken",
                   "mastodon:weird", "page:truncated", "page:signin")
    state_dir = settings.data_dir / "ingest" / "state"
    # truncated JSON: nothing to read, counted, and the cursor stays where it was
    for name in ("reddit:brokenjson", "mastodon:broken"):
        assert result[name]["malformed"] == 1 and result[name]["produced"] == 0 and not result[name]["state_saved"]
    # a truncated feed: the complete items go on, but no ETag is kept, so the next run refetches
    # the whole feed instead of getting a 304 for a broken copy
    feed = result["rss:broken"]
    assert feed["produced"] == 2 and feed["malformed"] >= 1 and not feed["state_saved"]
    assert not (state_dir / "rss_broken.json").exists()
    weird = result["mastodon:weird"]
    # a string for a status, an object for its content, a status without uri; the good one goes on
    assert weird["malformed"] == 3 and weird["produced"] == 1
    # bad items do not hold the cursor: refetching would return them just as broken
    assert weird["errors"] == 0 and weird["state_saved"]
    truncated = result["page:truncated"]
    assert truncated["produced"] == 1 and truncated["malformed"] == 1
    # a sign-in wall matched no posts: a malformed page, flagged as an error for the operator
    signin = result["page:signin"]
    assert signin["produced"] == 0 and signin["malformed"] == 1 and signin["errors"] == 1
    texts = sorted(p.text for p in published() if p.source in ("mastodon:weird", "page:truncated"))
    assert texts == ["Lost a blue water bottle in the Lynx Stadium stands", "Sycamore Elementary science night Tuesday."]
    assert {p.source for p in published()} == {"rss:broken", "mastodon:weird", "page:truncated"}
