"""`threatline alerts on-duty | list | show | sweep | ack` against the shipped roster and an
embedded store seeded by the real pager; `alerts test-page` against a real SMTP server."""

from __future__ import annotations

import logging
import socket
from datetime import timedelta

import pytest
import yaml
from paged_items import page_p1_post
from rosters import webhook_roster
from smtp_server import smtp_server
from typer.testing import CliRunner
from webhook_server import webhook_server

from pipeline.bootstrap import build_pager, runtime
from pipeline.cli import app
from pipeline.config import DEFAULT_CONFIG, load_settings
from pipeline.schema import ScoredItem, item_document, utcnow

LINCOLN = "Lincoln High School"


def invoke(*args: str):
    return CliRunner().invoke(app, [*args, "--config", str(DEFAULT_CONFIG)])


@pytest.mark.parametrize(("at", "sro", "counselor"), [
    ("2026-11-23T09:00-06:00", "Officer Dana Reyes", "Jordan Alvarez, counselor"),     # Monday school day
    ("2026-12-25T10:00-06:00", "Sergeant Ravi Patel", "Riverton County Mobile Crisis Team"),  # holiday override
])
def test_on_duty_names_who_would_be_paged(settings, at, sro, counselor):
    result = invoke("alerts", "on-duty", "--school", LINCOLN, "--at", at)
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip()
            for line in result.output.splitlines() if line.startswith("│") and line.split("│")[1].strip()}
    assert sro.startswith(rows["sro"]) and counselor.startswith(rows["counselor"])


@pytest.mark.parametrize(("args", "message"), [
    (("--school", "Nowhere High"), "unknown school 'Nowhere High'"),
    (("--at", "2026-12-25T10:00"), "--at needs a UTC offset"),
    (("--at", "Christmas"), "is not an ISO date-time"),
])
def test_on_duty_refuses_bad_input_in_one_line(settings, args, message):
    result = invoke("alerts", "on-duty", *args)
    assert result.exit_code == 2 and message in result.output


@pytest.fixture
def paged(settings, tmp_path, monkeypatch):
    """One P1 page to sro1, sent 10 minutes ago so its escalation is due now."""
    with webhook_server() as (address, recorder):
        monkeypatch.setenv("THREATLINE_ALERTS__ROSTER_FILE", str(webhook_roster(tmp_path / "roster.yaml", address)))
        alert = page_p1_post(load_settings(DEFAULT_CONFIG), "item-cli", clock=lambda: utcnow() - timedelta(minutes=10))
        yield alert, recorder


def test_list_show_sweep_and_ack(paged):
    alert, recorder = paged
    listed = invoke("alerts", "list")
    assert listed.exit_code == 0 and alert.id in listed.output and "sent" in listed.output

    swept = invoke("alerts", "sweep")
    assert swept.exit_code == 0 and "escalated 1" in swept.output
    assert len(recorder.posts_for(alert.id)) == 2 and "ESCALATED" in recorder.bodies[-1]["message"]

    shown = invoke("alerts", "show", alert.id)
    assert shown.exit_code == 0 and "bringing a gun to lincoln" in shown.output
    with runtime(load_settings(DEFAULT_CONFIG)) as rt:
        [view] = [r for r in rt.store.audit_for("item-cli") if r["event"]["action"] == "view"]
    assert view["user"]["name"].startswith("cli:") and view["details"]["alert_id"] == alert.id
    assert [e for e in ("sent", "escalated") if e in shown.output] == ["sent", "escalated"]

    acked = invoke("alerts", "ack", alert.id, "--by", "dispatch-jones")
    assert acked.exit_code == 0 and "acknowledged by dispatch-jones" in acked.output
    again = invoke("alerts", "ack", alert.id, "--by", "someone-else")
    assert again.exit_code == 0 and "already acknowledged by dispatch-jones" in again.output
    assert alert.id not in invoke("alerts", "list").output
    assert alert.id in invoke("alerts", "list", "--all").output
    assert invoke("alerts", "sweep").output.startswith("checked 0 open alert(s)")


def test_unknown_alert_is_one_line_exit_1(settings):
    assert invoke("setup").exit_code == 0
    for args in (("show", "nope"), ("ack", "nope", "--by", "x")):
        result = invoke("alerts", *args)
        assert result.exit_code == 1 and "no alert nope" in result.output


HOSTILE = "gun at lincoln\x1b[2J\x1b]0;pwned\x07 tomorrow\r\x9b31m\x00 ok"


def test_show_and_list_neutralise_terminal_escapes_from_tip_text(settings, tmp_path, monkeypatch):
    # A tip's words reach the officer's terminal: ESC [2J would clear the screen, ESC ]0;…BEL
    # retitle the window, U+009B is a one-character CSI. They must be shown, never obeyed.
    with webhook_server() as (address, _recorder):
        monkeypatch.setenv("THREATLINE_ALERTS__ROSTER_FILE", str(webhook_roster(tmp_path / "roster.yaml", address)))
        s = load_settings(DEFAULT_CONFIG)
        flagged = ScoredItem(id="item-esc", kind="tip", text=HOSTILE, source="tipline", threat_score=0.97,
                             self_harm_score=0, severity="P1", category="violence", school=LINCOLN,
                             school_relevance=1, model_version="test", explanation=["threat cue: gun\x1b[5m"])
        with runtime(s) as rt:
            rt.setup()
            rt.store.index_items([item_document(flagged)])
            [alert] = build_pager(s, rt.store).page(flagged)
        shown = invoke("alerts", "show", alert.id)
        listed = invoke("alerts", "list")
    for result in (shown, listed):
        assert result.exit_code == 0, result.output
        assert not any(c in result.output for c in "\x1b\x07\x9b\x00\r"), repr(result.output)
    # Shown as visible escapes, nothing dropped: the officer can still read what was sent.
    assert "gun at lincoln\\x1b[2J\\x1b]0;pwned\\x07 tomorrow\\x0d\\x9b31m\\x00 ok" in shown.output


# --- test-page ------------------------------------------------------------------------------------

PASSWORD = "hunter2-s3cret"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def test_page_roster(settings, tmp_path, monkeypatch):
    """reyes (SRO): an email channel to aiosmtpd, then a webhook (with credentials) to a closed
    port; tran (admin): the email channel only."""
    dead = f"json://alerts:{PASSWORD}@127.0.0.1:{closed_port()}/reyes"
    with smtp_server() as (mail, mailbox):
        def person(pid: str, role: str, *channels: tuple[str, str]) -> dict:
            return {"id": pid, "name": f"Officer {pid.title()}", "roles": [role],
                    "channels": [{"type": t, "url": u} for t, u in channels]}

        path = tmp_path / "roster.yaml"
        path.write_text(yaml.safe_dump({
            "timezone": "America/Chicago",
            "people": [person("reyes", "sro", ("email", mail("reyes@example.org")), ("webhook", dead)),
                       person("tran", "admin", ("email", mail("tran@example.org")))],
            "escalation": [{"role": "sro", "schools": "all", "people": ["reyes"]},
                           {"role": "admin", "schools": "all", "people": ["tran"]}],
        }))
        monkeypatch.setenv("THREATLINE_ALERTS__ROSTER_FILE", str(path))
        yield mail, mailbox, dead


def table_rows(output: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in output.splitlines()
            if line.startswith("│") and line.split("│")[1].strip().isdigit()]


def test_test_page_tries_every_channel_and_reports_each_without_its_url(test_page_roster, caplog):
    mail, mailbox, dead = test_page_roster
    caplog.set_level(logging.DEBUG)
    result = invoke("alerts", "test-page", "reyes")

    assert result.exit_code == 1, result.output
    assert table_rows(result.stdout) == [["1", "email", "delivered", "1", ""],
                                         ["2", "webhook", "failed", "3", "not accepted"]]
    assert "1 of 2 channel(s) failed" in result.stderr
    # Not stopped at the first channel that worked, and the mail says what it is.
    [message] = mailbox.to("reyes@example.org")
    assert str(message["subject"]) == "threatline test page — no action needed"
    text = message.get_body(("plain",)).get_content()
    assert "Officer Reyes" in text and "email channel" in text and "No action needed" in text
    assert "Acknowledge" not in text and "Item:" not in text
    # A channel URL carries credentials: neither it nor its parts reach the terminal, and the
    # password never reaches the log (apprise's debug lines name the host, password masked).
    for part in (PASSWORD, dead, mail("reyes@example.org"), "json://", "mailto://", "127.0.0.1"):
        assert part not in result.output
    assert caplog.records and not [r for r in caplog.records if PASSWORD in r.getMessage()]


def test_test_page_exits_0_when_every_channel_delivered(test_page_roster):
    _, mailbox, _ = test_page_roster
    result = invoke("alerts", "test-page", "tran")
    assert result.exit_code == 0, result.output
    assert table_rows(result.stdout) == [["1", "email", "delivered", "1", ""]]
    assert len(mailbox.to("tran@example.org")) == 1 and mailbox.to("reyes@example.org") == []


def test_test_page_to_an_unknown_person_is_one_line_exit_2(test_page_roster):
    _, mailbox, _ = test_page_roster
    result = invoke("alerts", "test-page", "nobody")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: no person 'nobody' in the roster (known: reyes, tran)"
    assert mailbox.messages == []
