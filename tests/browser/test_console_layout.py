"""The review console on a phone (390×844, and 360 wide) and on a desktop (1280×800), light and dark.

Measured in Debian's chromium on the console of ``test_console_in_browser``: nothing scrolls
sideways, Acknowledge is on the first screen, every control is at least 44 px high on a phone and
nothing covers a button (``elementFromPoint`` at its centre is the button), the queue's rows are
cards on a phone and lists open items first, dark mode follows ``prefers-color-scheme`` with the
severities readable (contrast at least 4.5:1, computed from the colours drawn), and the queue
announces new items without reloading, under the unchanged CSP.

``THREATLINE_SCREENSHOTS=docs/img`` also saves the screenshots in docs/review.md
(``review-{queue,item}-{phone,desktop}.png``, ``review-item-phone-dark.png``); otherwise none is written.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from pipeline.review.console import queue as queue_page
from pipeline.review.console.web import CONSOLE_CSP
from pipeline.schema import item_document

from .conftest import SCREENSHOTS
from .test_console_in_browser import (
    OTHERS,
    PAYLOAD,
    REPLY,
    ROWS,
    SELF_HARM_P1,
    VIOLENCE,
    at,
    console,
    flagged,
    log_in,
)

__all__ = ["console"]  # the fixture, imported to be used here

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
TAP = 44
# Every control a person may tap, as it is drawn (hidden inputs and closed panels are skipped).
CONTROLS = "button, select, textarea, input:not([type=hidden], [type=checkbox], [type=radio]), summary, .action-bar a"

# Whether what is drawn at the centre of an element is the element (or inside it), and its height.
HIT = """e => {
    const r = e.getBoundingClientRect();
    const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
    return {text: e.innerText || e.name || e.id, height: r.height, ok: hit !== null && (hit === e || e.contains(hit))};
}"""
# The colour of an element's text and of the first opaque background behind it, as [r, g, b].
COLOURS = """e => {
    const rgb = s => s.match(/[\\d.]+/g).map(Number);
    let b = e, bg = null;
    for (; b; b = b.parentElement) {
        const c = getComputedStyle(b).backgroundColor, parts = rgb(c);
        if (parts.length < 4 || parts[3] > 0) { bg = parts.slice(0, 3); break; }
    }
    return {fg: rgb(getComputedStyle(e).color).slice(0, 3), bg: bg || [255, 255, 255]};
}"""


def logged_in(page: Page, console, username: str = "reyes") -> None:
    """``log_in``, then wait for the queue's stylesheet: the layout is measured, not the DOM."""
    log_in(page, console, username)
    page.wait_for_load_state("load")


def contrast(fg: list[float], bg: list[float]) -> float:
    """The WCAG 2 contrast ratio of two sRGB colours."""
    def luminance(rgb):
        c = [v / 255 for v in rgb]
        c = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def no_sideways_scroll(page: Page) -> None:
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url


def assert_tappable(page: Page, selector: str, *, min_height: float = 0) -> int:
    """Each visible element of ``selector``, scrolled into view: nothing is drawn over its centre,
    and it is at least ``min_height`` px high. How many were checked."""
    elements = [e for e in page.locator(selector).all() if e.is_visible()]
    for element in elements:
        element.scroll_into_view_if_needed()
        hit = element.evaluate(HIT)
        assert hit["ok"], f"something is drawn over {hit['text']!r} on {page.url}"
        assert hit["height"] >= min_height, f"{hit['text']!r} is {hit['height']} px high"
    return len(elements)


def open_more_actions(page: Page) -> None:
    more = page.locator("details.more-actions")
    if more.get_attribute("open") is None:
        more.locator("summary").click()
    expect(page.locator("#act-note button")).to_be_visible()


def set_scheme(page: Page, scheme: str) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
    assert page.evaluate(f"matchMedia('(prefers-color-scheme: {scheme})').matches")


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_the_queue_and_the_item_page_fit_the_screen_and_every_button_can_be_tapped(console, open_page, size):
    viewport = PHONE if size == "phone" else DESKTOP
    page = open_page(viewport=viewport)
    # A P1 someone already resolved: open items come first, whatever their severity.
    decided = console.rt.store.get_item(SELF_HARM_P1.id)
    console.rt.store.update_review(decided.id, {"status": "resolved"}, decided.version)
    logged_in(page, console)
    excerpts = page.locator(ROWS).all_inner_texts()
    assert excerpts[0] == PAYLOAD and excerpts[-1] == SELF_HARM_P1.text and len(excerpts) == 6
    no_sideways_scroll(page)
    if size == "phone":
        # Cards: the text spans the card (no column squeezed to a word a line), one card a row.
        boxes = [row.bounding_box() for row in page.locator("table.queue tbody tr").all()]
        assert all(b["width"] >= 0.9 * (viewport["width"] - 32) for b in boxes)
        assert all(a["y"] + a["height"] <= b["y"] for a, b in itertools.pairwise(boxes))
        first = page.locator(ROWS).first
        assert first.bounding_box()["width"] >= 0.8 * boxes[0]["width"]
        assert page.locator("table.queue thead").bounding_box()["height"] <= 1
        assert_tappable(page, f"header button, header a, .facets a, {ROWS}", min_height=TAP)
    docs_screenshot_viewport(page, f"review-queue-{size}")
    if size == "phone":
        page.get_by_text("Filters and search").click()
        assert_tappable(page, f"details.filters :is({CONTROLS}, a)", min_height=TAP)
        assert_tappable(page, "details.filters label:has(input[type=checkbox])", min_height=TAP)
        page.set_viewport_size({"width": 360, "height": 740})
        no_sideways_scroll(page)
        page.set_viewport_size(viewport)

    page.goto(f"{console.review}/items/{console.tip_item}")
    acknowledge = page.locator("#act-acknowledge button")
    box = acknowledge.bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] <= viewport["height"]  # on the first screen, untouched
    assert_tappable(page, "#act-acknowledge button, #assign-to-me button", min_height=TAP if size == "phone" else 0)
    # Still one landmark with every action, whatever the layout does with its box.
    expect(page.get_by_role("complementary", name="Actions").get_by_role("button", name="Acknowledge")).to_be_visible()
    if size == "phone":
        # The bar is pinned to the bottom of the screen while its place is further down.
        page.locator(".message").evaluate("e => { e.textContent = e.textContent.repeat(30); }")
        page.evaluate("window.scrollTo(0, 0)")
        bar = page.locator(".action-bar").bounding_box()
        assert abs(bar["y"] + bar["height"] - viewport["height"]) <= 1, bar
        assert_tappable(page, "#act-acknowledge button, #assign-to-me button, .more-link", min_height=TAP)
        page.reload()
    docs_screenshot_viewport(page, f"review-item-{size}")
    if size == "phone":  # "More" in the bar scrolls to the other actions and opens them (static/item.js)
        page.locator(".more-link").click()
        expect(page.locator("details.more-actions")).to_have_attribute("open", "")
        expect(page.locator("#act-assign button")).to_be_in_viewport()
    open_more_actions(page)
    checked = assert_tappable(page, f".item-actions :is({CONTROLS})", min_height=TAP if size == "phone" else 0)
    assert checked >= 15
    if size == "phone":
        assert_tappable(page, ".item-actions label:has(input[type=checkbox], input[type=radio])", min_height=TAP)
    assert_tappable(page, "header button")
    no_sideways_scroll(page)
    if size == "phone":
        page.set_viewport_size({"width": 360, "height": 740})
        no_sideways_scroll(page)
        page.set_viewport_size(viewport)
    # The facts and the audit come after the actions.
    order = page.evaluate("""() => ['#h-why', '#act-acknowledge', 'dl.facts', '#h-audit'].map(
        s => document.querySelector(s).getBoundingClientRect().top + scrollY)""")
    assert order == sorted(order) if size == "phone" else order[0] < order[2] < order[3]

    if size == "phone":  # the on-duty page: one card per school, nothing sideways
        page.goto(f"{console.review}/on-duty")
        page.set_viewport_size({"width": 360, "height": 740})
        no_sideways_scroll(page)
        expect(page.locator("table.on-duty .role-name").first).to_be_visible()
        page.set_viewport_size(viewport)
        page.goto(f"{console.review}/items/{console.tip_item}")
        open_more_actions(page)

    page.get_by_label("Reply to the tipster").fill(REPLY)
    reply = page.get_by_role("button", name="Send reply")
    assert_tappable(page, "#act-reply button")
    reply.click(timeout=5_000)  # a real click: it fails if anything lies over the button
    expect(page.locator("p.notice")).to_contain_text("Reply sent")


def docs_screenshot_viewport(page: Page, name: str) -> None:
    """``name.png`` in $THREATLINE_SCREENSHOTS, only when it is set: the first screen, as a person
    sees it (the bar pinned at the bottom on a phone)."""
    if SCREENSHOTS:
        page.evaluate("window.scrollTo(0, 0)")
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"))


def test_dark_mode_follows_the_system_and_keeps_the_severities_readable(console, open_page):
    page = open_page(viewport=PHONE)
    logged_in(page, console)
    measured = {}
    for scheme in ("light", "dark"):
        set_scheme(page, scheme)
        for path in ("/", f"/items/{VIOLENCE.id}", f"/items/{OTHERS[0].id}", "/?severity=P3"):
            page.goto(console.review + path)
            for element in page.locator(".sev").all():
                colours = element.evaluate(COLOURS)
                ratio = contrast(colours["fg"], colours["bg"])
                measured[scheme] = min(measured.get(scheme, 99), ratio)
                assert ratio >= 4.5, (scheme, path, element.inner_text(), colours, ratio)
        body = page.locator("body").evaluate(COLOURS)
        assert (sum(body["bg"]) < 100) == (scheme == "dark"), body
        # The focus ring stands out from the page in both schemes (reached with the keyboard).
        for _ in range(6):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.matches('header button')"):
                break
        assert page.evaluate("document.activeElement.matches('header button:focus-visible')")
        ring = page.locator("header button").evaluate("""e => { const s = getComputedStyle(e);
            return {style: s.outlineStyle, width: parseFloat(s.outlineWidth), colour: s.outlineColor.match(/\\d+/g).map(Number)}; }""")
        assert ring["style"] == "solid" and ring["width"] >= 2
        assert contrast(ring["colour"][:3], body["bg"]) >= 3, (scheme, ring)
        if scheme == "dark":
            page.goto(f"{console.review}/items/{VIOLENCE.id}")
            docs_screenshot_viewport(page, "review-item-phone-dark")
    assert set(measured) == {"light", "dark"}


def test_the_queue_says_when_items_arrive_and_reloads_only_when_tapped(console, open_page, monkeypatch):
    monkeypatch.setattr(queue_page, "POLL_S", 1)
    page = open_page(viewport=PHONE)
    responses = []
    page.on("response", lambda r: responses.append(r) if r.url.split("?")[0] == console.review + "/" else None)
    logged_in(page, console)
    csp = responses[-1].headers["content-security-policy"]
    assert csp == CONSOLE_CSP == ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                  "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    updates = page.locator("#queue-updates")
    assert updates.get_attribute("data-poll-s") == "1"
    page.evaluate("window.stillHere = true")  # gone if the page reloads
    with page.expect_response(re.compile(r"/queue/count")) as polled:
        pass
    assert polled.value.json() == {"total": 6}
    expect(updates).to_be_hidden()

    late = flagged("post-late", "just saw a kid with a gun in the parking lot at Lincoln", "P1", "violence",
                   "Lincoln High School", at(4, 15, 59))
    console.rt.store.index_items([item_document(late)])
    expect(updates).to_be_visible()
    expect(updates).to_have_text("1 new item — show")
    assert page.evaluate("window.stillHere") is True  # announced, not reloaded
    assert late.text not in page.locator("main").inner_text()
    updates.locator("a").click()
    expect(page.locator(ROWS).first).to_have_text(late.text)  # open and P1, newest: first
    assert page.evaluate("typeof window.stillHere") == "undefined"
    expect(updates).to_be_hidden()

    # A status filter that new items cannot match: nothing to announce, nothing asked.
    page.goto(console.review + "/?status=resolved")
    assert page.locator("#queue-updates").count() == 0
    # Without JavaScript the queue is a plain page: no notice, no polling.
    plain = open_page(viewport=PHONE, java_script_enabled=False)
    logged_in(plain, console)
    expect(plain.locator("#queue-updates")).to_be_hidden()
    assert len(plain.locator(ROWS).all_inner_texts()) == 7
