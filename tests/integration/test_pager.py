"""The pager end to end on a real store, real apprise, a real SMTP server (aiosmtpd) and a local
webhook receiver; time comes from an injected clock so escalation runs in milliseconds."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from clocks import Clock
from smtp_server import Mailbox, free_port, smtp_server
from webhook_server import webhook_server

from pipeline.alerts.pager import Pager, PagerPolicy
from pipeline.alerts.roster import load_roster
from pipeline.alerts.rules import load_rules
from pipeline.config import DEFAULT_CONFIG
from pipeline.nlp.gazetteer import school_names
from pipeline.schema import ScoredItem, item_document
from pipeline.store import NotFound

CONFIG = DEFAULT_CONFIG.parent
SCHOOLS = school_names(CONFIG / "schools.yaml")
LINCOLN = "Lincoln High School"
START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday, 09:00 in Chicago
SECRET = "s" * 40




def roster_yaml(mail, hook: str) -> dict:
    """Reyes is the SRO on duty everywhere, Patel and Tran back up, Okafor ends every chain;
    Alvarez is the counselor on duty."""
    return {
        "timezone": "America/Chicago",
        "people": [
            {"id": "reyes", "name": "Officer Reyes", "roles": ["sro"],
             "channels": [{"type": "email", "url": mail("reyes@example.org")}]},
            {"id": "patel", "name": "Sergeant Patel", "roles": ["sro"],
             "channels": [{"type": "webhook", "url": f"json://{hook}/patel"}]},
            {"id": "tran", "name": "Officer Tran", "roles": ["sro"],
             "channels": [{"type": "email", "url": mail("tran@example.org")}]},
            {"id": "alvarez", "name": "Counselor Alvarez", "roles": ["counselor"],
             "channels": [{"type": "email", "url": mail("alvarez@example.org")}]},
            {"id": "okafor", "name": "Director Okafor", "roles": ["admin"],
             "channels": [{"type": "email", "url": mail("okafor@example.org")}]},
        ],
        "shifts": [
            {"role": "sro", "person": "reyes", "schools": "all", "days": "daily", "start": "00:00", "end": "00:00"},
            {"role": "counselor", "person": "alvarez", "schools": "all", "days": "daily",
             "start": "00:00", "end": "00:00"},
        ],
        "escalation": [
            {"role": "sro", "schools": "all", "people": ["patel", "tran"]},
            {"role": "admin", "schools": "all", "people": ["okafor"]},
        ],
    }


@pytest.fixture
def mail_and_hooks():
    with smtp_server() as (mail, mailbox), webhook_server() as (hook, recorder):
        yield mail, mailbox, hook, recorder


@pytest.fixture
def make_pager(tmp_path, mail_and_hooks, store_factory):
    """A pager on each store adapter (embedded; Elasticsearch on osmem)."""
    mail, _, hook, _ = mail_and_hooks
    store = store_factory()
    clock = Clock(START)

    def build(edit=lambda roster: roster, **policy) -> Pager:
        path = tmp_path / "roster.yaml"
        path.write_text(yaml.safe_dump(edit(roster_yaml(mail, hook))))
        return Pager(store, load_roster(path, SCHOOLS), load_rules(CONFIG / "alert_rules.yaml", SCHOOLS),
                     PagerPolicy(ack_secrets=[SECRET], console_url="https://review.example.org", **policy),
                     clock=clock, sleep=lambda s: None)

    yield build, store, clock


def item(n: int, *, category="violence", severity="P1", author="kid1", school=LINCOLN, text=None, **extra) -> ScoredItem:
    return ScoredItem(id=f"item-{n}", kind="post", text=text or f"bringing a gun to lincoln tomorrow ({n})",
                      source="forum", author=author, threat_score=0.95, self_harm_score=0.0, severity=severity,
                      category=category, school=school, school_relevance=1.0, model_version="test",
                      explanation=["threat cue: bring a gun", "school named: Lincoln"], **extra)


def only(messages: list) -> str:
    assert len(messages) == 1, f"expected one message, got {len(messages)}"
    return Mailbox.text(messages[0])


def test_a_p1_threat_pages_the_sro_on_duty_by_email_with_an_ack_link(make_pager, mail_and_hooks):
    build, store, clock = make_pager
    _, mailbox, _, _ = mail_and_hooks
    [alert] = build().page(item(1))

    body = only(mailbox.to("reyes@example.org"))
    subject = mailbox.to("reyes@example.org")[0]["Subject"]
    assert subject == f"[threatline P1] violence — {LINCOLN}"
    assert "bringing a gun to lincoln" in body and "threat cue: bring a gun" in body
    assert re.search(r"Acknowledge: https://review\.example\.org/ack/[\w-]+", body)
    assert len(mailbox.messages) == 1  # nobody else
    stored = store.get_alert(alert.id).doc
    assert (stored["status"], stored["person"], stored["channel"], stored["recipients"]) == \
        ("sent", "reyes", "email", ["reyes"])
    assert stored["escalate_at"] == (START + timedelta(seconds=300)).isoformat().replace("+00:00", "Z")
    assert [(h["event"], h["person"]) for h in stored["history"]] == [("sent", "reyes")]


def test_tipster_contact_never_reaches_an_alert(make_pager, mail_and_hooks):
    build, store, _ = make_pager
    _, mailbox, _, _ = mail_and_hooks
    tip = item(2, author=None, tip_code="K7Q2-M4XP", tip_contact="call me 555-0100").model_copy(update={"kind": "tip"})
    [alert] = build().page(tip)
    assert "555-0100" not in only(mailbox.to("reyes@example.org"))
    assert "555-0100" not in str(store.get_alert(alert.id).doc)


@pytest.mark.parametrize(("severity", "expected"), [("P1", {"alvarez@example.org", "reyes@example.org"}),
                                                    ("P2", {"alvarez@example.org"})])
def test_self_harm_goes_to_the_counselor_and_to_police_only_for_a_p1_welfare_check(make_pager, mail_and_hooks,
                                                                                  severity, expected):
    build, _, _ = make_pager
    _, mailbox, _, _ = mail_and_hooks
    alerts = build().page(item(3, category="self_harm", severity=severity, text="i don't want to be here anymore"))
    assert {a.role for a in alerts} == ({"counselor", "sro"} if severity == "P1" else {"counselor"})
    assert {r for rcpt, _ in mailbox.messages for r in rcpt} == expected


@pytest.mark.parametrize(("category", "severity"), [("bullying", "P1"), ("drugs", "P2"), ("violence", "P3")])
def test_bullying_drugs_and_p3_never_page(make_pager, mail_and_hooks, category, severity):
    build, store, _ = make_pager
    assert build().page(item(4, category=category, severity=severity)) == []
    assert mail_and_hooks[1].messages == [] and store.search_alerts() == []


def test_a_replay_sends_nothing_twice(make_pager, mail_and_hooks):
    build, store, _ = make_pager
    pager = build()
    first = pager.page(item(5))
    assert pager.page(item(5)) == [] and build().page(item(5)) == []
    assert len(mail_and_hooks[1].messages) == 1 and len(store.search_alerts()) == len(first) == 1


def test_repeats_of_one_author_update_the_open_alert_instead_of_paging(make_pager, mail_and_hooks):
    build, store, clock = make_pager
    mailbox = mail_and_hooks[1]
    pager = build()
    [first] = pager.page(item(10))
    clock.advance(600)
    assert pager.page(item(11, severity="P2")) == []   # same author, 10 min later, less severe
    assert pager.page(item(12, author="kid2")) != []   # someone else: a page of its own
    clock.advance(1300)
    assert pager.page(item(13, severity="P1")) == []   # 31 min after the first: still open, same severity
    assert len(mailbox.to("reyes@example.org")) == 2

    opened = store.get_alert(first.id).doc
    assert opened["related_items"] == ["item-11", "item-13"]
    assert [h["event"] for h in opened["history"]].count("repeat") == 2
    merged = store.search_alerts(item_id="item-11")[0].doc
    assert (merged["status"], merged["merged_into"]) == ("merged", first.id)
    assert pager.page(item(11)) == []                  # a replay of a merged repeat changes nothing
    assert store.get_alert(first.id).doc["related_items"] == ["item-11", "item-13"]


def test_a_repeat_outside_the_window_or_more_severe_pages_again(make_pager, mail_and_hooks):
    build, _, clock = make_pager
    pager = build(dedup_window=timedelta(minutes=30))
    pager.page(item(20, severity="P2"))
    assert pager.page(item(21, severity="P1")) != []   # escalating severity is news
    clock.advance(31 * 60)
    assert pager.page(item(22, severity="P1")) != []   # outside the window of both
    assert len(mail_and_hooks[1].to("reyes@example.org")) == 3


def test_unacknowledged_p1_escalates_down_the_chain_then_to_the_admin(make_pager, mail_and_hooks):
    build, store, clock = make_pager
    _, mailbox, _, recorder = mail_and_hooks
    pager = build()
    [alert] = pager.page(item(30))

    clock.advance(299)
    assert pager.sweep().escalated == []
    clock.advance(1)
    assert pager.sweep().escalated == [alert.id]
    [to_patel] = recorder.posts_for(alert.id)
    assert "ESCALATED (level 1)" in to_patel["message"] and "/ack/" in to_patel["message"]

    clock.advance(300)
    assert pager.sweep().escalated == [alert.id]
    assert "ESCALATED (level 2)" in only(mailbox.to("tran@example.org"))
    clock.advance(300)
    pager.sweep()
    assert "ESCALATED (level 3)" in only(mailbox.to("okafor@example.org"))
    clock.advance(300)
    assert pager.sweep().exhausted == [alert.id]
    clock.advance(3600)
    assert pager.sweep().escalated == [] and len(mailbox.messages) + len(recorder.bodies) == 4

    doc = store.get_alert(alert.id).doc
    assert (doc["status"], doc["escalation_level"], doc["person"]) == ("escalated", 4, "okafor")
    assert doc["recipients"] == ["reyes", "patel", "tran", "okafor"]
    assert [h["event"] for h in doc["history"]] == ["sent", "escalated", "sent", "escalated", "sent",
                                                    "escalated", "sent", "escalated", "exhausted"]


def test_p2_waits_thirty_minutes(make_pager, mail_and_hooks):
    build, _, clock = make_pager
    pager = build()
    [alert] = pager.page(item(31, severity="P2"))
    clock.advance(1799)
    assert pager.sweep().escalated == []
    clock.advance(1)
    assert pager.sweep().escalated == [alert.id]


def test_acknowledging_stops_escalation_and_is_recorded(make_pager, mail_and_hooks):
    build, store, clock = make_pager
    pager = build()
    flagged = item(40)
    store.index_items([item_document(flagged)])
    [alert] = pager.page(flagged)
    clock.advance(95)

    ack = pager.acknowledge(alert.id, "reyes", via="link")
    assert not ack.already
    doc = store.get_alert(alert.id).doc
    assert (doc["status"], doc["acknowledged_by"], doc["time_to_ack_s"]) == ("acknowledged", "reyes", 95.0)
    assert doc["history"][-1]["event"] == "acknowledged" and doc["history"][-1]["by"] == "reyes"
    assert store.get_item(flagged.id).doc["review"]["status"] == "acknowledged"
    [audit] = store.audit_for(flagged.id)
    assert audit["event"]["action"] == "acknowledge" and audit["user"]["name"] == "reyes"
    assert audit["details"]["alert_id"] == alert.id

    clock.advance(3600)
    assert pager.sweep().escalated == []
    assert len(mail_and_hooks[1].messages) == 1
    again = pager.acknowledge(alert.id, "patel", via="link")
    assert again.already and again.alert.acknowledged_by == "reyes"
    assert len(store.audit_for(flagged.id)) == 1
    with pytest.raises(NotFound):
        pager.acknowledge("no-such-alert", "reyes", via="link")


def test_a_dead_channel_falls_back_and_a_person_without_channels_is_skipped_at_once(make_pager, mail_and_hooks):
    build, store, clock = make_pager
    mail, mailbox, hook, recorder = mail_and_hooks

    def edit(roster):
        people = {p["id"]: p for p in roster["people"]}
        people["reyes"]["channels"] = []  # nobody can reach Reyes today
        people["patel"]["channels"] = [{"type": "sms", "url": f"json://127.0.0.1:{free_port()}/dead"},
                                       {"type": "webhook", "url": f"json://{hook}/patel"}]
        return roster

    [alert] = build(edit, delivery_retries=1).page(item(50))
    assert len(recorder.posts_for(alert.id)) == 1 and mailbox.messages == []
    doc = store.get_alert(alert.id).doc
    assert (doc["status"], doc["person"], doc["channel"]) == ("sent", "patel", "webhook")
    failed, sent = doc["history"]
    assert (failed["event"], failed["person"], failed["detail"]) == ("failed", "reyes", "no channel configured")
    assert (sent["event"], sent["person"]) == ("sent", "patel")
    assert doc["attempts"] == 3  # two tries of the dead sms channel, one of the webhook
    assert "127.0.0.1" not in str(doc)  # channel URLs carry credentials: never stored


def test_nobody_reachable_is_retried_until_someone_is(make_pager, mail_and_hooks):
    build, store, clock = make_pager
    mail, mailbox, hook, recorder = mail_and_hooks
    down = f"json://127.0.0.1:{free_port()}/down"

    def all_down(roster):
        for person in roster["people"]:
            person["channels"] = [{"type": "webhook", "url": down}]
        return roster

    [alert] = build(all_down, delivery_retries=0).page(item(60))
    doc = store.get_alert(alert.id).doc
    assert doc["status"] == "failed" and doc["last_error"] == "nobody in the chain could be reached"
    assert [h["person"] for h in doc["history"]] == ["reyes", "patel", "tran", "okafor"]

    pager = build(delivery_retries=0)  # the outage is over
    clock.advance(59)
    assert pager.sweep().retried == []
    clock.advance(1)
    assert pager.sweep().retried == [alert.id]
    doc = store.get_alert(alert.id).doc
    assert (doc["status"], doc["person"]) == ("sent", "reyes")
    assert [h["event"] for h in doc["history"]][-2:] == ["retry", "sent"]
    assert len(mailbox.to("reyes@example.org")) == 1


def test_acknowledging_a_merged_repeat_acknowledges_the_open_alert(make_pager, mail_and_hooks):
    build, store, clock = make_pager
    pager = build()
    [first] = pager.page(item(70))
    pager.page(item(71))
    [repeat] = store.search_alerts(item_id="item-71")
    clock.advance(30)
    ack = pager.acknowledge(repeat.id, "reyes", via="console")
    assert ack.alert.id == first.id and store.get_alert(first.id).doc["status"] == "acknowledged"


def test_a_slow_clock_never_records_a_negative_time_to_acknowledge(make_pager, mail_and_hooks):
    build, store, clock = make_pager
    [alert] = build().page(item(72))
    clock.advance(-5)  # the acknowledging process's clock is behind
    assert build().acknowledge(alert.id, "reyes", via="link").alert.time_to_ack_s == 0.0


def test_the_audit_record_is_written_even_when_a_first_attempt_failed_after_the_ack(make_pager, mail_and_hooks,
                                                                                     monkeypatch):
    build, store, clock = make_pager
    flagged = item(73)
    store.index_items([item_document(flagged)])
    pager = build()
    [alert] = pager.page(flagged)
    monkeypatch.setattr(store, "append_audit", lambda docs: (_ for _ in ()).throw(RuntimeError("audit down")))
    with pytest.raises(RuntimeError):
        pager.acknowledge(alert.id, "patel", via="link")
    monkeypatch.undo()
    retry = pager.acknowledge(alert.id, "patel", via="link")
    assert retry.already and retry.alert.acknowledged_by == "patel"
    [audit] = store.audit_for(flagged.id)
    assert (audit["user"]["name"], audit["user"]["roles"]) == ("patel", ["sro"])
    assert pager.acknowledge(alert.id, "patel", via="link").already and len(store.audit_for(flagged.id)) == 1


def test_an_alert_left_pending_by_a_crashed_stage_is_sent_by_the_sweep(make_pager, mail_and_hooks):
    """The alert stage created the alert record and died before it sent anything; if its input
    was committed meanwhile (it never should be), nothing would ever send it: the sweep does."""
    from pipeline.alerts.messages import excerpt
    from pipeline.schema import Alert, alert_document

    build, store, clock = make_pager
    _, mailbox, _, _ = mail_and_hooks
    stranded = item(40)
    alert = Alert(item_id=stranded.id, role="sro", severity="P1", category="violence", school=LINCOLN,
                  excerpt=excerpt(stranded.text), explanation=stranded.explanation, page=True, created_at=clock())
    store.create_alert(alert.id, alert_document(alert))
    pager = build()

    assert pager.sweep().retried == []  # not yet: its stage may still be sending it
    clock.advance(61)
    assert pager.sweep().retried == [alert.id]
    assert "bringing a gun" in only(mailbox.to("reyes@example.org"))
    assert store.get_alert(alert.id).doc["status"] == "sent"
    assert pager.sweep().retried == []  # sent once, not again
