"""The daily digest end to end: items in an embedded store, the roster, real apprise mail to a real
SMTP server on loopback (aiosmtpd), the audit trail, the CLI, the flow and its deployment."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.policy import default as email_policy
from zoneinfo import ZoneInfo

import pytest
import yaml
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from pipeline.alerts.digest_send import fetch_items, prepare, send, send_daily_digest
from pipeline.cli import app
from pipeline.config import DEFAULT_CONFIG, REPO_ROOT, ConfigError, load_settings
from pipeline.schema import ScoredItem, item_document
from pipeline.store.embedded import EmbeddedStore

CHI = ZoneInfo("America/Chicago")
LINCOLN, CENTRAL, HAWTHORNE = "Lincoln High School", "Riverton Central High School", "Hawthorne Middle School"
NOW = datetime(2026, 3, 3, 13, 0, tzinfo=UTC)  # Tuesday 07:00 CST, when the digest runs
H = timedelta(hours=1)
ATTACK = '<script>alert(1)</script><img src=x onerror=alert(2)> they keep shoving him into lockers'
CONTACT = "parent.of.jay@example.org 555-0142"
TIP_CODE = "K7M2QX9PRT"


# --- an SMTP server on loopback --------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """aiosmtpd handler: every message as received, once per envelope recipient."""

    def __init__(self):
        self.messages: list[tuple[str, object]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=email_policy)
        with self._lock:
            self.messages.extend((rcpt, message) for rcpt in envelope.rcpt_tos)
        return "250 OK"

    def subjects(self) -> dict[str, list[str]]:
        got: dict[str, list[str]] = {}
        for rcpt, message in self.messages:
            got.setdefault(rcpt, []).append(str(message["subject"]))
        return {rcpt: sorted(subjects) for rcpt, subjects in got.items()}

    def to(self, rcpt: str) -> list:
        return [m for r, m in self.messages if r == rcpt]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


# --- roster, items, settings -----------------------------------------------------------------------

def mail(port: int, address: str) -> str:
    # mailto:// (not mailtos://) is plain SMTP: no TLS, no login, as the loopback server wants.
    return f"mailto://127.0.0.1:{port}?from=threatline@example.org&to={address}"


def roster_file(tmp_path, port: int, today: date, *, broken: bool = True):
    """Reyes, Okonkwo and Tran are the day SROs of Lincoln, Central and Hawthorne; Patel covers
    nights everywhere; Sub stands in at Central today, Past stood in at Lincoln last month;
    Alvarez and Nair are the counselors (Nair's mail server is down); Lee and Okafor the admins."""
    dead = f"mailto://127.0.0.1:{free_port()}?from=threatline@example.org&to=dead@example.org"

    def person(pid, role, *channels):
        return {"id": pid, "name": pid.title(), "roles": [role],
                "channels": [{"type": kind, "url": url} for kind, url in channels]}

    def shift(role, pid, schools, start, end):
        return {"role": role, "person": pid, "schools": schools, "days": "weekdays", "start": start, "end": end}

    data = {
        "timezone": "America/Chicago",
        "people": [
            person("reyes", "sro", ("sms", mail(port, "5555550142@sms.example.org")),
                   ("push", f"json://127.0.0.1:{free_port()}/reyes"), ("email", mail(port, "reyes@example.org"))),
            person("okonkwo", "sro", ("email", mail(port, "okonkwo@example.org"))),
            person("tran", "sro", ("email", mail(port, "tran@example.org"))),
            person("patel", "sro", ("email", mail(port, "patel@example.org"))),
            person("sub", "sro", ("email", mail(port, "sub@example.org"))),
            person("past", "sro", ("email", mail(port, "past@example.org"))),
            # The first address is dead: the digest falls back to the second, as a page does.
            person("alvarez", "counselor", ("email", dead), ("email", mail(port, "alvarez@example.org"))),
            person("nair", "counselor", ("email", dead if broken else mail(port, "nair@example.org"))),
            person("lee", "admin", ("email", mail(port, "lee@example.org"))),
            person("okafor", "admin", ("sms", mail(port, "5555550101@sms.example.org")),
                   ("email", mail(port, "okafor@example.org"))),
            person("pager-only", "admin", ("sms", mail(port, "5555550199@sms.example.org"))),
        ],
        "shifts": [
            shift("sro", "reyes", [LINCOLN], "07:00", "16:00"),
            shift("sro", "okonkwo", [CENTRAL], "07:00", "16:00"),
            shift("sro", "tran", [HAWTHORNE], "07:00", "16:00"),
            shift("sro", "patel", "all", "16:00", "07:00"),
            shift("counselor", "alvarez", [LINCOLN], "07:30", "16:00"),
            shift("counselor", "nair", [CENTRAL], "07:30", "16:00"),
        ],
        "overrides": [
            # Evening only, yet Sub is Central's staff for today's digest.
            {"date": today.isoformat(), "role": "sro", "schools": [CENTRAL], "mode": "add", "person": "sub",
             "start": "18:00", "end": "23:00"},
            {"date": (today - timedelta(days=28)).isoformat(), "role": "sro", "schools": [LINCOLN], "person": "past"},
        ],
        "escalation": [
            {"role": "sro", "schools": "all", "people": ["patel", "reyes"]},
            {"role": "sro", "schools": [CENTRAL], "people": ["okonkwo", "patel"]},  # beats the list for all
            {"role": "counselor", "schools": "all", "people": ["alvarez"]},
            {"role": "admin", "schools": "all", "people": ["okafor", "pager-only"]},
            {"role": "admin", "schools": [LINCOLN], "people": ["lee", "okafor"]},
        ],
    }
    path = tmp_path / "roster.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def item(item_id: str, severity: str, school: str | None, flagged: datetime, status: str = "open", *,
         text: str | None = None, category: str = "violence", kind: str = "post", contact: str | None = None,
         posted: datetime | None = None) -> dict:
    """A store document as the index stage writes it, then reviewed to ``status``."""
    doc = item_document(ScoredItem(
        id=item_id, kind=kind, text=text or f"text of {item_id}", source="tipline" if kind == "tip" else "reddit:riverton",
        created_at=posted or flagged - timedelta(minutes=5), scored_at=flagged, threat_score=0.5,
        self_harm_score=0.05, severity=severity, category=category, school=school, school_relevance=0.9,
        explanation=[f"why {item_id}"], model_version="test-1",
        tip_code=TIP_CODE if kind == "tip" else None, tip_contact=contact))
    doc["review"]["status"] = status
    return doc


def district(now: datetime) -> list[dict]:
    return [
        item("l-p3-new", "P3", LINCOLN, now - 2 * H, "dismissed", text=ATTACK, category="bullying"),
        item("l-p1-open", "P1", LINCOLN, now - 72 * H),
        item("l-p3-late", "P3", LINCOLN, now - H, "acknowledged", posted=now - 240 * H),  # old post, flagged today
        item("l-p3-old", "P3", LINCOLN, now - 30 * H, "resolved"),
        item("l-p2-ack", "P2", LINCOLN, now - H, "acknowledged"),
        item("c-p2-esc", "P2", CENTRAL, now - 240 * H, "escalated", category="weapons"),
        item("c-tip", "P3", CENTRAL, now - 3 * H, "dismissed", text="a kid said he'd bring his dad's gun",
             kind="tip", contact=CONTACT),
        item("h-p2-done", "P2", HAWTHORNE, now - 2 * H, "dismissed"),  # Hawthorne has nothing to report
        item("n-p3", "P3", None, now - 4 * H, "dismissed", category="drugs"),
    ]


@pytest.fixture
def env(settings, smtp, tmp_path, monkeypatch):
    """Settings on the temporary roster (no backoff) and a store holding the district's items."""
    port, inbox = smtp
    roster = roster_file(tmp_path, port, NOW.astimezone(CHI).date())
    monkeypatch.setenv("THREATLINE_ALERTS__ROSTER_FILE", str(roster))
    monkeypatch.setenv("THREATLINE_ALERTS__DELIVERY_BACKOFF_S", "0")
    s = load_settings(DEFAULT_CONFIG)
    store = open_store(s)
    store.index_items(district(NOW))
    yield s, store, inbox
    store.close()


def open_store(settings) -> EmbeddedStore:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = EmbeddedStore(settings.data_dir / settings.store.sqlite_file)
    store.setup()
    return store


def audit_records(settings) -> list[dict]:
    # Digest records name no single item, so the port's audit_for cannot find them: read the table.
    with sqlite3.connect(settings.data_dir / settings.store.sqlite_file) as db:
        return [json.loads(row[0]) for row in db.execute("SELECT doc FROM audit ORDER BY rowid")]


def subject(school: str, summary: str, day: str = "2026-03-03") -> str:
    return f"[threatline digest] {school} — {day}: {summary}"


LINCOLN_SUBJECT = subject(LINCOLN, "3 items, 2 new")
CENTRAL_SUBJECT = subject(CENTRAL, "2 items, 1 new")
NO_SCHOOL_SUBJECT = subject("no school matched", "1 item, 1 new")
LINCOLN_TO = ["reyes", "patel", "alvarez", "lee", "okafor"]
CENTRAL_TO = ["okonkwo", "patel", "sub", "alvarez", "nair", "okafor"]


# --- sending -----------------------------------------------------------------------------------------

def test_each_school_digest_reaches_its_staff_by_email_only(env):
    settings, store, inbox = env
    report = send(prepare(settings, store, NOW), store, settings, NOW)

    assert [(r.school, r.items, r.recipients, r.sent, r.failed) for r in report.schools] == [
        (LINCOLN, 3, LINCOLN_TO, LINCOLN_TO, []),
        (CENTRAL, 2, CENTRAL_TO, [p for p in CENTRAL_TO if p != "nair"], ["nair"]),
        (None, 1, ["okafor"], ["okafor"], []),
    ]
    assert report.failed == 1
    # Hawthorne is quiet: nothing for Tran. SMS gateways, push and the stand-in of last month get
    # nothing either; Sub, standing in at Central today, gets Central's.
    assert inbox.subjects() == {
        "reyes@example.org": [LINCOLN_SUBJECT],
        "patel@example.org": sorted([LINCOLN_SUBJECT, CENTRAL_SUBJECT]),
        "alvarez@example.org": sorted([LINCOLN_SUBJECT, CENTRAL_SUBJECT]),
        "lee@example.org": [LINCOLN_SUBJECT],
        "okafor@example.org": sorted([LINCOLN_SUBJECT, CENTRAL_SUBJECT, NO_SCHOOL_SUBJECT]),
        "okonkwo@example.org": [CENTRAL_SUBJECT],
        "sub@example.org": [CENTRAL_SUBJECT],
    }
    assert len(inbox.messages) == 11


def test_the_mail_lists_the_right_items_as_escaped_html_and_plain_text(env):
    settings, store, inbox = env
    send(prepare(settings, store, NOW), store, settings, NOW)

    [lincoln] = inbox.to("reyes@example.org")
    assert lincoln["from"] == "threatline@example.org"
    html = lincoln.get_body(("html",)).get_content()
    plain = lincoln.get_body(("plain",)).get_content()
    for part in (html, plain):
        # Most severe first, then the oldest post first (the late-flagged one was posted days ago).
        assert part.index("l-p1-open") < part.index("l-p3-late") < part.index("l-p3-new")
        for absent in ("l-p3-old", "l-p2-ack", "c-p2-esc", "n-p3", "h-p2-done"):
            assert absent not in part
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in html

    [central] = inbox.to("okonkwo@example.org")
    everything = central.as_string()
    assert "c-p2-esc" in everything and "dad's gun" in central.get_body(("plain",)).get_content()
    for secret in ("parent.of.jay", "555-0142", TIP_CODE):
        assert secret not in everything


def test_one_audit_record_per_digest_with_ids_never_text(env):
    settings, store, _ = env
    send(prepare(settings, store, NOW), store, settings, NOW)

    records = audit_records(settings)
    assert [(r["event"]["action"], r["user"]["name"], r["details"].get("school")) for r in records] == [
        ("digest", "threatline-digest", LINCOLN), ("digest", "threatline-digest", CENTRAL),
        ("digest", "threatline-digest", None)]
    assert records[0]["details"] == {"school": LINCOLN, "item_ids": ["l-p1-open", "l-p3-late", "l-p3-new"],
                                     "sent_to": LINCOLN_TO, "failed": []}
    assert records[1]["details"]["failed"] == ["nair"]
    assert records[0]["@timestamp"] == NOW.isoformat()
    dumped = json.dumps(records)
    for text in ("shoving", "script", "dad's gun", "parent.of.jay", "example.org", "mailto"):
        assert text not in dumped


def test_a_quiet_district_sends_nothing_and_audits_nothing(settings, smtp, tmp_path, monkeypatch):
    port, inbox = smtp
    monkeypatch.setenv("THREATLINE_ALERTS__ROSTER_FILE", str(roster_file(tmp_path, port, NOW.date())))
    s = load_settings(DEFAULT_CONFIG)
    store = open_store(s)
    store.index_items([item("done", "P1", LINCOLN, NOW - H, "resolved"),
                       item("yesterday", "P3", CENTRAL, NOW - 25 * H, "dismissed")])
    store.close()

    report = send_daily_digest(s, NOW)
    assert report.schools == [] and report.failed == 0
    assert inbox.messages == [] and audit_records(s) == []


def test_one_school_only(env):
    settings, store, inbox = env
    report = send(prepare(settings, store, NOW, school=CENTRAL), store, settings, NOW)
    assert [r.school for r in report.schools] == [CENTRAL]
    assert {rcpt for rcpt, _ in inbox.messages} == {f"{p}@example.org" for p in CENTRAL_TO if p != "nair"}
    with pytest.raises(ValueError, match="unknown school 'Nowhere High'"):
        prepare(settings, store, NOW, school="Nowhere High")


def test_every_item_is_read_across_pages_and_timestamp_ties(settings):
    store = open_store(settings)
    tie = NOW - 50 * H
    docs = [item(f"open-{i:02d}", "P2", LINCOLN, tie if i % 3 == 0 else NOW - (60 + i) * H) for i in range(23)]
    docs += [item(f"p3-{i:02d}", "P3", CENTRAL, tie, "dismissed") for i in range(7)]
    docs += [item("closed", "P2", CENTRAL, tie, "resolved")]
    store.index_items(docs)
    try:
        for size in (1, 3, 4, 100):
            got = sorted(d["event"]["id"] for d in fetch_items(store, page_size=size))
            assert got == sorted(d["event"]["id"] for d in docs[:-1]), size
    finally:
        store.close()


def test_a_broken_roster_fails_before_anything_is_sent(env, tmp_path):
    settings, store, inbox = env
    bad = tmp_path / "bad-roster.yaml"
    bad.write_text("people: []\n", encoding="utf-8")
    broken = settings.model_copy(update={"alerts": settings.alerts.model_copy(update={"roster_file": bad})})
    with pytest.raises(ConfigError, match="bad-roster.yaml"):
        prepare(broken, store, NOW)
    assert inbox.messages == []


@pytest.mark.parametrize("value,ok", [("07:00", True), ("23:59", True), ("00:00", True), (420, False),
                                      ("7:00", False), ("24:00", False), ("07:60", False), ("", False)])
def test_digest_time_is_a_quoted_local_time(tmp_path, value, ok):
    config = tmp_path / "threatline.yaml"
    config.write_text(yaml.safe_dump({"alerts": {"digest_time": value}}), encoding="utf-8")
    if ok:
        assert load_settings(config).alerts.digest_time == value
    else:
        with pytest.raises(ConfigError, match="alerts.digest_time"):
            load_settings(config)
    assert load_settings(DEFAULT_CONFIG).alerts.digest_time == "07:00"


# --- the CLI -----------------------------------------------------------------------------------------

@pytest.fixture
def live(settings, smtp, tmp_path, monkeypatch):
    """The district's items on the real clock, for the CLI (which reads the clock itself)."""
    port, inbox = smtp
    now = datetime.now(UTC)
    monkeypatch.setenv("THREATLINE_ALERTS__ROSTER_FILE", str(roster_file(tmp_path, port, now.astimezone(CHI).date())))
    monkeypatch.setenv("THREATLINE_ALERTS__DELIVERY_BACKOFF_S", "0")
    s = load_settings(DEFAULT_CONFIG)
    store = open_store(s)
    store.index_items(district(now))
    store.close()
    return s, inbox


def cli(*args: str):
    return CliRunner().invoke(app, ["digest", "--config", str(DEFAULT_CONFIG), *args])


def test_cli_dry_run_prints_the_digests_and_who_would_get_them_and_sends_nothing(live):
    settings, inbox = live
    result = cli()
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"threatline daily digest — {LINCOLN}" in out and f"threatline daily digest — {CENTRAL}" in out
    assert HAWTHORNE not in out
    assert ATTACK in out  # the plain text, as written: a terminal is not a browser
    assert "would go to: Reyes (reyes), Patel (patel), Alvarez (alvarez), Lee (lee), Okafor (okafor)" in out
    assert ("would go to: Okonkwo (okonkwo), Patel (patel), Sub (sub), Alvarez (alvarez), Nair (nair), "
            "Okafor (okafor)") in out
    assert "would go to: Okafor (okafor)" in out
    assert "dry run: 3 digest(s) for 12 recipient(s); nothing was sent" in out
    for secret in ("parent.of.jay", TIP_CODE, "mailto", "@example.org"):
        assert secret not in out
    assert inbox.messages == [] and audit_records(settings) == []


def test_cli_send_mails_them_and_reports_who_got_them(live):
    settings, inbox = live
    result = cli("--send")
    assert result.exit_code == 1  # Nair's mail server is down
    assert f"{LINCOLN}: 3 item(s), sent to 5 (reyes, patel, alvarez, lee, okafor)" in result.stdout
    assert f"{CENTRAL}: 2 item(s), sent to 5 (okonkwo, patel, sub, alvarez, okafor), failed for nair" in result.stdout
    assert "no school matched: 1 item(s), sent to 1 (okafor)" in result.stdout
    assert result.stderr == "error: 1 digest delivery(ies) failed; see above\n"
    assert len(inbox.messages) == 11 and len(audit_records(settings)) == 3


def test_cli_one_school(live):
    _, inbox = live
    result = cli("--send", "--school", LINCOLN)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines() == [f"{LINCOLN}: 3 item(s), sent to 5 (reyes, patel, alvarez, lee, okafor)"]
    assert sorted(rcpt for rcpt, _ in inbox.messages) == sorted(f"{p}@example.org" for p in LINCOLN_TO)
    unknown = cli("--school", "Nowhere High")
    assert unknown.exit_code == 2 and unknown.stderr.startswith("error: unknown school 'Nowhere High'; known: ")


def test_cli_store_failure_is_one_line_and_exit_1(live, monkeypatch):
    _, inbox = live
    monkeypatch.setenv("THREATLINE_STORE__BACKEND", "elasticsearch")
    monkeypatch.setenv("THREATLINE_STORE__ELASTICSEARCH_HOSTS", '["http://127.0.0.1:9"]')
    monkeypatch.setenv("THREATLINE_STORE__ELASTICSEARCH_TIMEOUT_S", "2")
    for args in ((), ("--send",)):
        result = cli(*args)
        assert result.exit_code == 1
        assert result.stderr.startswith("store error: ") and result.stderr.count("\n") == 1
        assert result.stdout == ""
    assert inbox.messages == []


# --- the flow and its deployment ---------------------------------------------------------------------

def prefect_env(settings, tmp_path, roster) -> dict[str, str]:
    # Importing Prefect writes to its home: a child process with its own keeps tests off ~/.prefect.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "THREATLINE_"))}
    return env | {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                  "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
                  "THREATLINE_GENERAL__DATA_DIR": str(settings.data_dir), "PYTHONPATH": str(REPO_ROOT),
                  "THREATLINE_ALERTS__ROSTER_FILE": str(roster), "THREATLINE_ALERTS__DIGEST_TIME": "06:45"}


_DEPLOYMENTS = r"""
import json, sys
import flows.deployments as d
from pipeline.config import load_settings
served = d.served_deployments(load_settings(sys.argv[1]))
[digest] = [x for x in served if x.flow_name == "daily-digest"]
[report] = [x for x in served if x.flow_name == "transparency-report"]
print(json.dumps({"names": [x.name for x in served],
                  "report": [report.entrypoint, [s.schedule.model_dump(mode="json") for s in report.schedules]],
                  "schedules": [s.schedule.model_dump(mode="json") for s in digest.schedules],
                  "limit": digest.concurrency_limit, "parameters": digest.parameters,
                  "entrypoint": digest.entrypoint}))
"""


@pytest.mark.slow
def test_serve_all_serves_the_daily_digest_at_digest_time(settings, tmp_path):
    env = prefect_env(settings, tmp_path, roster_file(tmp_path, 25, NOW.date()))
    done = subprocess.run([sys.executable, "-c", _DEPLOYMENTS, str(DEFAULT_CONFIG)], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert "daily-digest" in seen["names"] and "purge-expired-daily" in seen["names"]
    assert seen["schedules"] == [{"cron": "45 6 * * *", "timezone": "America/Chicago", "day_or": True}]
    assert seen["limit"] == 1
    assert seen["parameters"] == {"config_path": str(DEFAULT_CONFIG)}
    assert seen["entrypoint"] == "flows/digest.py:daily_digest"
    # the monthly transparency report (docs/accountability.md) is served beside it
    assert seen["report"] == ["flows/report.py:transparency_report",
                              [{"cron": "0 6 1 * *", "timezone": "America/Chicago", "day_or": True}]]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_digest_flow_runs_under_prefect(settings, smtp, tmp_path):
    port, inbox = smtp
    now = datetime.now(UTC)
    roster = roster_file(tmp_path, port, now.astimezone(CHI).date(), broken=False)
    store = open_store(settings)
    store.index_items(district(now))
    store.close()
    code = ("import json, sys\nfrom flows.digest import daily_digest\n"
            "print(json.dumps(daily_digest(config_path=sys.argv[1])))")
    done = subprocess.run([sys.executable, "-c", code, str(DEFAULT_CONFIG)], env=prefect_env(settings, tmp_path, roster),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert [(s["school"], s["sent"], s["failed"]) for s in report["schools"]] == [
        (LINCOLN, LINCOLN_TO, []), (CENTRAL, CENTRAL_TO, []), (None, ["okafor"], [])]
    assert len(inbox.messages) == 12
