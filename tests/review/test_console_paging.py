"""Paging and closing from the console (issue 15): Page now, Escalate paging the next role, the
on-duty page, and closing a tip's thread (alone, or when resolving). The service rules behind
them are tested in test_page_now.py and test_actions.py; here, the forms and what they say."""

from __future__ import annotations

import re

import pytest
from console_support import logged_in, post_action
from review_support import flagged

from pipeline.review.actions import tip_threads
from pipeline.schema import item_document
from pipeline.tipline import passphrase

TIP_CODE = "K7Q2M4XPAB"


@pytest.fixture
def threads(rt):
    rt.settings.data_dir.mkdir(parents=True, exist_ok=True)
    t = tip_threads(rt.settings)
    salt = passphrase.new_salt()
    t.create(TIP_CODE, "tip-1", salt, passphrase.hash_passphrase("maple-river-otter-cloud", salt),
             "Lincoln High School", "a fight is planned behind the gym friday")
    yield t
    t.close()


@pytest.fixture
def seeded(rt, threads):
    rt.store.index_items([item_document(i) for i in (
        flagged(id="missed"),  # a P1 that never went through the alert stage
        flagged("a fight is planned behind the gym friday", id="tip-1", kind="tip", source="tipline",
                source_kind="tipline", author=None, severity="P3", category="bullying", tip_code=TIP_CODE),
        flagged("i want to disappear", id="sh", severity="P2", category="self_harm"))])
    return rt


def test_page_now_pages_the_person_on_duty_and_the_page_says_who(console, seeded, sent):
    logged_in(console, "ada")
    page = console.get("/items/missed").text
    form = page.split('id="act-page_now"')[1].split("</form>")[0]
    options = re.findall(r'<option value="(\w+)">', form)
    assert options == ["sro", "counselor", "admin"]

    r = post_action(console, "missed", "page_now", page_role="sro")
    assert r.status_code == 303 and r.headers["location"] == "/items/missed?done=page_now"
    assert len(sent) == 1 and "I&#39;m bringing" not in sent[0] and "bringing my dad" in sent[0]
    [alert] = seeded.store.search_alerts(item_id="missed")
    shown = console.get(r.headers["location"]).text
    assert "Paged: the alert below says who was reached." in shown
    assert f"<strong>sro</strong>: {alert.doc['status']} · {alert.doc['person']}" in shown
    assert "<td>paged</td><td>ada</td>" in shown.split('<caption>Alert timeline')[1]


def test_self_harm_below_p1_offers_no_officer_and_refuses_one(console, seeded, sent):
    logged_in(console, "ada")
    form = console.get("/items/sh").text.split('id="act-page_now"')[1].split("</form>")[0]
    assert re.findall(r'<option value="(\w+)">', form) == ["counselor", "admin"]
    r = post_action(console, "sh", "page_now", page_role="sro")
    assert r.status_code == 400 and "not to police" in r.text and sent == []


def test_escalate_pages_the_administrator_on_duty(console, seeded, sent):
    logged_in(console, "reyes")
    r = post_action(console, "missed", "escalate", reason="he named a time")
    assert r.status_code == 303 and len(sent) == 1
    [alert] = seeded.store.search_alerts(item_id="missed")
    assert alert.doc["role"] == "admin"


def test_the_on_duty_page_shows_each_school_and_role_and_the_gaps(console, seeded, pager, clock):
    logged_in(console, "cole")
    r = console.get("/on-duty")
    assert r.status_code == 200 and 'aria-current="page">On duty' in r.text
    rows = re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', r.text, re.S)
    assert [school for school, _ in rows][-1] == "no school matched"
    lincoln = dict(rows)["Lincoln High School"]
    cells = re.findall(r'<td class="(gap|covered)">(.*?)</td>', lincoln)
    assert len(cells) == 3
    expected = [p.name for p in pager.roster.on_duty("sro", "Lincoln High School", clock())]
    assert all(name in cells[0][1] for name in expected) and (cells[0][0] == "gap") == (not expected)
    urls = [c.url.get_secret_value() for p in pager.roster.people.values() for c in p.channels]
    assert urls and not any(url in r.text for url in urls)  # channel types only: URLs carry credentials


def test_a_thread_is_closed_with_a_message_or_when_the_item_is_resolved(console, seeded, threads):
    logged_in(console, "reyes")
    page = console.get("/items/tip-1").text
    assert 'id="act-close_thread"' in page and 'name="close_thread"' in page.split('id="act-resolve"')[1]
    r = post_action(console, "tip-1", "resolve", outcome="administration", close_thread="1",
                    closing="We talked to the students. Thank you.")
    assert r.status_code == 303
    thread = threads.get(TIP_CODE)
    assert thread.status == "closed" and thread.messages[-1].text == "We talked to the students. Thank you."
    after = console.get("/items/tip-1").text
    assert 'id="act-close_thread"' not in after and "status there: closed" in after
    assert 'name="close_thread"' not in after  # nothing left to close


def test_resolving_without_the_box_leaves_the_thread_open_and_close_thread_alone_closes_it(console, seeded, threads):
    logged_in(console, "reyes")
    assert post_action(console, "tip-1", "resolve", outcome="no_action", closing="unused").status_code == 303
    assert threads.get(TIP_CODE).status == "received"
    r = post_action(console, "tip-1", "close_thread", text="Thanks for letting us know.")
    assert r.status_code == 303 and r.headers["location"] == "/items/tip-1?done=close_thread"
    assert threads.get(TIP_CODE).status == "closed"
    assert "Thread closed" in console.get(r.headers["location"]).text
