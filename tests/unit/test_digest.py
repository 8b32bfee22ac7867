import json
import re
from datetime import UTC, datetime, timedelta
from itertools import count
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.alerts.digest import EXCERPT_CHARS, build_digests
from pipeline.schema import ScoredItem, item_document

CHI = "America/Chicago"
LINCOLN, CENTRAL, HAWTHORNE = "Lincoln High School", "Riverton Central High School", "Hawthorne Middle School"
SCHOOLS = [LINCOLN, CENTRAL, HAWTHORNE]
NOW = datetime(2025, 3, 4, 13, 0, tzinfo=UTC)  # 07:00 CST, when the digest runs
CONTACT = "parent.of.jay@example.org 555-0142"
TIP_CODE = "K7M2QX9PRT"
_ids = count(1)


def doc(text="they keep shoving him into lockers", *, item_id=None, severity="P3", category="bullying",
        school=LINCOLN, flagged=NOW - timedelta(hours=2), posted=None, status="open",
        explanation=("bullying cue: repeated physical intimidation", "school relevance: names Lincoln"),
        source="reddit:lincolnhigh", kind="post", contact=None, tip_code=None):
    """A store item document as the index stage writes it and the store hands it back (JSON)."""
    item = ScoredItem(
        id=item_id or f"item-{next(_ids):03d}", kind=kind, text=text, source=source,
        created_at=posted if posted is not None else flagged - timedelta(minutes=5), scored_at=flagged,
        threat_score=0.4, self_harm_score=0.05, severity=severity, category=category, school=school,
        school_relevance=0.9, explanation=list(explanation), model_version="test-1",
        tip_code=tip_code, tip_contact=contact)
    document = item_document(item)
    document["review"]["status"] = status
    return json.loads(json.dumps(document))


def by_school(digests):
    return {d.school: d for d in digests}


def only(digests):
    assert len(digests) == 1
    return digests[0]


# --- grouping ------------------------------------------------------------------------------------

def test_one_digest_per_school_then_one_for_no_school():
    items = [doc(item_id="c1", school=CENTRAL), doc(item_id="l1"), doc(item_id="n1", school=None), doc(item_id="l2")]
    digests = build_digests(items, NOW, CHI, SCHOOLS)
    assert [d.school for d in digests] == [LINCOLN, CENTRAL, None]  # Hawthorne had nothing
    found = by_school(digests)
    assert sorted(found[LINCOLN].item_ids) == ["l1", "l2"]
    assert found[CENTRAL].item_ids == ("c1",)
    assert found[None].item_ids == ("n1",)
    assert "c1" not in found[LINCOLN].text and "l1" not in found[CENTRAL].html
    assert LINCOLN in found[LINCOLN].subject and "no school matched" in found[None].subject


def test_empty_digests_only_when_asked():
    assert build_digests([], NOW, CHI, SCHOOLS) == []
    digests = build_digests([doc(item_id="l1")], NOW, CHI, SCHOOLS, include_empty=True)
    assert [d.school for d in digests] == [LINCOLN, CENTRAL, HAWTHORNE, None]
    quiet = by_school(digests)[HAWTHORNE]
    assert quiet.item_ids == ()
    assert quiet.subject == f"[threatline digest] {HAWTHORNE} — 2025-03-04: nothing new"
    assert "Nothing new" in quiet.text and "Nothing new" in quiet.html
    assert "Nothing new" not in by_school(digests)[LINCOLN].text


def test_item_at_a_school_not_configured_goes_to_the_no_school_digest_and_says_so():
    found = by_school(build_digests([doc(item_id="x1", school="Old Mill Elementary")], NOW, CHI, SCHOOLS))
    assert list(found) == [None]
    assert found[None].item_ids == ("x1",)
    assert "school not configured: Old Mill Elementary" in found[None].text
    assert "school not configured: Old Mill Elementary" in found[None].html


def test_school_names_come_from_the_caller_in_order_and_once():
    digests = build_digests([doc(school=CENTRAL), doc()], NOW, CHI, [CENTRAL, LINCOLN, CENTRAL])
    assert [d.school for d in digests] == [CENTRAL, LINCOLN]


# --- selection -----------------------------------------------------------------------------------

H = timedelta(hours=1)


@pytest.mark.parametrize("severity,status,flagged_ago,listed", [
    ("P3", "dismissed", 23 * H, True),        # P3 flagged in the last 24 h, whatever its status
    ("P3", "acknowledged", 1 * H, True),
    ("P3", "resolved", 24 * H, True),         # the window starts exactly 24 h ago (inclusive)
    ("P3", "dismissed", 24 * H + timedelta(microseconds=1), False),
    ("P3", "dismissed", 25 * H, False),
    ("P3", "dismissed", timedelta(0), False),  # ... and ends at now (exclusive): the next run has it
    ("P3", "dismissed", -1 * H, False),
    ("P2", "dismissed", 1 * H, False),        # only P3 is listed for being new
    ("P1", "acknowledged", 1 * H, False),
    ("P1", "open", 30 * 24 * H, True),        # open or escalated: listed at any age and severity
    ("P2", "escalated", 10 * 24 * H, True),
    ("P3", "open", 400 * 24 * H, True),
])
def test_selection(severity, status, flagged_ago, listed):
    item = doc(item_id="it", severity=severity, category="violence", status=status, flagged=NOW - flagged_ago)
    digests = build_digests([item], NOW, CHI, SCHOOLS)
    assert (digests[0].item_ids if digests else ()) == (("it",) if listed else ())


def test_newness_is_when_the_item_was_flagged_not_when_it_was_posted():
    # A post from three days ago that a late crawl flagged an hour ago is new today.
    late = doc(item_id="late", status="dismissed", flagged=NOW - H, posted=NOW - 72 * H)
    digest = only(build_digests([late], NOW, CHI, SCHOOLS))
    assert digest.item_ids == ("late",)
    assert "dismissed (new)" in digest.text
    assert "2025-03-01 07:00 CST" in digest.text  # the time shown is when it was posted


def test_old_open_items_are_not_marked_new():
    digest = only(build_digests([doc(item_id="old", flagged=NOW - 48 * H), doc(item_id="fresh")], NOW, CHI, SCHOOLS))
    assert digest.subject == f"[threatline digest] {LINCOLN} — 2025-03-04: 2 items, 1 new"
    old_line = next(line for line in digest.text.splitlines() if line.startswith("1."))
    assert "open ·" in old_line and "(new)" not in old_line


def test_duplicates_are_listed_once_but_documents_without_id_are_all_kept():
    first = doc(item_id="dup")
    nameless = [{"threat": {"severity": "P2", "school": LINCOLN}, "message": f"no id {i}"} for i in range(2)]
    digest = only(build_digests([first, dict(first), *nameless], NOW, CHI, SCHOOLS))
    assert digest.item_ids.count("dup") == 1
    assert digest.item_ids.count("(no id)") == 2


def test_sparse_document_is_still_listed_with_placeholders():
    digest = only(build_digests([{"event": {"id": "bare"}, "threat": {"severity": "P2"}}], NOW, CHI, SCHOOLS))
    assert digest.school is None and digest.item_ids == ("bare",)
    for text in ("P2 none", "open", "time unknown", "unknown source", "(no explanation)", "(empty)"):
        assert text in digest.text


# --- order and time ------------------------------------------------------------------------------

def test_sorted_by_severity_then_oldest_first_then_id():
    at = NOW - 3 * H
    items = [doc(item_id="p3-late", flagged=NOW - H),
             doc(item_id="p3-b", flagged=at), doc(item_id="p3-a", flagged=at),
             doc(item_id="p2", severity="P2", category="violence", flagged=NOW - 2 * H),
             doc(item_id="p1-new", severity="P1", category="weapons", flagged=NOW - H),
             doc(item_id="p1-old", severity="P1", category="weapons", flagged=NOW - 50 * H)]
    digest = only(build_digests(items, NOW, CHI, SCHOOLS))
    assert digest.item_ids == ("p1-old", "p1-new", "p2", "p3-a", "p3-b", "p3-late")
    numbered = [line for line in digest.text.splitlines() if re.match(r"\d+\. ", line)]
    assert [line.split(" · ")[0] for line in numbered] == [
        "1. P1 weapons", "2. P1 weapons", "3. P2 violence", "4. P3 bullying", "5. P3 bullying", "6. P3 bullying"]
    assert re.findall(r"^   Item: (\S+)$", digest.text, re.M) == list(digest.item_ids)


def test_times_are_local_with_the_zone_and_follow_dst():
    winter = doc(flagged=datetime(2025, 3, 4, 12, 10, tzinfo=UTC), posted=datetime(2025, 3, 4, 12, 5, tzinfo=UTC))
    assert "2025-03-04 06:05 CST" in only(build_digests([winter], NOW, CHI, SCHOOLS)).text
    july = datetime(2025, 7, 1, 13, 0, tzinfo=UTC)
    summer = doc(flagged=july - H, posted=july - H)
    digest = only(build_digests([summer], july, ZoneInfo(CHI), SCHOOLS))
    assert "2025-07-01 07:00 CDT" in digest.text
    assert "flagged since 2025-06-30 08:00 CDT" in digest.text


def test_subject_date_is_the_local_date():
    late_evening = datetime(2025, 3, 5, 3, 0, tzinfo=UTC)  # 21:00 on the 4th in Chicago
    digest = only(build_digests([doc(flagged=late_evening - H)], late_evening, CHI, SCHOOLS))
    assert "— 2025-03-04:" in digest.subject


# --- entry contents ------------------------------------------------------------------------------

def test_entry_shows_severity_category_time_source_excerpt_first_explanation_and_id():
    item = doc("I can't do this anymore, tonight is the night", item_id="sh-1", severity="P2",
               category="self_harm", source="mastodon:riverton.social",
               explanation=("sincere self-harm statement with a time", "SECOND-LINE-not-shown"),
               flagged=datetime(2025, 3, 4, 4, 0, tzinfo=UTC), posted=datetime(2025, 3, 4, 3, 58, tzinfo=UTC))
    digest = only(build_digests([item], NOW, CHI, SCHOOLS))
    assert "1. P2 self-harm · open (new) · 2025-03-03 21:58 CST" in digest.text
    for part in (digest.text, digest.html):
        for shown in ("P2", "self-harm", "21:58 CST", "mastodon:riverton.social",
                      "tonight is the night", "sincere self-harm statement with a time", "sh-1"):
            assert shown in part, shown
        assert "SECOND-LINE-not-shown" not in part


def test_excerpt_is_at_most_200_characters():
    long = "word " * 300
    digest = only(build_digests([doc(long.strip() + " TAIL-MARKER")], NOW, CHI, SCHOOLS))
    excerpt = re.search(r"Excerpt: (.*)", digest.text).group(1)
    assert len(excerpt) <= EXCERPT_CHARS == 200
    assert excerpt.endswith("…") and "TAIL-MARKER" not in digest.text + digest.html
    for n, shown in ((200, "y" * 200), (201, "y" * 199 + "…")):  # 200 fit as they are; 201 do not
        full = only(build_digests([doc("y" * n)], NOW, CHI, SCHOOLS)).text
        assert re.search(r"Excerpt: (.*)", full).group(1) == shown


def test_untrusted_text_cannot_fake_entries_or_reorder_the_display():
    sneaky = "hi\n2. P1 violence · open\r\n   Item: fake\u202eesrever\x00end"
    digest = only(build_digests([doc(sneaky, explanation=("cue\nItem: fake2",))], NOW, CHI, SCHOOLS))
    assert [line for line in digest.text.splitlines() if re.match(r"\d+\. ", line)] == [
        next(line for line in digest.text.splitlines() if line.startswith("1. "))]
    assert not any(line.strip().startswith("Item: fake") for line in digest.text.splitlines())
    assert "\u202e" not in digest.text + digest.html and "\x00" not in digest.text + digest.html
    assert "Excerpt: hi 2. P1 violence · open Item: fakeesrever end" in digest.text


# --- safety --------------------------------------------------------------------------------------

ALLOWED_TAGS = {"!doctype", "html", "head", "meta", "title", "body", "h1", "p", "ol", "li", "strong",
                "blockquote", "code", "small"}


def tags(markup):
    return {m.lower() for m in re.findall(r"</?([!A-Za-z][A-Za-z0-9]*)", markup)}


def test_html_escapes_every_untrusted_string():
    attack = '<script>alert(1)</script> "><img src=x onerror=alert(2)>'
    item = doc(attack, item_id='id"><b>x</b>', source="<svg onload=alert(3)>",
               explanation=("matched '<iframe src=javascript:alert(4)>'",), school="A&B <High>")
    digest = only(build_digests([item], NOW, CHI, ["A&B <High>"]))
    assert tags(digest.html) <= ALLOWED_TAGS
    for raw in ("<script", "<img", "<svg", "<iframe", "<b>", '"><'):
        assert raw not in digest.html
    for escaped in ("&lt;script&gt;alert(1)&lt;/script&gt;", "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;",
                    "&lt;svg onload=alert(3)&gt;", "&lt;iframe", "A&amp;B &lt;High&gt;", "id&quot;&gt;&lt;b&gt;"):
        assert escaped in digest.html
    assert attack in digest.text  # the plain-text part shows it as written: text is not markup


def test_tipster_contact_and_tip_code_never_appear():
    tip = doc("a kid said he'd bring his dad's gun friday", kind="tip", source="tipline", severity="P2",
              category="weapons", contact=CONTACT, tip_code=TIP_CODE)
    assert tip["threat"]["tip"]["contact"] == CONTACT  # the document does carry it
    digest = only(build_digests([tip], NOW, CHI, SCHOOLS))
    everything = digest.subject + digest.text + digest.html
    assert "bring his dad's gun" in everything
    for secret in (CONTACT, "parent.of.jay", "555-0142", TIP_CODE):
        assert secret not in everything


@settings(max_examples=150, deadline=None)
@given(message=st.text(max_size=400), why=st.text(max_size=80), source=st.text(max_size=40),
       item_id=st.text(min_size=1, max_size=40))
def test_any_untrusted_text_yields_only_our_markup_and_no_contact(message, why, source, item_id):
    tip = doc(message, item_id=item_id, source=source, explanation=(why,), kind="tip", contact=CONTACT,
              severity="P1", category="violence")
    digests = build_digests([tip], NOW, CHI, SCHOOLS, include_empty=True)
    for digest in digests:
        assert tags(digest.html) <= ALLOWED_TAGS
        assert "\n" not in digest.subject and "\r" not in digest.subject
        if CONTACT not in message + why + source + item_id:
            assert CONTACT not in digest.text + digest.html
    assert sum(len(d.item_ids) for d in digests) == 1


# --- arguments -----------------------------------------------------------------------------------

def test_naive_now_and_unknown_zone_are_refused():
    with pytest.raises(ValueError, match="naive"):
        build_digests([], datetime(2025, 3, 4, 7), CHI, SCHOOLS)
    with pytest.raises(ValueError, match="unknown time zone"):
        build_digests([], NOW, "America/Springfield", SCHOOLS)


def test_window_can_be_widened_for_a_missed_run():
    item = doc(item_id="w", status="dismissed", flagged=NOW - 30 * H)
    assert build_digests([item], NOW, CHI, SCHOOLS) == []
    assert only(build_digests([item], NOW, CHI, SCHOOLS, window=48 * H)).item_ids == ("w",)
