"""The review console in a real browser, beside the tip line, both served for real on 127.0.0.1.

An SRO logs in, filters the queue, triages a paged violence post whose text is a script payload
(it must read as text and run nothing), answers a tip, and the tipster reads the answer on the
tip line. A counselor never reaches the violence item or a tipster's contact; nobody gets past
the login; a form without its CSRF token changes nothing. Our pages must raise no CSP violation
(the ``open_page`` fixture fails a test on any).

``THREATLINE_SCREENSHOTS=docs/img`` regenerates the screenshots in docs/review.md
(``review-queue.png``, ``review-item.png``); otherwise none is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Page, expect

from pipeline.bootstrap import build_pager, runtime
from pipeline.review import create_review_app, users
from pipeline.review.users import UsersFile
from pipeline.schema import ScoredItem, item_document
from pipeline.tipline import create_app
from pipeline.tipline.server import in_background

from .conftest import SCREENSHOTS, save_screenshot

PAYLOAD = '<script>window.pwned=1</script> "><img src=x onerror="window.pwned=1"> bringing a gun to Lincoln'
PASSWORD = "correct horse battery staple"
PEOPLE = {"reyes": ("sro", "Officer Dana Reyes"), "alvarez": ("counselor", "Jordan Alvarez")}
CONTACT = "Sam, call me at 555-0142 after school"
TIP = "A boy in my class said he will bring his brother's gun to Lincoln on Friday."
REPLY = "Thank you for telling us. An officer is looking into it today."
# A Wednesday, 10:00 in Riverton: Officer Reyes is on duty for Lincoln High School (config/roster.yaml).
PAGED_AT = datetime(2026, 3, 4, 16, 0, tzinfo=UTC)
VIEWPORT = {"width": 1280, "height": 900}
ROWS = "table.queue td.excerpt a"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def flagged(item_id: str, text: str, severity: str, category: str, school: str | None, created: datetime,
            **extra) -> ScoredItem:
    values = dict(id=item_id, kind="post", text=text, source="reddit:lincolnhigh", source_kind="reddit",
                  author="throwaway_4471", severity=severity, category=category, school=school,
                  created_at=created, scored_at=created, threat_score=0.9, self_harm_score=0.05,
                  school_relevance=0.9, model_version="threat-lr-2026.02", explanation=[])
    return ScoredItem(**(values | extra))


VIOLENCE = flagged("post-payload", PAYLOAD, "P1", "violence", "Lincoln High School", at(4, 15, 52),
                   url="https://www.reddit.com/r/lincolnhigh/comments/1b7x/", thread_id="t3_1b7x", threat_score=0.97,
                   cues=["lexicon:violence:gun", "cue:means:bringing a gun", "cue:target:Lincoln", "cue:odd:pwned"],
                   explanation=["Threat of violence with a weapon (\"bringing a gun\").",
                                "Names a school of the district: Lincoln High School."])
SELF_HARM_P1 = flagged("post-pills", "i have the pills saved up. tonight is the night, sorry everyone", "P1",
                       "self_harm", "Hawthorne Middle School", at(4, 15, 40), source="mastodon:district.social",
                       source_kind="mastodon", author="quietkid", threat_score=0.1, self_harm_score=0.96,
                       explanation=["Self-harm with a plan and a time (\"tonight\")."])
OTHERS = [
    flagged("post-knife", "heard someone has a knife in their locker at Central, be careful", "P2", "weapons",
            "Riverton Central High School", at(4, 14, 5), source="rss:riverton-news", source_kind="rss",
            author=None, threat_score=0.71, explanation=["Mentions a weapon at a school of the district."]),
    flagged("post-sad", "nobody would even notice if i was gone", "P2", "self_harm", "Hawthorne Middle School",
            at(3, 21, 10), author="quietkid", source="mastodon:district.social", source_kind="mastodon",
            threat_score=0.05, self_harm_score=0.88, explanation=["Hopelessness; no plan stated."]),
    flagged("post-mean", "everyone laughs at her in the hallway, she should just disappear", "P3", "bullying",
            "Maple Ridge Middle School", at(3, 18, 30), threat_score=0.22, author="hallway_watch",
            explanation=["Targets a student with exclusion."]),
    flagged("post-vape", "selling vapes behind the gym after 6th period", "P3", "drugs", "Lincoln High School",
            at(2, 17, 45), threat_score=0.12, explanation=["Drug sale on school grounds."]),
]


@dataclass
class Console:
    review: str        # base URL of the review server
    tipline: str       # base URL of the tip line
    rt: object
    tip_item: str      # the tip's item id
    tip_code: str
    passphrase: str


def tip_item(tip: dict, item_id: str, **extra) -> ScoredItem:
    """The tip as the classifier would index it (no model here: the verdict is given)."""
    return ScoredItem(**{**dict(id=item_id, kind="tip", text=tip["message"], source="tipline", source_kind="tipline",
                                created_at=at(4, 15, 58), scored_at=at(4, 15, 58), threat_score=0.93,
                                self_harm_score=0.02, severity="P2", category="violence", school=tip["school"],
                                school_relevance=1.0, model_version="threat-lr-2026.02",
                                explanation=["A tip reporting a threat with a weapon: alert (P2)."],
                                cues=["lexicon:violence:gun", "cue:time:Friday"], tip_code=tip["code"],
                                tip_contact=tip["contact"]), **extra})


@pytest.fixture
def console(settings, tmp_path, monkeypatch):
    """The review server and the tip line on one runtime: flagged items, a tip sent through the tip
    line with the tipster's contact, a self-harm tip, an SRO and a counselor."""
    # argon2id at its smallest cost: the real one takes most of a second per hash here.
    monkeypatch.setattr(users, "default_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    settings = settings.model_copy(update={"review": settings.review.model_copy(
        update={"users_file": tmp_path / "users.yaml"})})
    people = UsersFile(settings.users_path)
    for username, (role, name) in PEOPLE.items():
        people.add(username, role, PASSWORD, name)
    with runtime(settings) as rt:
        rt.bus.setup([settings.topic("tips.raw")])
        rt.store.setup()
        pager = build_pager(settings, rt.store, clock=lambda: PAGED_AT, sleep=lambda _: None,
                            notify=lambda url, title, message: True)
        with in_background(create_app(rt), name="the tip line") as tipline, \
                in_background(create_review_app(rt, pager=pager, clock=lambda: PAGED_AT),
                              name="the review server") as review:
            sent = {"message": TIP, "school": "Lincoln High School", "contact": CONTACT, "urgent": True}
            receipt = httpx.post(tipline + "/api/tips", json=sent).raise_for_status().json()
            tip = {**sent, "code": receipt["code"]}
            rt.store.index_items([item_document(i) for i in (
                VIOLENCE, SELF_HARM_P1, *OTHERS, tip_item(tip, receipt["tip_id"]),
                tip_item({**tip, "code": "SELFHARM01", "message": "my friend says she wants to end it"}, "tip-sh",
                         category="self_harm", explanation=["A tip about a student's safety."]))])
            pager.page(VIOLENCE)
            pager.page(SELF_HARM_P1)
            yield Console(review, tipline, rt, receipt["tip_id"], receipt["code"], receipt["passphrase"])


def docs_screenshot(page: Page, name: str) -> None:
    """``name.png`` in $THREATLINE_SCREENSHOTS (docs/img for the docs), only when it is set: a
    normal run never rewrites the tracked images."""
    if SCREENSHOTS:
        save_screenshot(page, Path(SCREENSHOTS), name)


def log_in(page: Page, console: Console, username: str) -> None:
    page.goto(console.review + "/")
    expect(page).to_have_url(console.review + "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("h1")).to_have_text("Review queue")


def queue_rows(page: Page) -> list[str]:
    """The excerpts listed, of the page loaded now (after a click, wait with ``expect`` first)."""
    return page.locator(ROWS).all_inner_texts()


def more_actions(page: Page) -> None:
    """Open the item page's panel of the actions that take more than a tap (closed on load)."""
    panel = page.locator("details.more-actions")
    if panel.get_attribute("open") is None:
        panel.locator("summary").click()
    expect(panel).to_have_attribute("open", "")


def audited_actions(page: Page) -> list[str]:
    return [a for a in page.locator("table.audit tbody td:nth-child(4)").all_inner_texts() if a != "view"]


def test_an_sro_triages_a_violence_post_end_to_end(console, open_page):
    page = open_page(viewport=VIEWPORT)
    log_in(page, console, "reyes")
    # Most severe first; the SRO sees self-harm at P1 only (the P2 self-harm post and tip are the counselor's).
    assert len(queue_rows(page)) == 6 and "nobody would even notice" not in page.content()
    for count in ("P1 2", "P2 2", "P3 2", "open 6", "resolved 0"):
        expect(page.locator(".facets")).to_contain_text(count)
    docs_screenshot(page, "review-queue")

    page.get_by_text("Filters and search").click()
    page.get_by_role("checkbox", name="P1").check()
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(ROWS)).to_have_count(2)
    page.get_by_label("Text", exact=True).fill("gun")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(ROWS)).to_have_text([PAYLOAD])  # the payload as text, in the list too

    page.get_by_role("link", name=PAYLOAD).click()
    expect(page.locator("h1")).to_contain_text("violence · Lincoln High School")
    expect(page.locator(".message")).to_have_text(PAYLOAD)
    assert page.locator(".message mark").all_inner_texts() == ["pwned", "pwned", "bringing a gun", "Lincoln"]
    assert page.locator("main script, main img").count() == 0
    assert page.evaluate("typeof window.pwned") == "undefined"

    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("p.notice")).to_contain_text("Acknowledged")
    expect(page.locator("table.timeline")).to_contain_text("acknowledged")
    more_actions(page)
    page.locator("#f-label").select_option("threat_transient")
    page.get_by_role("button", name="Save label").click()
    expect(page.locator("p.notice")).to_have_text("Label saved.")
    more_actions(page)
    page.locator("#f-outcome").select_option("parent_contact")
    page.locator("#f-resolve-reason").fill("Spoke with the student and his parents; no access to a weapon.")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator("p.notice")).to_have_text("Resolved.")
    expect(page.locator("dl.facts")).to_contain_text("resolved · outcome parent-contact")
    assert audited_actions(page) == ["acknowledge", "label", "resolve"]
    assert page.evaluate("typeof window.pwned") == "undefined"
    docs_screenshot(page, "review-item")

    [alert] = console.rt.store.search_alerts(item_id=VIOLENCE.id)
    assert (alert.doc["status"], alert.doc["acknowledged_by"]) == ("acknowledged", "reyes")
    review = console.rt.store.get_item(VIOLENCE.id).doc["review"]
    assert (review["status"], review["label"], review["outcome"]) == ("resolved", "threat_transient", "parent_contact")


def test_the_tipster_reads_the_reply_on_the_tip_line(console, open_page):
    page = open_page()
    log_in(page, console, "reyes")
    page.goto(f"{console.review}/items/{console.tip_item}")
    expect(page.locator(".contact")).to_have_text(CONTACT)  # an SRO may call a tipster back
    expect(page.locator(".msg.tipster")).to_contain_text(TIP)
    more_actions(page)
    page.get_by_label("Reply to the tipster").fill(REPLY)
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator("p.notice")).to_contain_text("Reply sent")
    expect(page.locator(".msg.staff")).to_contain_text(REPLY)
    assert audited_actions(page) == ["reply"]

    tipster = open_page()  # another browser: the tipster's, with only the code and the passphrase
    tipster.goto(console.tipline + "/check")
    tipster.get_by_label("Tip code", exact=True).fill(console.tip_code)
    tipster.get_by_label("Passphrase", exact=True).fill(console.passphrase)
    tipster.get_by_role("button", name="Show my tip").click()
    expect(tipster.locator("h1")).to_have_text(f"Your tip {console.tip_code}")
    expect(tipster.locator(".msg.staff")).to_contain_text(REPLY)
    expect(tipster.locator("main")).to_contain_text("School staff are looking into it.")  # words, not a status code


def test_a_counselor_never_reaches_the_violence_item_or_a_tipsters_contact(console, open_page):
    page = open_page()
    log_in(page, console, "alvarez")
    expect(page.locator("p.notice")).to_have_text("Your role sees self-harm and bullying.")
    assert len(queue_rows(page)) == 4  # the self-harm posts and tip, the bullying post
    seen = [page.content()]
    for item_id in (VIOLENCE.id, console.tip_item):
        page.goto(f"{console.review}/items/{item_id}")
        expect(page.locator("h1")).to_have_text("Item not found")
        seen.append(page.content())
    page.goto(f"{console.review}/items/tip-sh")
    expect(page.locator("dl.facts")).to_contain_text("not shown to your role")
    seen.append(page.content())
    page.goto(f"{console.review}/?q=555-0142")
    assert queue_rows(page) == []
    assert not any("555-0142" in html or "his brother" in html for html in seen)


def test_without_login_every_page_and_form_leads_to_the_login(console, page):
    for path in ("/", "/?severity=P1", f"/items/{VIOLENCE.id}", "/items/nothing-here", "/admin/users"):
        page.goto(console.review + path)
        expect(page.locator("h1")).to_have_text("Log in")
        assert page.url.split("?")[0] == console.review + "/login", path
    for action in ("acknowledge", "resolve", "reply"):
        url = f"{console.review}/items/{VIOLENCE.id}/{action}"
        r = page.request.post(url, form={"version": "1", "outcome": "no_action"}, max_redirects=0)
        assert r.status == 303 and r.headers["location"].startswith("/login"), action
        r = page.request.post(url, form={"version": "1"}, headers={"Accept": "application/json"})
        assert r.status == 401 and r.json() == {"error": "login required"}, action
    assert console.rt.store.get_item(VIOLENCE.id).doc["review"]["status"] == "open"


def test_a_post_without_the_csrf_token_is_refused(console, page):
    log_in(page, console, "reyes")
    page.goto(f"{console.review}/items/{VIOLENCE.id}")
    version = page.locator("#act-dismiss input[name=version]").get_attribute("value")
    url = f"{console.review}/items/{VIOLENCE.id}/dismiss"
    r = page.request.post(url, form={"version": version, "reason": "a joke"})  # the session's cookie, no token
    assert r.status == 403 and "This form has expired" in r.text()
    # A script on the page itself (same origin, with the cookie) has no token either.
    status = page.evaluate("""async ([url, version]) => (await fetch(url, {method: "POST", body:
        new URLSearchParams({version, reason: "a joke"})})).status""", [url, version])
    assert status == 403
    assert console.rt.store.get_item(VIOLENCE.id).doc["review"]["status"] == "open"
