"""The queue and the item page: filters, counts, sorts, paging, escaping, who sees what, the audit trail.
What the pages list and refuse is the review service's (policy, queries); these check the pages
pass it through."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from console_support import AuditSpy, csrf_of, logged_in
from review_support import PAGED_AT, flagged

from pipeline.schema import item_document
from pipeline.store import StoreUnavailable

XSS_TEXT = '<script>alert(1)</script>"><img src=x onerror=alert(2)> at Lincoln'


def at(day: int, hour: int = 16) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)  # 16:00 UTC = 10:00 in Riverton (CST)


ITEMS = {
    "gun": flagged("I'm bringing a gun to Lincoln tomorrow", id="gun", created_at=at(2)),
    "fight": flagged("big fight after the game at Central, bring friends", id="fight", severity="P2",
                     school="Riverton Central High School", source="rss:riverton-news", source_kind="rss",
                     created_at=at(3), threat_score=0.7),
    "sad": flagged("I don't want to be here anymore", id="sad", kind="tip", severity="P2", category="self_harm",
                   school="Hawthorne Middle School", source="tipline", source_kind="tipline", created_at=at(3, 20),
                   threat_score=0.05, self_harm_score=0.9),
    "mean": flagged("everyone laughs at her in the hallway, she should disappear", id="mean", severity="P3",
                    category="bullying", school="Maple Ridge Middle School", source="mastodon:district",
                    source_kind="mastodon", created_at=at(4), threat_score=0.2),
    "vape": flagged("selling vapes behind the gym", id="vape", severity="P3", category="drugs", school=None,
                    created_at=at(1), threat_score=0.1),
    "xss": flagged(XSS_TEXT, id="xss", category="weapons", created_at=at(4, 18), threat_score=0.9,
                   url="https://example.org/p?a=1&b=<2>", author="<i>me</i>",
                   explanation=['cue "<b>bold</b>"'], cues=['"><svg onload=alert(3)>']),
}


@pytest.fixture
def items(rt):
    rt.store.index_items([item_document(item) for item in ITEMS.values()])
    stored = rt.store.get_item("vape")
    rt.store.update_review("vape", {"status": "dismissed"}, stored.version)
    return ITEMS


def shown(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [html.unescape(m) for m in re.findall(r'<td class="excerpt"><a href="/items/([^"]+)"', response.text)]


def counts(response, facet: str) -> dict[str, int]:
    part = response.text.split(f"<strong>{facet}:</strong>")[1].split("</p>")[0]
    return {k: int(v) for k, v in re.findall(r'>(\w+) <span class="count">(\d+)</span>', part)}


def test_queue_lists_the_most_severe_first_then_the_newest_with_counts(console, items):
    logged_in(console, "ada")
    r = console.get("/")
    assert shown(r) == ["xss", "gun", "sad", "fight", "mean", "vape"]
    assert "6 items, page 1 of 1." in r.text
    assert counts(r, "Severity") == {"P1": 2, "P2": 2, "P3": 2}
    assert counts(r, "Status") == {"open": 5, "acknowledged": 0, "assigned": 0, "escalated": 0, "dismissed": 1,
                                   "resolved": 0}
    row = r.text.split('href="/items/fight"')[1].split("</tr>")[0]
    for cell in ("violence", "Riverton Central High School", "open", "2026-03-03 10:00 CST", "rss:riverton-news"):
        assert cell in row


@pytest.mark.parametrize("params, expected", [
    ({"severity": "P1"}, ["xss", "gun"]),
    ({"severity": ["P2", "P3"]}, ["sad", "fight", "mean", "vape"]),
    ({"category": "self_harm"}, ["sad"]),
    ({"category": ["drugs", "bullying"]}, ["mean", "vape"]),
    ({"school": "Lincoln High School"}, ["xss", "gun"]),
    ({"status": "dismissed"}, ["vape"]),
    ({"status": ["open", "resolved"], "severity": "P3"}, ["mean"]),
    ({"source": "tipline"}, ["sad"]),
    ({"source": "tipline, rss:riverton-news"}, ["sad", "fight"]),
    ({"since": "2026-03-03", "until": "2026-03-03"}, ["sad", "fight"]),  # the whole local day
    ({"since": "2026-03-04"}, ["xss", "mean"]),
    ({"until": "2026-03-01"}, ["vape"]),
    ({"q": "gun"}, ["gun"]),
    ({"q": "fight game"}, ["fight"]),
    ({"sort": "newest"}, ["xss", "mean", "sad", "fight", "gun", "vape"]),
    ({"sort": "oldest"}, ["vape", "gun", "fight", "sad", "mean", "xss"]),
    ({"sort": "score"}, ["gun", "xss", "fight", "mean", "vape", "sad"]),
])
def test_filters_search_and_sort(console, items, params, expected):
    logged_in(console, "ada")
    assert shown(console.get("/", params=params)) == expected


def test_counts_follow_the_other_filters(console, items):
    logged_in(console, "reyes")
    r = console.get("/", params={"school": "Lincoln High School", "severity": "P1"})
    assert counts(r, "Severity") == {"P1": 2, "P2": 0, "P3": 0}
    assert counts(r, "Status")["open"] == 2


def test_paging_keeps_the_filters(console, rt):
    rt.store.index_items([item_document(flagged(f"filler {i}", id=f"f{i:02}", severity="P3", category="drugs",
                                                created_at=at(1) + timedelta(minutes=i))) for i in range(30)])
    logged_in(console, "reyes")
    first = console.get("/", params={"category": "drugs", "size": "25"})
    assert shown(first) == [f"f{i:02}" for i in range(29, 4, -1)] and "page 1 of 2" in first.text
    [next_link] = re.findall(r'href="(/\?[^"]+)" rel="next"', first.text)
    assert html.unescape(next_link) == "/?category=drugs&page=2&size=25"
    second = console.get(html.unescape(next_link))
    assert shown(second) == [f"f{i:02}" for i in range(4, -1, -1)] and 'rel="next"' not in second.text
    assert 'rel="prev"' in second.text


@pytest.mark.parametrize("params", [{"severity": "P9"}, {"category": "<x>"}, {"status": "gone"}, {"sort": "random"},
                                    {"since": "yesterday"}, {"page": "0"}, {"page": "-1"}, {"size": "1000"}])
def test_unknown_filter_values_are_a_400_not_a_silent_guess(console, items, params):
    logged_in(console, "reyes")
    r = console.get("/", params=params)
    assert r.status_code == 400 and "<x>" not in r.text


@pytest.mark.parametrize("params", [{"until": "9999-12-31"}, {"since": "0001-01-01"}, {"since": "9999-12-31"},
                                    {"until": "0001-01-01"}, {"since": "0001-01-01", "until": "9999-12-31"}])
def test_dates_at_the_ends_of_the_calendar_are_a_400_not_a_500(console, items, params, monkeypatch):
    # The last day's "until" is midnight after it (year 10000); the first day at midnight in a
    # zone east of UTC is in year 0: neither is a datetime. Riverton is west of UTC, so check
    # an eastern zone too.
    logged_in(console, "reyes")
    for zone in ("America/Chicago", "Asia/Tokyo"):
        monkeypatch.setattr(console.app.state.console, "tz", ZoneInfo(zone), raising=False)
        r = console.get("/", params=params)
        assert r.status_code == 400, (zone, params, r.status_code)
        assert "date" in r.text and "0001-01-02" in r.text and "9999-12-30" in r.text


def test_a_far_but_representable_range_lists_everything(console, items):
    logged_in(console, "ana")
    assert sorted(shown(console.get("/", params={"since": "0001-01-02", "until": "9999-12-30"}))) == sorted(ITEMS)


def test_untrusted_text_is_escaped_in_the_queue_and_on_the_item_page(console, items):
    logged_in(console, "reyes")
    queue = console.get("/")
    page = console.get("/items/xss")
    assert page.status_code == 200
    for r in (queue, page):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in r.text
        assert "<img" not in r.text and "<svg" not in r.text
    # The only script: the queue's own, from /static (the CSP allows no other).
    assert re.findall(r"<script[^>]*>", queue.text) == ['<script src="/static/queue.js" defer>']
    assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/static/item.js" defer>']
    assert "&lt;b&gt;bold&lt;/b&gt;" in page.text and "&lt;i&gt;me&lt;/i&gt;" in page.text
    assert "&#34;&gt;&lt;svg onload=alert(3)&gt;" in page.text
    # The source link: escaped, and opened without telling the site where from.
    assert ('<a href="https://example.org/p?a=1&amp;b=&lt;2&gt;" rel="noopener noreferrer" target="_blank">'
            in page.text)


def test_only_web_addresses_become_links(console, rt):
    rt.store.index_items([item_document(flagged("x", id="js", url="javascript:alert(document.cookie)")),
                          item_document(flagged("y", id="data", url="data:text/html,<script>alert(1)</script>"))])
    logged_in(console, "reyes")
    for item_id in ("js", "data"):
        r = console.get(f"/items/{item_id}")
        assert r.status_code == 200 and "not a web address; not linked" in r.text
        assert 'href="javascript' not in r.text and 'href="data' not in r.text and "<script>" not in r.text


def test_the_item_page_shows_the_verdict(console, items):
    logged_in(console, "reyes")
    r = console.get("/items/gun")
    assert r.status_code == 200
    for shown_text in ("I&#39;m bringing a gun to Lincoln tomorrow", "P1", "violence", "Lincoln High School",
                       "threat of violence with a weapon", "names Lincoln High School", "reddit:lincolnhigh",
                       "2026-03-02 10:00 CST", "threat 0.97"):
        assert shown_text in r.text, shown_text
    assert console.get("/items/no-such-item").status_code == 404


def test_counselors_see_self_harm_and_bullying_only(console, items, rt, monkeypatch):
    spy = AuditSpy(rt.store, monkeypatch)
    logged_in(console, "cole")
    r = console.get("/")
    assert shown(r) == ["sad", "mean"]
    assert counts(r, "Severity") == {"P1": 0, "P2": 1, "P3": 1}
    assert "Your role sees self-harm and bullying." in r.text
    assert 'value="violence"' not in r.text  # no filter for what they cannot see
    assert shown(console.get("/", params={"category": "violence"})) == []
    assert shown(console.get("/", params={"category": ["violence", "bullying"]})) == ["mean"]
    assert shown(console.get("/", params={"q": "gun"})) == []
    assert console.get("/items/sad").status_code == 200
    for hidden in ("gun", "xss", "vape"):
        r = console.get(f"/items/{hidden}")
        assert r.status_code == 404 and "not available to your role" in r.text
    assert [v["threat"]["item_id"] for v in spy.actions("view")] == ["sad"]


def test_sros_see_self_harm_only_at_p1(console, items, rt):
    rt.store.index_items([item_document(flagged("I have the pills, tonight", id="pills", severity="P1",
                                                category="self_harm", created_at=at(4)))])
    logged_in(console, "reyes")
    r = console.get("/")
    assert shown(r) == ["xss", "pills", "gun", "fight", "mean", "vape"]
    assert "Your role sees every category but self-harm; self-harm at P1 only." in r.text
    assert console.get("/items/sad").status_code == 404 and console.get("/items/pills").status_code == 200


@pytest.mark.parametrize("username", ["ana", "ada"])
def test_analysts_and_admins_see_everything(console, items, username):
    logged_in(console, username)
    r = console.get("/")
    assert len(shown(r)) == 6 and "Your role sees" not in r.text
    assert console.get("/items/sad").status_code == 200


def test_listings_and_item_views_are_audited(console, items, rt, clock, monkeypatch):
    spy = AuditSpy(rt.store, monkeypatch)
    logged_in(console, "reyes")
    console.get("/", params={"severity": "P1", "q": "lincoln"})
    console.get("/items/gun")
    [search] = spy.actions("search")
    assert search["user"] == {"name": "reyes", "roles": ["sro"]} and "item_id" not in search.get("threat", {})
    assert search["details"] == {"filters": {"severity": ["P1"], "text": "lincoln"}, "sort": "triage", "page": 1,
                                 "total": 2, "shown": ["xss", "gun"]}
    assert search["@timestamp"] == clock.now.isoformat()
    [view] = [r for r in rt.store.audit_for("gun") if r["event"]["action"] == "view"]
    assert view["user"] == {"name": "reyes", "roles": ["sro"]}
    assert view["details"] == {"via": "console", "version": rt.store.get_item("gun").version}


def test_store_trouble_is_a_503_page(console, items, rt, monkeypatch):
    logged_in(console, "reyes")

    def down(*args, **kwargs):
        raise StoreUnavailable("sqlite store: database is locked")

    monkeypatch.setattr(rt.store, "search_items", down)
    monkeypatch.setattr(rt.store, "get_item", down)
    for path in ("/", "/items/gun"):
        r = console.get(path)
        assert r.status_code == 503 and r.headers["retry-after"] == "30" and "Try again in a minute" in r.text


# --- open work first, and the poll for new items --------------------------------------------------

JSON = {"Accept": "application/json"}


def decide(rt, item_id: str, status: str) -> None:
    stored = rt.store.get_item(item_id)
    rt.store.update_review(item_id, {"status": status}, stored.version)


def test_open_items_come_before_decided_ones_unless_another_sort_is_chosen(console, items, rt):
    decide(rt, "xss", "resolved")  # a P1 someone resolved goes below an open P3
    decide(rt, "mean", "escalated")  # escalated is still open work
    logged_in(console, "ada")
    r = console.get("/")
    assert shown(r) == ["gun", "sad", "fight", "mean", "xss", "vape"]
    assert '<option value="triage" selected>Open first, most severe first</option>' in r.text
    assert shown(console.get("/", params={"sort": "triage"})) == shown(r)
    chosen = console.get("/", params={"sort": "severity"})
    assert shown(chosen) == ["xss", "gun", "sad", "fight", "mean", "vape"]
    assert '<option value="severity" selected>' in chosen.text
    assert shown(console.get("/", params={"status": ["resolved", "open"]})) == ["gun", "sad", "fight", "xss"]


def test_the_queue_page_gives_its_poll_the_filters_and_the_count_it_shows(console, items):
    logged_in(console, "reyes")
    r = console.get("/", params={"severity": "P1"})
    [box] = re.findall(r'<p class="updates" id="queue-updates"[^>]*><a [^>]*>', r.text)
    assert box.endswith(" hidden>") and 'role="status"' in box  # the link: shown by static/queue.js only
    assert 'data-url="/queue/count?severity=P1"' in box and 'data-known="2"' in box and 'data-poll-s="30"' in box
    # Counted whatever the status: with status=open the page lists 4 but counts 5 (vape is dismissed).
    r = console.get("/", params={"status": "open"})
    assert len(shown(r)) == 4 and 'data-known="5"' in r.text
    # New items are open: a queue of dismissed items has nothing to wait for.
    assert 'id="queue-updates"' not in console.get("/", params={"status": "dismissed"}).text
    for script in ("queue.js", "item.js"):
        js = console.get(f"/static/{script}")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]


def test_the_count_follows_the_filters_and_the_role_and_is_not_audited(console, items, rt, monkeypatch):
    spy = AuditSpy(rt.store, monkeypatch)
    logged_in(console, "reyes")

    def count(**params):
        r = console.get("/queue/count", params=params, headers=JSON)
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store", r.text
        assert "set-cookie" not in r.headers
        return r.json()

    assert count() == {"total": 5}  # the SRO's five: not the counselor's P2 self-harm tip
    assert count(status="open") == {"total": 5} and count(status=["open", "resolved"]) == {"total": 5}
    assert count(severity="P1", q="lincoln") == {"total": 2} and count(status="resolved") == {"total": None}
    decide(rt, "gun", "resolved")  # deciding an item hides no arrival
    assert count(status="open") == {"total": 5}
    rt.store.index_items([item_document(flagged("a new one at Lincoln", id="new", created_at=at(1)))])
    assert count(status="open") == {"total": 6}  # an old post indexed late counts as new too
    assert count(severity="P3") == {"total": 2}
    bad = console.get("/queue/count", params={"severity": "P9"}, headers=JSON)
    assert bad.status_code == 400 and "unknown severity" in bad.json()["error"]
    assert spy.actions("search") == []  # no item shown: nothing for "who saw this item"
    console.cookies.clear()
    logged_in(console, "cole")
    assert count() == {"total": 2}  # the counselor's: sad and mean


def test_polling_for_new_items_does_not_keep_a_session_alive(console, items, clock):
    logged_in(console, "reyes")
    for minutes in (10, 20, 29):
        clock.now = PAGED_AT + timedelta(minutes=minutes)
        r = console.get("/queue/count", headers=JSON)
        assert r.status_code == 200 and "set-cookie" not in r.headers
    clock.now = PAGED_AT + timedelta(minutes=30)  # 30 minutes after the last thing the person did
    r = console.get("/queue/count", headers=JSON)
    assert r.status_code == 401 and r.json() == {"error": "login required"}
    assert console.get("/").headers["location"] == "/login"


def test_the_item_page_has_a_bar_of_one_tap_actions_and_opens_the_panel_when_an_action_is_refused(console, items):
    logged_in(console, "reyes")
    page = console.get("/items/gun")
    bar = page.text.split('<div class="action-bar">')[1].split("</div>")[0]
    assert re.findall(r'<form [^>]*id="([\w-]+)"', bar) == ["act-acknowledge", "assign-to-me"]
    assert '<input type="hidden" name="assignee" value="reyes">' in bar and 'href="#more-actions"' in bar
    assert '<details class="more-actions" id="more-actions">' in page.text  # closed until asked for
    # One tap assigns the item to me; then the bar offers it no more.
    version = re.search(r'id="assign-to-me">.*?name="version" value="([^"]+)"', page.text, re.DOTALL).group(1)
    r = console.post("/items/gun/assign", data={"csrf_token": csrf_of(page.text), "version": version,
                                                 "assignee": "reyes"})
    assert r.status_code == 303
    page = console.get("/items/gun")
    assert "Assigned to</dt><dd>reyes" in page.text and 'id="assign-to-me"' not in page.text
    # A refused action shows the page again with the panel open, so the form and the message are in view.
    version = re.search(r'id="act-dismiss">.*?name="version" value="([^"]+)"', page.text, re.DOTALL).group(1)
    r = console.post("/items/gun/dismiss", data={"csrf_token": csrf_of(page.text), "version": version, "reason": " "})
    assert r.status_code == 400 and '<details class="more-actions" id="more-actions" open>' in r.text
