"""The real Scrapy engine, in a child process, against hand-written pages on a local server."""

from __future__ import annotations

import json


def by_source(posts, source):
    return {p.native_id: p for p in posts if p.source == source}


def test_reddit_pagination_dedupes_and_resumes_with_only_new_posts(crawl, published, server, settings):
    first = crawl("reddit:riverton")["reddit:riverton"]
    posts = by_source(published(), "reddit:riverton")
    assert set(posts) == {"t3_rv0a1", "t1_rvc01", "t3_rv0a2", "t3_rv0a3"}
    # the comment came on both pages: published once, counted as skipped
    assert first["produced"] == 4 and first["skipped"] == 1 and first["state_saved"]
    a3 = posts["t3_rv0a3"]
    assert a3.text == "Maple Ridge band concert & bake sale\n\nThursday 7pm in the Mustang Gym."
    assert a3.author == "maple_mom" and a3.url.endswith("/r/riverton/comments/rv0a3/x/")
    assert a3.created_at.isoformat() == "2026-11-18T11:13:20+00:00"
    assert posts["t1_rvc01"].thread_id == "t3_rv0a1"
    assert len(server.paths("/r/riverton/new.json")) == 2

    server.phase = 2
    second = crawl("reddit:riverton")["reddit:riverton"]
    assert second["produced"] == 1
    assert [p.native_id for p in published() if p.source == "reddit:riverton"][-1] == "t3_rv0a4"
    assert len(published()) == 5
    # the older page was not fetched again: the run stopped at the first post it had seen
    assert len(server.paths("/r/riverton/new.json")) == 3


def test_reddit_429_waits_for_retry_after_then_succeeds(crawl, published, server):
    result = crawl("reddit:lincolnlynx")["reddit:lincolnlynx"]
    hits = server.paths("/r/lincolnlynx/new.json")
    assert len(hits) == 2
    assert hits[1].at - hits[0].at >= 0.9
    assert result["produced"] == 1 and result["errors"] == 0
    assert [p.native_id for p in published()] == ["t3_lx001"]


def test_malformed_json_is_counted_and_does_not_advance_state(crawl, published, settings):
    result = crawl("reddit:brokenjson", "mastodon:broken")
    assert result["reddit:brokenjson"]["malformed"] == 1 and not result["reddit:brokenjson"]["state_saved"]
    assert result["mastodon:broken"]["malformed"] == 1 and not result["mastodon:broken"]["state_saved"]
    assert published() == []


def test_mastodon_max_id_paging_recovers_from_500_and_resumes_with_since_id(crawl, published, server, settings):
    first = crawl("mastodon:riverton.social")["mastodon:riverton.social"]
    posts = by_source(published(), "mastodon:riverton.social")
    assert first["produced"] == 5 and first["errors"] == 0
    assert len(posts) == 5
    post = posts["117000000000000104"]
    assert post.text == "Jazz band at the Mustang Gym on Thursday\nDoors at 6:30"
    assert post.author == "band_booster"
    assert posts["117000000000000103"].text == "Thanks to the crossing guard at Alder & 3rd!\nMade my morning."
    assert posts["117000000000000105"].language == "es"
    # the page that answered 500 was asked again and then answered
    assert [h.query.get("max_id") for h in server.paths("/api/v1/timelines/tag/")].count("117000000000000103") == 2
    state = json.loads((settings.data_dir / "ingest" / "state" / "mastodon_riverton.social.json").read_text())
    assert state["since_id"] == {"rivertonschools": "117000000000000105"}

    server.phase = 2
    before = len(server.requests)
    second = crawl("mastodon:riverton.social")["mastodon:riverton.social"]
    assert second["produced"] == 1
    assert published()[-1].native_id == "117000000000000106"
    assert all(h.query.get("since_id") == "117000000000000105"
               for h in server.requests[before:] if h.path.startswith("/api/"))


def test_bluesky_search_follows_cursor_and_resumes_with_since(crawl, published, server):
    first = crawl("bluesky:search")["bluesky:search"]
    posts = by_source(published(), "bluesky:search")
    assert len(posts) == 3 and first["skipped"] == 1 and first["malformed"] == 1
    b3 = posts["at://did:plc:cccc3333/app.bsky.feed.post/3n00000000003"]
    assert b3.url == "https://bsky.app/profile/hornetsdad.bsky.example/post/3n00000000003"
    assert b3.thread_id == "at://did:plc:bbbb2222/app.bsky.feed.post/3n00000000002"
    assert b3.language == "en" and b3.author == "hornetsdad.bsky.example"

    server.phase = 2
    second = crawl("bluesky:search")["bluesky:search"]
    assert second["produced"] == 1
    assert server.requests[-1].query["since"] == "2026-11-20T20:00:00.000Z"
    assert published()[-1].text == "Lincoln High two-hour delay confirmed"


def test_rss_and_atom_strip_html_and_use_etag_on_rerun(crawl, published, server):
    result = crawl("rss:riverton-courier", "rss:eusd-news")
    assert result["rss:riverton-courier"]["produced"] == 3 and result["rss:eusd-news"]["produced"] == 2
    posts = {p.native_id: p for p in published()}
    bus_routes = posts["https://riverton-courier.example/news/2026/11/17/bus-routes"]
    assert bus_routes.text == ("School board weighs bus route changes\n\nThe board heard three proposals "
                               "for Maple Ridge routes.\nA vote is due in December.")
    assert bus_routes.author == "Dana Whitfield" and bus_routes.language == "en-us"
    assert bus_routes.created_at.isoformat() == "2026-11-17T21:30:00-06:00"
    # no guid: the link is the id
    assert "https://riverton-courier.example/news/2026/11/30/snow" in posts
    drill = posts["tag:eusd.example,2026:news/118"]
    assert drill.text == "Lockdown drill at Lincoln High on Wednesday\n\nThis is a scheduled drill."
    assert drill.url == "https://eusd.example/news/lockdown-drill" and drill.author == "EUSD Communications"
    assert posts["tag:eusd.example,2026:news/121"].url == "https://eusd.example/news/break"

    again = crawl("rss:riverton-courier")["rss:riverton-courier"]
    assert again["produced"] == 0
    last = server.paths("/feeds/local.xml")[-1]
    assert last.headers.get("If-None-Match") == '"courier-v1"'
    assert len(published()) == 5


def test_truncated_feed_keeps_complete_items_and_no_validators(crawl, published, settings):
    result = crawl("rss:broken")["rss:broken"]
    assert result["produced"] == 2 and result["malformed"] >= 1 and not result["state_saved"]
    assert not (settings.data_dir / "ingest" / "state" / "rss_broken.json").exists()


def test_page_spider_follows_next_and_dedupes_across_pages(crawl, published, server):
    result = crawl("page:lhs-parents-forum")["page:lhs-parents-forum"]
    posts = by_source(published(), "page:lhs-parents-forum")
    assert set(posts) == {"post-501", "post-502", "post-499"}
    assert result["skipped"] == 1 and result["malformed"] == 1
    p = posts["post-502"]
    assert p.text == "Heard it's Monday.\nWill confirm after the PTA call."
    assert p.author == "LynxMom" and p.url == f"{server.url}/forum/thread-7/post-502"
    assert p.created_at.isoformat() == "2026-11-21T10:40:00-06:00"

    crawl("page:lhs-parents-forum")
    # second run: first page holds nothing new, so the older page is not requested again
    assert len([h for h in server.paths("/forum/latest") if h.query.get("page") == "2"]) == 1
    assert len(published()) == 3


def test_robots_txt_disallow_is_obeyed_and_user_agent_names_district(crawl, published, server, settings):
    result = crawl("page:private")["page:private"]
    assert server.paths("/private/") == []
    assert published() == [] and result["produced"] == 0
    robots = server.paths("/robots.txt")
    assert robots, "robots.txt was not fetched"
    ua = robots[0].headers["User-Agent"]
    assert settings.general.district in ua and settings.general.contact_email in ua
