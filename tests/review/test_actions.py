"""The review console's service layer (pipeline.review.actions and queries) on both store adapters:
one audit record per action, optimistic concurrency, acknowledgement stopping escalation, replies
reaching the tipster, and what each role may see."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from clocks import Clock
from service_support import (
    CONTACT, PASSPHRASE, START, TIP_CODE, build_pager, index, open_thread_store, scored, version,
)

from pipeline.retention import retention_class
from pipeline.review import actions
from pipeline.review.actions import NotATip, Stale, ThreadGone
from pipeline.review.policy import Forbidden
from pipeline.review.queries import QueueFilters, item_context, queue
from pipeline.store import NotFound
from pipeline.tipline.service import TipService, thread_view

SRO = ("officer.reyes", "sro")


@pytest.fixture
def store(store_factory):
    return store_factory()


@pytest.fixture
def clock():
    return Clock(START)


@pytest.fixture
def sent():
    return []


@pytest.fixture
def pager(store, tmp_path, clock, sent):
    return build_pager(store, tmp_path, clock, sent)


@pytest.fixture
def threads(tmp_path):
    t = open_thread_store(tmp_path)
    yield t
    t.close()


# Every action with arguments that succeed on a P1 violence tip as an SRO.
ACTIONS = {
    "acknowledge": {},
    "assign": {"assignee": "counselor.ng"},
    "escalate": {"reason": "specific time and place"},
    "dismiss": {"reason": "a quote from a film"},
    "resolve": {"outcome": "law_enforcement"},
    "label": {"label": "threat_substantive"},
    "note": {"text": "called the school office"},
    "reply": {"text": "Thank you, we are looking into it."},
    "page_now": {"page_role": "sro"},
    "close_thread": {"text": "We have finished with this tip. Thank you for telling us."},
}


def run(name, store, item_id, actor, role, expected_version, *, pager=None, threads=None, **kwargs):
    extra = {"pager": pager} if name in ("acknowledge", "page_now") else \
        {"threads": threads} if name in ("reply", "close_thread") else {}
    return actions.ACTIONS[name](store, item_id, actor, role, expected_version=expected_version,
                                 **(ACTIONS[name] | kwargs | extra))


def audit_actions(store, item_id):
    return [r["event"]["action"] for r in store.audit_for(item_id)]


# --- one audit record per action ------------------------------------------------------------------


@pytest.mark.parametrize("name", ACTIONS)
def test_every_action_writes_exactly_one_audit_record_naming_who_what_and_which_item(store, pager, threads, name):
    tip = scored("tip-a", kind="tip")
    index(store, tip)
    pager.page(tip)
    before, seen = store.audit_for("tip-a"), version(store, "tip-a")

    done = run(name, store, "tip-a", *SRO, seen, pager=pager, threads=threads)

    records = store.audit_for("tip-a")
    assert len(records) == len(before) + 1
    record = records[-1]
    assert record["event"]["action"] == name
    assert record["user"] == {"name": "officer.reyes", "roles": ["sro"]}
    assert record["threat"]["item_id"] == "tip-a"
    assert record["@timestamp"] and record["event"]["id"] == done.event.id
    assert done.version == version(store, "tip-a") and done.version != seen
    assert done.review["updated_by"] == "officer.reyes"


def test_view_is_audited_and_returns_what_the_role_may_see(store):
    index(store, scored("tip-a", kind="tip"))
    shown = actions.view(store, "tip-a", "analyst.kim", "analyst")
    assert "contact" not in shown.doc["threat"]["tip"] and shown.version == version(store, "tip-a")
    [record] = store.audit_for("tip-a")
    assert (record["event"]["action"], record["user"]["name"], record["user"]["roles"]) == \
        ("view", "analyst.kim", ["analyst"])


# --- optimistic concurrency -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ACTIONS)
def test_a_stale_version_is_refused_and_changes_nothing(store, pager, threads, name):
    tip = scored("tip-a", kind="tip")
    index(store, tip)
    [alert] = pager.page(tip)
    seen = version(store, "tip-a")
    actions.note(store, "tip-a", "sro.patel", "sro", text="someone else got here first", expected_version=seen)
    item_before, audit_before = store.get_item("tip-a"), store.audit_for("tip-a")
    alert_before = store.get_alert(alert.id).doc

    with pytest.raises(Stale, match="changed by someone else since you loaded it: reload"):
        run(name, store, "tip-a", *SRO, seen, pager=pager, threads=threads)

    assert store.get_item("tip-a") == item_before
    assert store.audit_for("tip-a") == audit_before
    assert store.get_alert(alert.id).doc == alert_before
    assert [m.sender for m in threads.get(TIP_CODE).messages] == ["tipster"]


def test_the_version_returned_is_the_one_the_next_action_needs(store):
    index(store, scored("item-1"))
    done = actions.label(store, "item-1", *SRO, label="threat_transient", expected_version=version(store, "item-1"))
    done = actions.note(store, "item-1", *SRO, text="first", expected_version=done.version)
    done = actions.note(store, "item-1", "sro.patel", "sro", text="second", expected_version=done.version)
    review = store.get_item("item-1").doc["review"]
    assert [(n["by"], n["text"]) for n in review["notes"]] == [("officer.reyes", "first"), ("sro.patel", "second")]
    assert review["label"] == "threat_transient" and review["labeled_by"] == "officer.reyes"


# --- acknowledge ------------------------------------------------------------------------------------


def test_acknowledge_stops_the_escalation_of_every_open_alert_of_the_item(store, pager, clock, sent):
    acked, ignored = scored("item-1", author="kid1"), scored("item-2", author="kid2")
    index(store, acked, ignored)
    [alert] = pager.page(acked)
    [other] = pager.page(ignored)
    assert [url for url, _ in sent] == ["json://127.0.0.1:9/sro1"] * 2
    clock.advance(60)

    done = actions.acknowledge(store, "item-1", *SRO, expected_version=version(store, "item-1"), pager=pager)

    assert done.review["status"] == "acknowledged"
    stored = store.get_alert(alert.id).doc
    assert (stored["status"], stored["acknowledged_by"], stored["time_to_ack_s"]) == \
        ("acknowledged", "officer.reyes", 60.0)
    [record] = store.audit_for("item-1")  # the pager wrote none of its own
    assert record["details"]["alerts"] == [alert.id] and record["details"]["status"] == ["open", "acknowledged"]

    clock.advance(3600)
    report = pager.sweep()
    assert report.escalated == [other.id]  # only the alert nobody acknowledged moves on
    assert store.get_alert(alert.id).doc["status"] == "acknowledged"
    assert [url for url, _ in sent][2:] == ["json://127.0.0.1:9/admin1"]


def test_a_counselor_acknowledging_p1_self_harm_leaves_the_sros_welfare_check_page_open(store, pager, clock):
    index(store, scored("item-1", category="self_harm", severity="P1", text="tonight i end it, said goodbye"))
    alerts = {a.role: a for a in pager.page(scored("item-1", category="self_harm", severity="P1"))}
    assert set(alerts) == {"counselor", "sro"}

    actions.acknowledge(store, "item-1", "counselor.ng", "counselor", expected_version=version(store, "item-1"),
                        pager=pager)
    [record] = store.audit_for("item-1")
    assert (record["details"]["alerts"], record["details"]["other_roles"]) == \
        ([alerts["counselor"].id], [alerts["sro"].id])
    clock.advance(3600)
    assert pager.sweep().escalated == [alerts["sro"].id]

    done = actions.acknowledge(store, "item-1", "admin.okafor", "admin", expected_version=version(store, "item-1"),
                               pager=pager)
    assert store.get_alert(alerts["sro"].id).doc["status"] == "acknowledged"
    assert done.event.details["alerts"] == [alerts["sro"].id] and done.event.details["other_roles"] == []

def test_acknowledging_an_item_without_alerts_or_already_decided_keeps_its_decision(store, pager):
    index(store, scored("item-1", severity="P3"))
    done = actions.dismiss(store, "item-1", *SRO, reason="song lyrics", expected_version=version(store, "item-1"))
    done = actions.acknowledge(store, "item-1", "sro.patel", "sro", expected_version=done.version, pager=pager)
    assert done.review["status"] == "dismissed"
    [record] = [r for r in store.audit_for("item-1") if r["event"]["action"] == "acknowledge"]
    assert record["details"] == {"alerts": [], "already_acknowledged": [], "other_roles": []}


# --- the other actions --------------------------------------------------------------------------------


def test_dismiss_and_resolve_set_what_retention_decides_by(store):
    index(store, scored("item-1"), scored("item-2"))
    actions.dismiss(store, "item-1", *SRO, reason="a quote from a film", label="not_a_concern",
                    expected_version=version(store, "item-1"))
    actions.resolve(store, "item-2", *SRO, outcome="law_enforcement", expected_version=version(store, "item-2"))
    dismissed, resolved = store.get_item("item-1").doc, store.get_item("item-2").doc
    assert (dismissed["review"]["status"], dismissed["review"]["outcome"], dismissed["review"]["label"]) == \
        ("dismissed", "no_action", "not_a_concern")
    assert dismissed["review"]["reason"] == "a quote from a film"
    assert (resolved["review"]["status"], resolved["review"]["outcome"]) == ("resolved", "law_enforcement")
    assert (retention_class(dismissed), retention_class(resolved)) == ("dismissed", "actioned")
    assert store.audit_for("item-1")[-1]["review"] == {"label": "not_a_concern", "reason": "a quote from a film"}


def test_assign_takes_an_item_on_and_unassigning_reopens_it(store):
    index(store, scored("item-1"))
    done = actions.assign(store, "item-1", *SRO, assignee="counselor.ng", expected_version=version(store, "item-1"))
    assert (done.review["status"], done.review["assignee"]) == ("assigned", "counselor.ng")
    done = actions.assign(store, "item-1", *SRO, assignee=None, expected_version=done.version)
    assert (done.review["status"], done.review["assignee"]) == ("open", None)
    assert store.audit_for("item-1")[-1]["details"] == \
        {"assignee": ["counselor.ng", None], "status": ["assigned", "open"]}


@pytest.mark.parametrize(("name", "kwargs", "message"), [
    ("label", {"label": "false_positive"}, "unknown label 'false_positive'; expected one of threat_substantive"),
    ("resolve", {"outcome": "arrested"}, "unknown outcome 'arrested'; expected one of no_action, counseling_referral"),
    ("dismiss", {"reason": "  "}, "a reason is required"),
    ("dismiss", {"label": "meh"}, "unknown label 'meh'"),
    ("escalate", {"reason": ""}, "a reason is required"),
    ("note", {"text": "x" * 5001}, "a note is too long"),
    ("assign", {"assignee": "two words"}, "must be a user id without spaces"),
    ("reply", {"text": "ok\x00"}, "a reply contains control characters"),
])
def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(store, pager, threads, name, kwargs, message):
    index(store, scored("tip-a", kind="tip"))
    before = store.get_item("tip-a")
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        run(name, store, "tip-a", *SRO, before.version, pager=pager, threads=threads, **kwargs)
    assert store.get_item("tip-a") == before and store.audit_for("tip-a") == []


@pytest.mark.parametrize(("role", "name"), [("analyst", "acknowledge"), ("analyst", "dismiss"), ("analyst", "reply"),
                                            ("counselor", "note"), ("counselor", "acknowledge"), ("nurse", "label")])
def test_roles_are_refused_what_they_may_not_do(store, pager, threads, role, name):
    index(store, scored("tip-a", kind="tip"))  # a violence tip: counselors may not see it at all
    with pytest.raises(ValueError if role == "nurse" else Forbidden):
        run(name, store, "tip-a", "someone", role, version(store, "tip-a"), pager=pager, threads=threads)
    assert store.audit_for("tip-a") == []


def test_an_unknown_item_is_not_found(store):
    with pytest.raises(NotFound):
        actions.note(store, "nope", *SRO, text="hello", expected_version="1")


# --- replying to the tipster ----------------------------------------------------------------------


def test_a_reply_reaches_the_tipster_through_the_tip_line_and_is_audited_without_its_text(store, threads, caplog):
    index(store, scored("tip-a", kind="tip", category="self_harm", severity="P2"))
    text = "Thank you. A counselor will check on your friend today."
    with caplog.at_level(logging.DEBUG):
        done = actions.reply(store, "tip-a", "counselor.ng", "counselor", text=text,
                             expected_version=version(store, "tip-a"), threads=threads)

    thread = TipService(None, threads, "tips.raw", None).open_thread(TIP_CODE, PASSPHRASE)
    seen = thread_view(thread)
    assert [r["text"] for r in seen["replies"]] == [text] and seen["status"] == "in_review"
    record = store.audit_for("tip-a")[-1]
    assert record["details"]["length"] == len(text) and len(record["details"]["sha256"]) == 64
    assert record["details"]["seq"] == 2
    assert text not in str(record) and text not in caplog.text
    assert done.review["replied_by"] == "counselor.ng"


def test_a_reply_needs_a_tip_whose_thread_still_exists(store, threads):
    index(store, scored("post-1"), scored("tip-a", kind="tip"))
    with pytest.raises(NotATip):
        actions.reply(store, "post-1", *SRO, text="hello", expected_version=version(store, "post-1"), threads=threads)
    threads.delete(TIP_CODE)
    before = store.get_item("tip-a")
    with pytest.raises(ThreadGone):
        actions.reply(store, "tip-a", *SRO, text="hello", expected_version=before.version, threads=threads)
    assert store.get_item("tip-a") == before and store.audit_for("tip-a") == []


def test_closing_a_thread_tells_the_tipster_and_resolving_can_close_it_too(store, threads):
    index(store, scored("tip-a", kind="tip", category="bullying", severity="P3"), scored("post-1"))
    closing = "We spoke with the students involved. Thank you for telling us."
    done = actions.resolve(store, "tip-a", "counselor.ng", "counselor", outcome="counseling_referral",
                           close_with=closing, threads=threads, expected_version=version(store, "tip-a"))

    seen = thread_view(TipService(None, threads, "tips.raw", None).open_thread(TIP_CODE, PASSPHRASE))
    assert seen["status"] == "closed" and [r["text"] for r in seen["replies"]] == [closing]
    assert (done.review["status"], done.review["thread_closed_by"]) == ("resolved", "counselor.ng")
    assert done.version == version(store, "tip-a")
    assert sorted(audit_actions(store, "tip-a")) == ["close_thread", "resolve"]  # one instant: either order
    assert closing not in str(store.audit_for("tip-a"))

    before = store.get_item("post-1")
    with pytest.raises(NotATip):  # nothing to close on a post: the item is not resolved either
        actions.resolve(store, "post-1", *SRO, outcome="no_action", close_with=closing, threads=threads,
                        expected_version=before.version)
    with pytest.raises(ValueError, match="a closing message is required"):
        actions.close_thread(store, "tip-a", *SRO, text=" ", threads=threads, expected_version=done.version)
    assert store.get_item("post-1") == before and store.audit_for("post-1") == []


# --- what each role sees --------------------------------------------------------------------------


def test_a_counselor_never_sees_a_violence_tip_or_its_tipster_contact(store, threads):
    index(store, scored("tip-a", kind="tip", category="violence"),
          scored("tip-b", kind="tip", category="self_harm", severity="P2", tip_code="SELFHARM23"))
    with pytest.raises(Forbidden):
        actions.view(store, "tip-a", "counselor.ng", "counselor")
    with pytest.raises(Forbidden):
        item_context(store, "counselor", "tip-a", threads=threads)
    page = queue(store, "counselor")
    assert [h.id for h in page.hits] == ["tip-b"] and page.total == 1
    assert CONTACT not in str(page.hits) and CONTACT not in str(item_context(store, "counselor", "tip-b"))
    assert store.audit_for("tip-a") == []
    # The SRO sees the contact: they may have to call the tipster back about a threat.
    assert actions.view(store, "tip-a", *SRO).doc["threat"]["tip"]["contact"] == CONTACT


def test_an_analyst_sees_every_item_but_never_a_tipster_contact_or_the_conversation(store, threads):
    index(store, scored("tip-a", kind="tip"), scored("tip-b", kind="tip", category="self_harm", severity="P2"),
          scored("post-1"))
    page = queue(store, "analyst")
    assert page.total == 3 and CONTACT not in str(page.hits)
    context = item_context(store, "analyst", "tip-a", threads=threads)
    assert [h.id for h in context["thread_items"]] == ["tip-b"]
    assert context["conversation"] is None and CONTACT not in str(context)
    assert CONTACT not in str(actions.view(store, "tip-a", "analyst.kim", "analyst"))


def test_an_sro_sees_self_harm_only_when_paged_for_a_welfare_check(store):
    index(store, scored("p1", category="self_harm", severity="P1"), scored("p2", category="self_harm", severity="P2"),
          scored("v", category="violence", severity="P3"))
    assert {h.id for h in queue(store, "sro").hits} == {"p1", "v"}
    with pytest.raises(Forbidden):
        actions.view(store, "p2", *SRO)
    assert {h.id for h in queue(store, "counselor").hits} == {"p1", "p2"}


# --- the queue --------------------------------------------------------------------------------------


def test_queue_filters_sorts_pages_and_counts_by_severity_and_status(store):
    index(store, *(scored(f"p1-{n}", severity="P1", at=START + timedelta(minutes=n)) for n in range(3)),
          *(scored(f"p3-{n}", severity="P3", at=START + timedelta(hours=1, minutes=n), text=f"dead tired {n}")
            for n in range(4)),
          scored("drugs", category="drugs", severity="P2", source="mastodon:district.social"))
    actions.dismiss(store, "p3-0", *SRO, reason="idiom", expected_version=version(store, "p3-0"))

    page = queue(store, "sro", page_size=5)
    assert [h.id for h in page.hits] == ["p1-2", "p1-1", "p1-0", "drugs", "p3-3"]  # most severe, then newest
    assert (page.total, page.pages) == (8, 2)
    assert page.counts["severity"] == {"P1": 3, "P2": 1, "P3": 4}
    assert page.counts["status"] == {"open": 7, "acknowledged": 0, "assigned": 0, "escalated": 0, "dismissed": 1,
                                     "resolved": 0}
    assert [h.id for h in queue(store, "sro", page=2, page_size=5).hits] == ["p3-2", "p3-1", "p3-0"]

    filtered = queue(store, "sro", QueueFilters(severity=["P3"], status=["open"], text="tired"), sort="oldest")
    assert [h.id for h in filtered.hits] == ["p3-1", "p3-2", "p3-3"]
    # Each count ignores its own filter, so the tabs say what choosing them would list.
    assert filtered.counts["severity"] == {"P1": 0, "P2": 0, "P3": 3}
    assert filtered.counts["status"]["dismissed"] == 1
    assert queue(store, "sro", QueueFilters(source=["mastodon:district.social"])).total == 1
    window = QueueFilters(since=START + timedelta(minutes=1), until=START + timedelta(hours=1))
    assert {h.id for h in queue(store, "sro", window).hits} == {"p1-1", "p1-2"}


def test_queue_refuses_unknown_values_and_audits_searches_when_told_who(store):
    for bad in (QueueFilters(severity=["P0"]), QueueFilters(status=["closed"])):
        with pytest.raises(ValueError, match="unknown"):
            queue(store, "sro", bad)
    with pytest.raises(ValueError, match="unknown sort"):
        queue(store, "sro", sort="random")
    with pytest.raises(ValueError, match="narrow the filters"):
        queue(store, "sro", page=500, page_size=50)
    queue(store, "sro", QueueFilters(text="gun"), actor="officer.reyes")  # must not raise


# --- the item page ----------------------------------------------------------------------------------


def test_item_context_gathers_author_thread_conversation_alerts_and_audit(store, pager, threads, clock):
    original = scored("tip-1", kind="tip", at=START)
    follow_up = scored("tip-b", kind="tip", severity="P3", at=START + timedelta(minutes=5), text="it's in his locker")
    posts = [scored("post-1", author="kid1", thread_id="t1"), scored("post-2", author="kid1", thread_id="t9"),
             scored("post-3", author="kid2", thread_id="t1"),
             scored("post-4", author="kid1", source="mastodon:district.social", thread_id="t1")]
    index(store, original, follow_up, *posts)
    [alert] = pager.page(original)
    clock.advance(30)
    actions.view(store, "tip-1", *SRO)
    done = actions.acknowledge(store, "tip-1", *SRO, expected_version=version(store, "tip-1"), pager=pager)
    actions.reply(store, "tip-1", *SRO, text="Thanks, we're on it.", expected_version=done.version, threads=threads)

    context = item_context(store, "sro", "tip-1", threads=threads)
    assert context["item"]["threat"]["tip"]["contact"] == CONTACT and context["version"] == version(store, "tip-1")
    assert [h.id for h in context["thread_items"]] == ["tip-b"]
    assert [(m["from"], m["text"]) for m in context["conversation"]["messages"]] == [
        ("tipster", "someone said he'd bring a gun"), ("staff", "Thanks, we're on it.")]
    assert context["conversation"]["status"] == "in_review"
    assert [a["id"] for a in context["alerts"]] == [alert.id]
    assert [e["event"] for e in context["timeline"]] == ["sent", "acknowledged"]
    assert [r["event"]["action"] for r in context["audit"]] == ["view", "acknowledge", "reply"]

    post = item_context(store, "sro", "post-1")
    assert [h.id for h in post["author_items"]] == ["post-2"]  # kid1 on mastodon is someone else
    assert [h.id for h in post["thread_items"]] == ["post-3"]
    assert post["conversation"] is None

    threads.delete(TIP_CODE)
    assert item_context(store, "sro", "tip-1", threads=threads)["conversation"] == \
        {"code": TIP_CODE, "status": "gone", "messages": []}


def test_a_follow_up_is_shown_only_to_roles_that_may_see_the_item_it_became(store, threads):
    """A bullying tip's follow-up became a P1 violence item: the counselor who may open the bullying
    tip reads neither the follow-up nor the phone number in it; an SRO and an admin read both."""
    follow = "he said he'll bring a knife friday, text me 555-0199"
    index(store, scored("tip-1", kind="tip", category="bullying", severity="P3", text="kids keep shoving him"),
          scored("tip-2", kind="tip", category="violence", severity="P1", text=follow))
    threads.add_message(TIP_CODE, "tipster", follow)
    threads.add_message(TIP_CODE, "staff", "Thank you for telling us.")
    threads.add_message(TIP_CODE, "tipster", "not scored yet")  # the classify stage has not indexed it

    counselor = item_context(store, "counselor", "tip-1", threads=threads)
    shown = [(m["from"], m["text"], m.get("hidden", False)) for m in counselor["conversation"]["messages"]]
    assert shown == [("tipster", "someone said he'd bring a gun", False), ("tipster", "", True),
                     ("staff", "Thank you for telling us.", False), ("tipster", "", True)]
    assert "555-0199" not in str(counselor) and "knife" not in str(counselor)
    assert counselor["thread_items"] == []  # the violence follow-up is not listed either
    for role in ("sro", "admin"):
        messages = item_context(store, role, "tip-1", threads=threads)["conversation"]["messages"]
        assert [m["text"] for m in messages][1] == follow and any(m.get("hidden") for m in messages) == (role == "sro")


# --- the Elasticsearch mapping ----------------------------------------------------------------------


def test_every_review_field_the_actions_write_is_mapped_explicitly(store, pager, threads):
    """Dynamic mapping would make strings keywords and guess dates; the template says what each is."""
    from pipeline.kibana import load_templates
    from pipeline.store.elasticsearch import DEFAULT_TEMPLATE_DIR

    mapped = load_templates(DEFAULT_TEMPLATE_DIR)["flagged"]
    index(store, scored("tip-a", kind="tip"))
    for name in ACTIONS:
        run(name, store, "tip-a", *SRO, version(store, "tip-a"), pager=pager, threads=threads)

    def leaves(value, path):
        if isinstance(value, dict):
            return [leaf for key, inner in value.items() for leaf in leaves(inner, f"{path}.{key}")]
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return [leaf for inner in value for leaf in leaves(inner, path)]
        return [path]

    written = set(leaves(store.get_item("tip-a").doc["review"], "review"))
    assert {"review.notes.text", "review.labeled_at", "review.reason", "review.replied_by"} <= written
    assert written - set(mapped) == set()
    assert {mapped[f]["type"] for f in ("review.labeled_at", "review.replied_at", "review.notes.at")} == {"date"}
