"""Sources misbehaving: slow, busy, off topic, oddly shaped. Everything is retried or counted."""

from __future__ import annotations

from .pages import SLOW_S


def test_503_retry_after_and_a_timeout_are_retried_then_published(crawl, published, server):
    result = crawl("reddit:busy", "rss:slow")
    busy = server.paths("/r/busy/new.json")
    assert len(busy) == 2 and busy[1].at - busy[0].at >= 0.9  # waited the 1 s Retry-After
    slow = server.paths("/feeds/slow.xml")
    # gave up after timeout_s (1 s), well before the server's late answer, then asked again
    assert len(slow) == 2 and 0.9 <= slow[1].at - slow[0].at < SLOW_S - 0.5
    assert result["reddit:busy"]["produced"] == 1 and result["rss:slow"]["produced"] == 2
    assert all(r["errors"] == 0 and r["state_saved"] for r in result.values())
    assert {p.source for p in published()} == {"reddit:busy", "rss:slow"}


def test_require_terms_filters_feed_and_page_items_and_counts_them(crawl, published):
    result = crawl("rss:courier-maple", "page:forum-bwing")
    feed, page = result["rss:courier-maple"], result["page:forum-bwing"]
    assert feed["produced"] == 1 and feed["filtered"] == 2
    # page 1: post-501 kept, post-502 filtered; page 2: 502 and 499 filtered, one post has no id
    assert page["produced"] == 1 and page["filtered"] == 3 and page["malformed"] == 1
    texts = {p.source: p.text for p in published()}
    assert "Maple Ridge routes" in texts["rss:courier-maple"]
    assert texts["page:forum-bwing"] == "Does anyone know when B-wing reopens?"


def test_oddly_shaped_items_and_malformed_html_are_counted_not_dropped(crawl, published, settings):
    result = crawl("mastodon:weird", "page:truncated", "page:signin")
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
    texts = sorted(p.text for p in published())
    assert texts == ["Lost a blue water bottle in the Lynx Stadium stands", "Sycamore Elementary science night Tuesday."]
