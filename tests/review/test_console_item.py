"""The item page and its actions over HTTP: what the review service gives (item_context) shown
for the viewer's role, cues highlighted on escaped text, each action's form, its errors and its
one audit record. What the service itself decides is tested in test_actions.py and test_policy.py."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest
from clocks import Clock
from console_support import AuditSpy, csrf_of, form_fields, logged_in, post_action
from fastapi.testclient import TestClient
from markupsafe import escape
from review_support import PAGED_AT, flagged

from pipeline.bootstrap import build_pager
from pipeline.review import create_review_app
from pipeline.review.actions import tip_threads
from pipeline.review.console.highlight import cue_words, highlight
from pipeline.schema import item_document
from pipeline.tipline import passphrase

PAYLOAD = '<script>window.pwned=1</script> "><img src=x onerror="window.pwned=1"> bringing a gun to Lincoln'
CUES = ["lexicon:violence:gun", "cue:target:Lincoln", "cue:odd:script", "cue:odd:onerror", "cue:odd:lt"]
CONTACT = "call me at 555-0100"
TIP_CODE = "K7Q2M4XPAB"
SECRET = "maple-river-otter-cloud"


# --- highlighting ---------------------------------------------------------------------------------


def test_cue_words_are_the_words_as_written():
    assert cue_words(["lexicon:violence:gun", "cue:time:after lunch", "cue:target:Lincoln", "gun", None, ""]) == \
        ["gun", "after lunch", "Lincoln"]


def test_cues_are_marked_on_the_escaped_text_and_nothing_else_is_markup():
    marked = str(highlight(PAYLOAD, CUES))
    assert marked == (
        "&lt;<mark>script</mark>&gt;window.pwned=1&lt;/<mark>script</mark>&gt; &#34;&gt;&lt;img src=x "
        "<mark>onerror</mark>=&#34;window.pwned=1&#34;&gt; bringing a <mark>gun</mark> to <mark>Lincoln</mark>")
    # Take our <mark>s away and what is left is exactly the escaped text: no tag of the post's survives.
    assert re.sub("</?mark>", "", marked) == str(escape(PAYLOAD))


@pytest.mark.parametrize("cue", ["lt", "amp", "#34", "34", "quot", "gt;", "&", "&lt;"])
def test_a_cue_never_cuts_an_entity(cue):
    text = 'a < b & "c" > d'
    marked = str(highlight(text, [f"cue:x:{cue}"]))
    assert re.sub("</?mark>", "", marked) == str(escape(text))
    assert not re.search(r"&[#\w]*<mark>|<mark>[#\w]*;", marked)  # no mark starts or ends inside an entity


def test_marks_are_whole_words_any_case_longest_first():
    assert str(highlight("Gunther has a GUN, gun-shy", ["lexicon:v:gun"])) == \
        "Gunther has a <mark>GUN</mark>, <mark>gun</mark>-shy"
    assert str(highlight("bring a gun to school", ["lexicon:v:gun", "cue:means:a gun"])) == \
        "bring <mark>a gun</mark> to school"
    assert str(highlight("it's \"quoted\"", ['cue:x:"quoted"'])) == "it&#39;s <mark>&#34;quoted&#34;</mark>"
    assert str(highlight("no cues <b>", [])) == "no cues &lt;b&gt;"


# --- the page -------------------------------------------------------------------------------------


class Ticking(Clock):
    """A second passes at every reading: audit records (ordered by time) come in the order made."""

    def __call__(self):
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def clock():
    return Ticking(PAGED_AT)


@pytest.fixture
def threads(rt):
    """The tip line's thread store, where the console's tip_threads(settings) finds it."""
    rt.settings.data_dir.mkdir(parents=True, exist_ok=True)
    t = tip_threads(rt.settings)
    salt = passphrase.new_salt()
    t.create(TIP_CODE, "tip-1", salt, passphrase.hash_passphrase(SECRET, salt), "Lincoln High School",
             "someone said he'd bring a gun")
    yield t
    t.close()


@pytest.fixture
def seeded(rt, pager, threads):
    """A paged P1 post with its author's and thread's other items, a violence tip and a self-harm tip."""
    post = flagged(PAYLOAD, id="post", author="kid1", thread_id="t1", cues=CUES, url="https://example.org/p/1")
    rt.store.index_items([item_document(i) for i in (
        post,
        flagged("gun talk again", id="post-2", author="kid1", thread_id="t9", severity="P3"),
        flagged("he means it", id="post-3", author="kid2", thread_id="t1", severity="P2"),
        flagged("someone said he'd bring a gun", id="tip-1", kind="tip", source="tipline", source_kind="tipline",
                author=None, severity="P2", tip_code=TIP_CODE, tip_contact=CONTACT),
        flagged("my friend wants to end it", id="tip-sh", kind="tip", source="tipline", source_kind="tipline",
                author=None, severity="P2", category="self_harm", tip_code="SELFHARM01", tip_contact=CONTACT),
    )])
    pager.page(post)
    return rt


def test_the_item_page_shows_the_item_in_context(console, seeded):
    logged_in(console, "reyes")
    r = console.get("/items/post")
    assert r.status_code == 200
    assert ("&lt;<mark>script</mark>&gt;window.pwned=1" in r.text and "a <mark>gun</mark> to <mark>Lincoln</mark>"
            in r.text)
    assert "<script>" not in r.text and "<img" not in r.text  # the page's own script is /static/item.js
    assert '<a href="https://example.org/p/1" rel="noopener noreferrer" target="_blank">' in r.text
    author = r.text.split('id="h-author"')[1].split("</section>")[0]
    thread = r.text.split('id="h-thread"')[1].split("</section>")[0]
    assert 'href="/items/post-2"' in author and 'href="/items/post-3"' not in author
    assert 'href="/items/post-3"' in thread and 'href="/items/post-2"' not in thread
    timeline = r.text.split('class="timeline"')[1].split("</table>")[0]
    assert "<td>sro</td><td>sent</td><td>reyes</td>" in timeline
    audit = r.text.split('id="h-audit"')[1]
    assert "<td>reyes</td><td>sro</td><td>view</td>" in audit  # this very showing
    # An SRO may do everything but has no tipster to answer on a post.
    assert re.findall(r'id="act-(\w+)"', r.text) == ["acknowledge", "assign", "escalate", "page_now", "resolve",
                                                      "dismiss", "label", "note"]


def test_a_tip_shows_its_conversation_and_the_contact_to_the_roles_allowed_it(console, seeded, users):
    logged_in(console, "reyes")
    r = console.get("/items/tip-1")
    assert CONTACT in r.text and "someone said he&#39;d bring a gun" in r.text.split('id="h-conversation"')[1]
    assert 'id="act-reply"' in r.text
    console.cookies.clear()
    logged_in(console, "cole")
    assert console.get("/items/tip-1").status_code == 404  # a violence tip: not for counselors
    r = console.get("/items/tip-sh")
    assert r.status_code == 200 and CONTACT not in r.text and "not shown to your role" in r.text
    assert all(CONTACT not in console.get(path).text for path in ("/", "/?q=555-0100", "/?source=tipline"))
    console.cookies.clear()
    logged_in(console, "ana")
    r = console.get("/items/tip-1")
    assert CONTACT not in r.text and 'id="h-conversation"' not in r.text
    assert re.findall(r'id="act-(\w+)"', r.text) == ["label", "note"]


def test_a_counselor_reads_a_bullying_tip_but_not_its_violence_follow_up(console, rt, threads, users):
    """The follow-up became a P1 violence item: on the bullying tip's page the counselor sees that a
    message is there, not what it says nor the phone number in it. The SRO reads it."""
    follow = "update: he has a knife in his bag, call me 555-0199"
    salt = passphrase.new_salt()
    threads.create("BULLY00001", "tip-bully", salt, passphrase.hash_passphrase(SECRET, salt), "Lincoln High School",
                   "they keep pushing him into lockers")
    threads.add_message("BULLY00001", "tipster", follow)
    tip = {"kind": "tip", "source": "tipline", "source_kind": "tipline", "author": None, "tip_code": "BULLY00001"}
    rt.store.index_items([item_document(i) for i in (
        flagged("they keep pushing him into lockers", id="tip-bully", severity="P3", category="bullying", **tip),
        flagged(follow, id="tip-bully-2", severity="P1", **tip))])
    logged_in(console, "cole")
    r = console.get("/items/tip-bully")
    conversation = r.text.split('id="h-conversation"')[1].split("</section>")[0]
    assert r.status_code == 200 and "they keep pushing him into lockers" in conversation
    assert "may not read" in conversation and "555-0199" not in r.text and "knife" not in r.text
    assert console.get("/items/tip-bully-2").status_code == 404
    console.cookies.clear()
    logged_in(console, "reyes")
    assert "555-0199" in console.get("/items/tip-bully").text.split('id="h-conversation"')[1]


def test_an_sro_acknowledges_labels_and_resolves(console, seeded, rt, monkeypatch):
    spy = AuditSpy(rt.store, monkeypatch)
    logged_in(console, "reyes")
    r = post_action(console, "post", "acknowledge")
    assert r.status_code == 303 and r.headers["location"] == "/items/post?done=acknowledge"
    assert "escalation" in console.get(r.headers["location"]).text
    [alert] = rt.store.search_alerts(item_id="post")
    assert (alert.doc["status"], alert.doc["acknowledged_by"]) == ("acknowledged", "reyes")
    assert post_action(console, "post", "label", label="threat_transient").status_code == 303
    r = post_action(console, "post", "resolve", outcome="parent_contact", reason="spoke with the family")
    assert r.status_code == 303
    review = rt.store.get_item("post").doc["review"]
    assert (review["status"], review["outcome"], review["label"], review["reason"]) == \
        ("resolved", "parent_contact", "threat_transient", "spoke with the family")
    assert [a["event"]["action"] for a in spy.records if a["event"]["action"] not in ("view", "login", "search")] == \
        ["acknowledge", "label", "resolve"]
    audit = console.get("/items/post").text.split('id="h-audit"')[1]
    assert [m for m in re.findall(r"<td>(\w+)</td><td class=\"details\">", audit) if m != "view"] == \
        ["acknowledge", "label", "resolve"]


def test_notes_assignments_escalations_and_dismissals(console, seeded, rt):
    logged_in(console, "reyes")
    assert post_action(console, "post-2", "note", text="called the school <b>office</b>").status_code == 303
    assert post_action(console, "post-2", "assign", assignee="cole").status_code == 303
    r = console.get("/items/post-2")
    assert "called the school &lt;b&gt;office&lt;/b&gt;" in r.text
    assert console.get("/", params={"assignee": "cole"}).text.count('href="/items/') == 1
    assert post_action(console, "post-2", "escalate", reason="specific time and place").status_code == 303
    assert post_action(console, "post-3", "dismiss", reason="a quote from a film",
                       label="not_a_concern").status_code == 303
    assert rt.store.get_item("post-2").doc["review"]["status"] == "escalated"
    assert rt.store.get_item("post-3").doc["review"]["label"] == "not_a_concern"


def test_a_reply_reaches_the_tip_thread(console, seeded, threads):
    logged_in(console, "reyes")
    r = post_action(console, "tip-1", "reply", text="Thank you, we are looking into it.")
    assert r.status_code == 303 and r.headers["location"] == "/items/tip-1?done=reply"
    thread = threads.get(TIP_CODE)
    assert [(m.sender, m.text) for m in thread.messages][-1] == ("staff", "Thank you, we are looking into it.")
    assert thread.status == "in_review"
    assert "Thank you, we are looking into it." in console.get("/items/tip-1").text


def test_a_stale_form_is_refused_and_the_item_reloaded(console, seeded, rt):
    logged_in(console, "reyes")
    page = console.get("/items/post")
    old = form_fields(page.text)
    assert post_action(console, "post", "escalate", reason="specific").status_code == 303  # someone else, meanwhile
    r = console.post("/items/post/dismiss", data={**old, "reason": "a joke"})
    assert r.status_code == 409 and "Someone changed this item since you loaded it" in r.text
    assert rt.store.get_item("post").doc["review"]["status"] == "escalated"
    assert form_fields(r.text)["version"] == rt.store.get_item("post").version  # reloaded


@pytest.mark.parametrize("action, fields, message", [
    ("dismiss", {"reason": "  "}, "a reason is required"),
    ("resolve", {"outcome": "expelled"}, "unknown outcome &#39;expelled&#39;"),
    ("label", {"label": "<b>"}, "unknown label &#39;&lt;b&gt;&#39;"),
    ("note", {"text": "x" * 5001}, "a note is too long"),
    ("reply", {"text": "hello"}, "is not a tip: there is no tipster to write to"),
])
def test_bad_input_is_a_400_with_the_message(console, seeded, rt, action, fields, message):
    logged_in(console, "reyes")
    before = rt.store.get_item("post").version
    r = post_action(console, "post", action, **fields)
    assert r.status_code == 400 and message in r.text and 'class="problem"' in r.text
    assert rt.store.get_item("post").version == before


def test_what_a_role_may_not_do_or_see_is_refused(console, seeded, rt, users):
    logged_in(console, "ana")
    page = console.get("/items/post")
    r = console.post("/items/post/acknowledge", data={"csrf_token": csrf_of(page.text), "version": "1"})
    assert r.status_code == 403 and "may not acknowledge" in r.text
    console.cookies.clear()
    logged_in(console, "cole")
    token = csrf_of(console.get("/").text)
    version = rt.store.get_item("post").version
    r = console.post("/items/post/note", data={"csrf_token": token, "version": version, "text": "hi"})
    assert r.status_code == 404 and "not available to your role" in r.text
    assert console.post("/items/post/delete", data={"csrf_token": token, "version": version}).status_code == 404
    assert console.post("/items/tip-sh/note", data={"csrf_token": token, "text": "x"}).status_code == 400
    assert console.post("/items/tip-sh/note", data={"version": version, "text": "x"}).status_code == 403  # CSRF
    assert rt.store.get_item("post").version == version and "notes" not in rt.store.get_item("tip-sh").doc["review"]


# --- both store adapters ----------------------------------------------------------------------------


def test_the_console_works_on_both_store_adapters(rt, store_factory, clock, users):
    """The queue and the item page use the Store port only: the same pages on Elasticsearch."""
    store = store_factory()
    rt = dataclasses.replace(rt, store=store)
    pager = build_pager(rt.settings, store, clock=clock, sleep=lambda _: None, notify=lambda *a: True)
    item = flagged(PAYLOAD, id="es-1", cues=CUES)
    store.index_items([item_document(item), item_document(flagged("later", id="es-2", severity="P3"))])
    pager.page(item)
    with TestClient(create_review_app(rt, pager=pager), follow_redirects=False) as console:
        logged_in(console, "reyes")
        r = console.get("/", params={"severity": "P1"})
        assert r.text.count('href="/items/') == 1 and '>P3 <span class="count">1</span>' in r.text
        assert "a <mark>gun</mark> to <mark>Lincoln</mark>" in console.get("/items/es-1").text
        assert post_action(console, "es-1", "acknowledge").status_code == 303
        assert post_action(console, "es-1", "label", label="threat_substantive").status_code == 303
    assert [r["event"]["action"] for r in store.audit_for("es-1")] == ["view", "view", "acknowledge", "view", "label"]
    assert store.get_item("es-1").doc["review"]["status"] == "acknowledged"
