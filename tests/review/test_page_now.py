"""Paging from the console (issue 15): "page now" for a P1 nobody was paged for or a page nobody
answers, and Escalate paging the next role up. On both store adapters, through the real pager."""

from __future__ import annotations

import pytest
from clocks import Clock
from service_support import START, build_pager, index, scored, version

from pipeline.review import actions
from pipeline.review.policy import Forbidden

SRO = ("officer.reyes", "sro")
SRO1, ADMIN1, COUNSELOR1 = (f"json://127.0.0.1:9/{p}" for p in ("sro1", "admin1", "counselor1"))


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


def page_now(store, pager, item_id, page_role, actor=SRO, **kwargs):
    return actions.page_now(store, item_id, *actor, page_role=page_role, expected_version=version(store, item_id),
                            pager=pager, **kwargs)


def test_page_now_reaches_the_person_on_duty_for_a_p1_nobody_was_paged_for(store, pager, sent, clock):
    index(store, scored("missed", text="bringing a gun to lincoln friday"))  # indexed, never through the alert stage
    done = page_now(store, pager, "missed", "sro", actor=("admin.okafor", "admin"))

    assert [url for url, _ in sent] == [SRO1] and "bringing a gun to lincoln friday" in sent[0][1]
    assert "PAGED by admin.okafor from the review console (to the person on duty)." in sent[0][1]
    [alert] = store.search_alerts(item_id="missed")
    assert (alert.doc["status"], alert.doc["person"], alert.doc["page"]) == ("sent", "sro1", True)
    assert [h["event"] for h in alert.doc["history"]] == ["paged", "sent"]
    assert alert.doc["history"][0]["by"] == "admin.okafor"
    assert done.event.action == "page_now" and done.event.details == {
        "paged": "sro", "alert_id": alert.id, "alert_status": "sent", "person": "sro1"}
    assert done.review["paged_by"] == "admin.okafor"
    clock.advance(301)
    assert pager.sweep().escalated == [alert.id]  # and it escalates like any P1 page
    assert [url for url, _ in sent][-1] == ADMIN1


def test_page_now_re_pages_an_acknowledged_alert_or_moves_on_to_the_next_in_the_chain(store, pager, sent, clock):
    item = scored("item-1")
    index(store, item)
    [alert] = pager.page(item)
    actions.acknowledge(store, "item-1", *SRO, expected_version=version(store, "item-1"), pager=pager)
    clock.advance(60)

    page_now(store, pager, "item-1", "sro")
    stored = store.get_alert(alert.id).doc
    assert (stored["status"], stored["acknowledged_by"], stored["escalate_at"] is not None) == ("sent", None, True)
    assert [url for url, _ in sent] == [SRO1, SRO1]

    done = page_now(store, pager, "item-1", "sro", move_on=True)
    assert [url for url, _ in sent][-1] == ADMIN1
    assert (done.event.details["person"], store.get_alert(alert.id).doc["escalation_level"]) == ("admin1", 1)
    assert [h["event"] for h in store.get_alert(alert.id).doc["history"]] == [
        "sent", "acknowledged", "paged", "sent", "paged", "sent"]
    assert [r["event"]["action"] for r in store.audit_for("item-1")] == ["acknowledge", "page_now", "page_now"]


def test_escalate_pages_the_next_role_up(store, pager, sent):
    index(store, scored("item-1", category="bullying", severity="P3"))
    done = actions.escalate(store, "item-1", "counselor.ng", "counselor", reason="the fight is set for friday",
                            expected_version=version(store, "item-1"), pager=pager)
    assert done.review["status"] == "escalated" and [url for url, _ in sent] == [ADMIN1]
    assert (done.event.details["paged"], done.event.details["person"]) == ("admin", "admin1")
    [alert] = store.search_alerts(item_id="item-1")
    assert alert.doc["history"][0]["detail"] == "to the person on duty: escalated by counselor.ng"


def test_self_harm_below_p1_is_never_paged_to_police(store, pager, sent):
    index(store, scored("sh", category="self_harm", severity="P2"), scored("sh1", category="self_harm", severity="P1"))
    with pytest.raises(ValueError, match="counselor"):
        page_now(store, pager, "sh", "sro", actor=("admin.okafor", "admin"))
    assert sent == [] and store.audit_for("sh") == []
    page_now(store, pager, "sh", "counselor", actor=("admin.okafor", "admin"))
    page_now(store, pager, "sh1", "sro", actor=("admin.okafor", "admin"))  # P1: the welfare check
    assert [url for url, _ in sent] == [COUNSELOR1, SRO1]


def test_page_now_needs_a_casework_role_and_a_known_role_to_page(store, pager, sent):
    index(store, scored("item-1"))
    with pytest.raises(Forbidden):
        page_now(store, pager, "item-1", "sro", actor=("ana", "analyst"))
    with pytest.raises(ValueError, match="unknown role to page"):
        page_now(store, pager, "item-1", "principal")
    assert sent == []
