"""The tip line and the acknowledge link in a real browser, served for real on 127.0.0.1.

Text that anyone can write (a tip, a post quoted in an alert) carries script and markup. In the
browser it must show as the very text that was written and run nothing: checked with our
Content-Security-Policy enforced, as people get it, and with it bypassed, so that escaping alone
is shown to be enough. Our own pages must raise no CSP violation (the ``open_page`` fixture
fails a test on any).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from pipeline.alerts.pager import alert_from_document
from pipeline.bootstrap import build_pager, runtime
from pipeline.review import create_review_app
from pipeline.schema import ScoredItem, Tip, item_document
from pipeline.tipline import create_app
from pipeline.tipline.guard import SECURITY_HEADERS
from pipeline.tipline.server import in_background

SCRIPT = "<script>window.pwned=1</script>"
IMG = '"><img src=x onerror="window.pwned=1">'
TIP = f"A kid said {SCRIPT} and then {IMG} about the C-wing at lunch"
FOLLOW_UP = f"He said it again today {IMG}{SCRIPT}"
POST = f"bring a gun to Lincoln tomorrow {SCRIPT} {IMG}"
# A Wednesday, 10:00 in Riverton: Officer Reyes is on duty for Lincoln High School (config/roster.yaml).
PAGED_AT = datetime(2026, 3, 4, 16, 0, tzinfo=UTC)


@pytest.fixture
def rt(settings):
    """The shipped config on the embedded bus and store, in the test's tmp_path."""
    with runtime(settings) as r:
        r.bus.setup([settings.topic("tips.raw")])
        r.store.setup()
        yield r


@pytest.fixture(params=["csp", "no-csp"])
def csp_page(request, open_page):
    """A page with our Content-Security-Policy enforced, or bypassed (escaping alone must hold)."""
    return open_page(bypass_csp=request.param == "no-csp")


def assert_nothing_ran(page):
    assert page.locator("main script, main img").count() == 0
    assert page.evaluate("typeof window.pwned") == "undefined"


def published_tip(rt) -> Tip:
    """The one tip on tips.raw (the form publishes before it answers)."""
    with rt.bus.consumer("test-browser", [rt.settings.topic("tips.raw")]) as consumer:
        [message] = consumer.poll(10, 0.5)
        return Tip.from_bytes(message.value)


def test_a_tip_from_the_form_gets_a_receipt_and_reads_back_as_text(rt, csp_page, screenshot):
    page = csp_page
    with in_background(create_app(rt), name="the tip line") as url:
        page.goto(url + "/")
        expect(page.locator("h1")).to_have_text("Report a safety concern")
        page.get_by_label("What happened (required)", exact=True).fill(TIP)
        page.get_by_label("School", exact=True).select_option("Lincoln High School")
        page.get_by_label("When and where", exact=True).fill("Friday lunch")
        page.get_by_label("I think this could happen soon", exact=True).check()
        page.get_by_role("button", name="Send tip").click()

        expect(page.locator("h1")).to_have_text("Thank you. Your tip was received.")
        code, passphrase = page.locator(".secret").all_inner_texts()
        assert re.fullmatch(r"[A-Z0-9]{10}", code) and passphrase
        screenshot(page, "receipt")
        tip = published_tip(rt)
        assert (tip.code, tip.message, tip.school, tip.urgent) == (code, TIP, "Lincoln High School", True)

        page.locator("main").get_by_role("link", name="Check replies to a tip").click()
        page.get_by_label("Tip code", exact=True).fill(code)
        page.get_by_label("Passphrase", exact=True).fill(passphrase)
        page.get_by_role("button", name="Show my tip").click()
        expect(page.locator("h1")).to_have_text(f"Your tip {code}")
        page.get_by_label("Your message", exact=True).fill(FOLLOW_UP)
        page.get_by_role("button", name="Send", exact=True).click()

        # The tip and the follow-up, each the second <p> of its message, exactly as written.
        expect(page.locator(".msg.you")).to_have_count(2)
        assert page.locator(".msg.you > p:nth-child(2)").all_inner_texts() == [TIP, FOLLOW_UP]
        screenshot(page, "thread")
        assert_nothing_ran(page)


def test_an_acknowledge_link_confirms_then_acknowledges(rt, csp_page, screenshot):
    page = csp_page
    now = [PAGED_AT]
    sent: list[str] = []
    pager = build_pager(rt.settings, rt.store, clock=lambda: now[0], sleep=lambda _: None,
                        notify=lambda url, title, message: sent.append(message.text) or True)
    item = ScoredItem(id="item-browser-1", kind="post", text=POST, source="reddit:lincolnhigh",
                      source_kind="reddit", severity="P1", category="violence", school="Lincoln High School",
                      threat_score=0.97, self_harm_score=0.01, school_relevance=0.9, model_version="test",
                      explanation=[f"cue {IMG}"])
    rt.store.index_items([item_document(item)])
    [alert] = pager.page(item)
    [link] = re.findall(r"Acknowledge: (\S+)", sent[-1])

    def stored():
        return alert_from_document(rt.store.get_alert(alert.id).doc)

    with in_background(create_review_app(rt, pager=pager, clock=lambda: now[0]), name="the review server") as url:
        page.goto(url + urlsplit(link).path)  # the host and port of our server, the link's path
        expect(page.locator("h1")).to_have_text("Acknowledge this alert?")
        expect(page.locator(".excerpt")).to_have_text(POST)
        expect(page.locator("main ul li")).to_have_text([f"cue {IMG}"])
        assert_nothing_ran(page)
        screenshot(page, "confirm")
        assert stored().status == "sent" and stored().acknowledged_by is None  # opening it changes nothing

        now[0] = PAGED_AT + timedelta(minutes=1, seconds=30)
        page.get_by_role("button", name="Acknowledge").click()
        expect(page.locator("h1")).to_have_text("Acknowledged — escalation stopped")
        expect(page.locator("p.done")).to_contain_text("Officer Dana Reyes (reyes)")
        expect(page.locator("p.done")).to_contain_text("Time to acknowledge: 1 min 30 s")
        expect(page.locator(".excerpt")).to_have_text(POST)
        assert_nothing_ran(page)
        screenshot(page, "acknowledged")
    after = stored()
    assert (after.status, after.acknowledged_by, after.escalate_at) == ("acknowledged", "reyes", None)


def test_the_checks_catch_a_payload_that_was_not_escaped(open_page):
    """The assertions above could pass for nothing if a payload never ran in this browser or a
    CSP violation never reached the console: on a page that does not escape, they must fail."""
    raw = f"<!doctype html><main><p>{TIP}</p></main>"

    def answer(route):  # nothing leaves the browser: the page, and a failed load for anything else
        if route.request.url == "http://threatline.test/":
            route.fulfill(status=200, content_type="text/html", body=raw, headers=SECURITY_HEADERS)
        else:
            route.abort()

    def serve_raw(page):
        page.route("**/*", answer)
        page.goto("http://threatline.test/")
        return page

    unprotected = serve_raw(open_page(bypass_csp=True))
    expect(unprotected.locator("main img")).to_have_count(1)
    assert unprotected.evaluate("window.pwned") == 1

    protected = serve_raw(open_page())
    assert protected.evaluate("typeof window.pwned") == "undefined"  # the CSP blocked it
    for _ in range(40):  # console messages arrive on their own after the load
        if len(protected.console.csp_violations()) >= 2:
            break
        protected.wait_for_timeout(50)
    violations = protected.console.csp_violations()
    assert any("inline script" in v for v in violations) and any("'x'" in v or "/x" in v for v in violations), \
        protected.console
    protected.console.clear()  # expected here: keep open_page from failing the test
