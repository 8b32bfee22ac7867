"""The real Scrapy engine, in a child process, against hand-written pages on a local server."""

from __future__ import annotations

import json

from .pages import B1, B2, B3, B4, B5, B6, B7, B8, BAND_BOOSTER_ID, BOOST, M, M105_ON_B


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


def test_mastodon_tags_accounts_and_instances_page_resume_and_publish_each_status_once(
        crawl, published, server, settings):
    names = ("mastodon:riverton.social", "mastodon:band-booster", "mastodon:inst-b")
    first = crawl(*names)
    posts = {p.native_id: p for p in published()}
    assert set(posts) == {M[k]["uri"] for k in (101, 102, 103, 104, 105, 107)}
    # one status each, though 104 came through #rivertonschools, #mustangs and band_booster's
    # timeline, and 105 through two instances (different local ids, one ActivityPub uri)
    assert len(published()) == 6 and sum(r["produced"] for r in first.values()) == 6
    assert sum(r["skipped"] for r in first.values()) == 3
    post = posts[M[104]["uri"]]
    assert post.text == "Jazz band at the Mustang Gym on Thursday\nDoors at 6:30"
    assert post.author == "band_booster" and post.url == M[104]["url"]
    assert posts[M[103]["uri"]].text == "Thanks to the crossing guard at Alder & 3rd!\nMade my morning."
    assert posts[M[105]["uri"]].language == "es"
    assert all(r["errors"] == 0 and r["state_saved"] for r in first.values())
    # the account's boost of someone else's status is not the account's post
    assert first["mastodon:band-booster"]["filtered"] == 1
    # the page that answered 500 was asked again and then answered
    assert [h.query.get("max_id") for h in server.paths("/api/v1/timelines/tag/")].count(M[103]["id"]) == 2
    lookups = server.paths("/api/v1/accounts/lookup")
    assert [h.query["acct"] for h in lookups] == ["band_booster"]
    statuses = server.paths(f"/api/v1/accounts/{BAND_BOOSTER_ID}/statuses")
    assert [h.query.get("max_id") for h in statuses] == [None, BOOST["id"]]
    assert all(h.query["exclude_reblogs"] == "true" for h in statuses)
    state_dir = settings.data_dir / "ingest" / "state"
    tags_state = json.loads((state_dir / "mastodon_riverton.social.json").read_text())
    assert tags_state["since_id"] == {"#rivertonschools": M[105]["id"], "#mustangs": M[104]["id"]}
    account_state = json.loads((state_dir / "mastodon_band-booster.json").read_text())
    assert account_state["since_id"] == {"@band_booster": M[107]["id"]}

    server.phase = 2
    before, seen = len(server.requests), len(published())
    second = crawl(*names)
    assert sum(r["produced"] for r in second.values()) == 2
    assert {p.native_id for p in published()[seen:]} == {M[106]["uri"], M[108]["uri"]}
    timeline_hits = [h for h in server.requests[before:] if "statuses" in h.path or "/timelines/" in h.path]
    since = {(h.path, h.query.get("since_id")) for h in timeline_hits}
    assert since == {("/api/v1/timelines/tag/rivertonschools", M[105]["id"]),
                     ("/api/v1/timelines/tag/mustangs", M[104]["id"]),
                     (f"/api/v1/accounts/{BAND_BOOSTER_ID}/statuses", M[107]["id"]),
                     ("/inst-b/api/v1/timelines/tag/rivertonschools", M105_ON_B["id"])}


def test_bluesky_search_and_author_feeds_page_resume_and_publish_each_post_once(crawl, published, server, settings):
    names = ("bluesky:search", "bluesky:authors")
    first = crawl(*names)
    posts = {p.native_id: p for p in published()}
    assert set(posts) == {B["uri"] for B in (B1, B2, B3, B5, B6, B8)}
    # B2: search page 1, search page 2 (the listing shifted), and cougarmom's own feed
    assert len(published()) == 6 and sum(r["skipped"] for r in first.values()) == 2
    search, authors = first["bluesky:search"], first["bluesky:authors"]
    assert search["malformed"] == 1  # a post without uri
    assert authors["filtered"] == 1  # cougarmom's repost of B1 is not her post
    assert all(r["errors"] == 0 and r["state_saved"] for r in first.values())
    b3 = posts[B3["uri"]]
    assert b3.url == "https://bsky.app/profile/hornetsdad.bsky.example/post/3n00000000003"
    assert b3.thread_id == B2["uri"] and b3.language == "en" and b3.author == "hornetsdad.bsky.example"
    reply = posts[B6["uri"]]
    assert reply.author == "cougarmom.bsky.example" and reply.thread_id == B1["uri"]
    feed = server.paths("/xrpc/app.bsky.feed.getAuthorFeed")
    assert sorted((h.query["actor"], h.query.get("cursor") or "") for h in feed) == [
        ("cougarmom.bsky.example", ""), ("cougarmom.bsky.example", "f2"), ("did:plc:eeee5555", "")]
    state = json.loads((settings.data_dir / "ingest" / "state" / "bluesky_authors.json").read_text())
    assert state["author_newest"] == {"cougarmom.bsky.example": B2["indexedAt"], "did:plc:eeee5555": B8["indexedAt"]}

    server.phase = 2
    before, seen = len(server.requests), len(published())
    second = crawl(*names)
    assert sum(r["produced"] for r in second.values()) == 2
    assert {p.native_id for p in published()[seen:]} == {B4["uri"], B7["uri"]}
    again = server.requests[before:]
    assert [h.query.get("since") for h in again if h.path.endswith("searchPosts")] == [B3["indexedAt"]]
    # getAuthorFeed has no since: page 1 reached a post the last run saw, so no page 2
    assert [h.query.get("cursor") for h in again if h.path.endswith("getAuthorFeed")] == [None, None]


def test_rss_and_atom_strip_html_and_use_etag_on_rerun(crawl, published, server):
    result = crawl("rss:riverton-courier", "rss:eusd-news")
    assert result["rss:riverton-courier"]["produced"] == 3 and result["rss:eusd-news"]["produced"] == 3
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
    # xml:lang on the feed, overridden by one entry's own xml:lang
    assert drill.language == "en" and posts["tag:eusd.example,2026:news/122"].language == "es"

    again = crawl("rss:riverton-courier")["rss:riverton-courier"]
    assert again["produced"] == 0
    last = server.paths("/feeds/local.xml")[-1]
    assert last.headers.get("If-None-Match") == '"courier-v1"'
    assert len(published()) == 6


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
