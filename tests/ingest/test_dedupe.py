"""One post, many ways in: sources that reach the same post publish it once, in one crawl and
across runs; ids that are only unique within a source stay per source. (Mastodon's two tags,
account and second instance, and Bluesky's search and author feeds: test_spiders.py.)"""

from __future__ import annotations

def test_reddit_search_sends_terms_and_pages_then_the_listing_skips_what_search_published(crawl, published, server):
    first = crawl("reddit:riverton-search")["reddit:riverton-search"]
    hits = server.paths("/r/riverton/search.json")
    assert len(hits) == 2
    query = hits[0].query
    assert query["q"] == '"Lincoln High" OR "Maple Ridge"'
    assert query["restrict_sr"] == "1" and query["sort"] == "new" and query["raw_json"] == "1"
    assert "after" not in query and hits[1].query["after"] == "t3_rv0a3" and hits[1].query["q"] == query["q"]
    assert first["produced"] == 3 and first["pages"] == 2
    assert {p.native_id for p in published()} == {"t3_rvs01", "t3_rv0a3", "t3_rvs02"}

    # a later run of another source over the same subreddit: t3_rv0a3 is already on the bus
    second = crawl("reddit:riverton")["reddit:riverton"]
    assert second["produced"] == 3 and second["skipped"] == 2  # t3_rv0a3, and the repeated comment
    ids = [p.native_id for p in published()]
    assert len(ids) == len(set(ids)) == 6


def test_feeds_share_uri_guids_but_not_bare_ones(crawl, published):
    result = crawl("rss:riverton-courier", "rss:courier-schools")
    posts = published()
    bus_routes = [p for p in posts if p.native_id == "https://riverton-courier.example/news/2026/11/17/bus-routes"]
    assert len(bus_routes) == 1
    # "courier-sports-4411" names one story in each feed: a bare guid is only unique per feed
    sports = {p.source: p.text for p in posts if p.native_id == "courier-sports-4411"}
    assert set(sports) == {"rss:riverton-courier", "rss:courier-schools"}
    assert sports["rss:courier-schools"].startswith("Central robotics team")
    assert sum(r["produced"] for r in result.values()) == 4 and sum(r["skipped"] for r in result.values()) == 1
