"""Acknowledge links end to end: a real page from the pager over the shipped roster and rules,
then GET (look, change nothing) and POST (acknowledge) on the review server."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from urllib.parse import urljoin

import httpx
import pytest
from fastapi.testclient import TestClient
from review_support import PAGED_AT, flagged, page_one
from typer.testing import CliRunner

from pipeline.alerts.ack import sign
from pipeline.alerts.pager import alert_from_document
from pipeline.cli import app as cli
from pipeline.review import create_review_app
from pipeline.store import StoreUnavailable
from pipeline.tipline.server import in_background


def stored(rt, alert_id):
    return alert_from_document(rt.store.get_alert(alert_id).doc)


def acks(rt, item_id="item-ack-1"):
    return [r for r in rt.store.audit_for(item_id) if r["event"]["action"] == "acknowledge"]


def assert_unchanged(rt, alert):
    now = stored(rt, alert.id)
    assert now.status == "sent" and now.acknowledged_by is None and now.escalate_at == alert.escalate_at
    assert acks(rt) == []


def test_get_shows_the_alert_and_acknowledges_nothing(rt, pager, sent, client):
    alert, path = page_one(rt, pager, sent)
    r = client.get(path)
    assert r.status_code == 200, r.text
    html = r.text
    for shown in ("Acknowledge this alert?", "P1", "violence", "Lincoln High School", "2026-03-04 10:00 CST",
                  "bringing my dad&#x27;s gun to Lincoln", "threat of violence with a weapon",
                  "Officer Dana Reyes (reyes)"):
        assert shown in html
    # One button, posting back to this very address; the token is not written into the page.
    assert '<form method="post"><button type="submit">Acknowledge</button></form>' in html
    assert path.rsplit("/", 1)[1] not in html
    # the case itself is one tap away: a relative link to its console page (behind any path prefix)
    assert f'<a href="../items/{alert.item_id}">Open the case in the review console</a>' in html
    assert client.get(urljoin(path, f"../items/{alert.item_id}"), follow_redirects=False).status_code in (200, 303)
    assert r.headers["cache-control"] == "no-store" and r.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "set-cookie" not in r.headers
    client.get(path)  # a link scanner, then a preview
    assert_unchanged(rt, alert)
    views = [r for r in rt.store.audit_for("item-ack-1") if r["event"]["action"] == "view"]
    assert [(v["user"]["name"], v["details"]["via"]) for v in views] == [("reyes", "ack link opened")] * 2
    assert rt.store.get_item("item-ack-1").doc["review"]["status"] == "open"


def test_post_acknowledges_and_stops_escalation(rt, pager, sent, clock, client):
    alert, path = page_one(rt, pager, sent)
    clock.now = PAGED_AT + timedelta(minutes=4, seconds=12)
    r = client.post(path)
    assert r.status_code == 200, r.text
    assert "Acknowledged — escalation stopped" in r.text and "Time to acknowledge: 4 min 12 s" in r.text
    assert "Officer Dana Reyes (reyes)" in r.text and r.headers["cache-control"] == "no-store"
    after = stored(rt, alert.id)
    assert after.status == "acknowledged" and after.acknowledged_by == "reyes"
    assert after.time_to_ack_s == 252.0 and after.escalate_at is None
    assert after.history[-1].event == "acknowledged" and after.history[-1].detail == "via link"
    [audit] = acks(rt)
    assert audit["user"]["name"] == "reyes" and audit["details"]["via"] == "link"
    assert audit["details"]["alert_id"] == alert.id
    assert rt.store.get_item("item-ack-1").doc["review"]["status"] == "acknowledged"
    # Long past the P1 timeout, the sweep pages nobody else.
    clock.now = PAGED_AT + timedelta(hours=1)
    report = pager.sweep()
    assert report.escalated == [] and len(sent) == 1


def test_second_post_and_later_get_say_who_acknowledged_and_when(rt, pager, sent, clock, client):
    alert, path = page_one(rt, pager, sent)
    clock.now = PAGED_AT + timedelta(minutes=2)
    assert client.post(path).status_code == 200
    clock.now = PAGED_AT + timedelta(minutes=3)
    for r in (client.post(path), client.get(path)):
        assert r.status_code == 200
        assert "Already acknowledged" in r.text
        assert "Officer Dana Reyes (reyes) acknowledged this alert at 2026-03-04 10:02 CST" in r.text
        assert "<form" not in r.text
    assert len(acks(rt)) == 1 and stored(rt, alert.id).acknowledged_at == PAGED_AT + timedelta(minutes=2)


def flip(token: str, at: int = 20) -> str:
    return token[:at] + ("B" if token[at] != "B" else "C") + token[at + 1:]


def test_forged_links_are_refused_with_403_and_change_nothing(rt, pager, sent, client):
    alert, path = page_one(rt, pager, sent)
    token = path.rsplit("/", 1)[1]
    other = sign(alert.id, "reyes", PAGED_AT + timedelta(hours=1), "another-secret-" + "x" * 32)
    for forged in (flip(token), other):
        for method in ("GET", "POST"):
            r = client.request(method, f"/ack/{forged}")
            assert r.status_code == 403, (method, r.text)
            assert "This link does not work" in r.text and forged not in r.text
            assert r.headers["cache-control"] == "no-store"
    assert_unchanged(rt, alert)


def test_expired_link_is_410_gone_and_changes_nothing(rt, pager, sent, clock, client):
    alert, path = page_one(rt, pager, sent)
    clock.now = PAGED_AT + timedelta(hours=24)  # valid for [paged, paged + 24 h)
    for method in ("GET", "POST"):
        r = client.request(method, path)
        assert r.status_code == 410, (method, r.text)
        assert "This link expired; open the review console or call dispatch." in r.text
    assert stored(rt, alert.id).status == "sent" and acks(rt) == []


@pytest.mark.parametrize("token", ["abc", "not%20a%20token", "A" * 2000])
def test_malformed_link_is_400(client, token):
    r = client.post(f"/ack/{token}")
    assert r.status_code == 400 and "This link is incomplete" in r.text


def test_link_to_an_alert_that_is_gone_is_404(rt, pager, client):
    token = sign("alert-that-was-purged", "reyes", PAGED_AT + timedelta(hours=1), pager.policy.ack_secrets)
    for method in ("GET", "POST"):
        r = client.request(method, f"/ack/{token}")
        assert r.status_code == 404 and "This alert is no longer in threatline" in r.text


def test_post_text_is_escaped_on_every_page(rt, pager, sent, client):
    item = flagged("<script>alert(1)</script> at Lincoln, bring a gun",
                   explanation=['cue "<img src=x onerror=alert(2)>"'])
    _, path = page_one(rt, pager, sent, item)
    for r in (client.get(path), client.post(path)):
        assert r.status_code == 200
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
        assert "&lt;img src=x onerror=alert(2)&gt;" in r.text
        assert "<script" not in r.text and "<img" not in r.text


def test_the_token_never_reaches_the_log(rt, pager, sent, clock, client, caplog):
    caplog.set_level(logging.DEBUG)
    alert, path = page_one(rt, pager, sent)
    token = path.rsplit("/", 1)[1]
    client.get(path)
    client.post(f"/ack/{flip(token)}")
    client.post(path)
    clock.now = PAGED_AT + timedelta(days=2)
    client.get(path)
    # httpx, the test's own client, logs the URLs it requests; the server side must not.
    server_side = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert not [r.getMessage() for r in server_side if token in r.getMessage() or flip(token) in r.getMessage()]
    messages = [r.getMessage() for r in server_side]
    assert "acknowledge link refused: bad_signature" in messages
    assert "acknowledge link refused: expired" in messages


def test_bad_links_are_rate_limited_but_a_genuine_link_still_works(rt, pager, sent):
    limited = dataclasses.replace(rt, settings=rt.settings.model_copy(update={
        "review": rt.settings.review.model_copy(update={"bad_link_limit": 2})}))
    alert, path = page_one(rt, pager, sent)
    with TestClient(create_review_app(limited, pager=pager)) as client:
        codes = [client.get(f"/ack/{flip(path.rsplit('/', 1)[1], at)}").status_code for at in (10, 20, 30)]
        assert codes == [403, 403, 429]
        assert client.get(f"/ack/{flip(path.rsplit('/', 1)[1], 40)}").headers["retry-after"]
        assert client.post(path).status_code == 200
    assert stored(rt, alert.id).status == "acknowledged"


def test_store_trouble_is_a_503_and_a_crash_a_500_without_the_token_in_the_log(rt, pager, sent, client,
                                                                                monkeypatch, caplog):
    _, path = page_one(rt, pager, sent)

    def down(*args, **kwargs):
        raise StoreUnavailable("sqlite store: database is locked")

    monkeypatch.setattr(pager, "acknowledge", down)
    r = client.post(path)
    assert r.status_code == 503 and r.headers["retry-after"] == "30" and "trying again is always safe" in r.text

    def crash(*args, **kwargs):
        raise RuntimeError(f"bug quoting {path}")

    monkeypatch.setattr(pager, "acknowledge", crash)
    r = client.post(path)
    assert r.status_code == 500 and "Something went wrong" in r.text and r.headers["cache-control"] == "no-store"
    [logged] = [rec.getMessage() for rec in caplog.records if rec.name == "threatline.review"]
    assert logged == "unexpected RuntimeError on POST /ack/{token}"


def test_healthz_is_liveness_and_a_store_outage_shows_on_readyz(rt, client, monkeypatch):
    def refuse():
        raise StoreUnavailable("sqlite store: database is locked")

    monkeypatch.setattr(rt.store, "check_writable", refuse)
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["store"]["ok"] is False


def test_unknown_addresses_get_a_plain_404_page(client):
    r = client.get("/ack/")
    assert r.status_code == 404 and "There is no page at this address." in r.text
    assert r.headers["cache-control"] == "no-store"


def test_a_real_server_acknowledges_over_http(rt, pager, sent):
    alert, path = page_one(rt, pager, sent)
    with in_background(create_review_app(rt, pager=pager), name="the review server") as url, \
            httpx.Client(base_url=url, timeout=30) as http:
        assert http.get(path).status_code == 200
        assert stored(rt, alert.id).status == "sent"
        r = http.post(path)
        assert r.status_code == 200 and "Acknowledged — escalation stopped" in r.text
        assert http.get("/healthz").json() == {"status": "ok"}
    assert stored(rt, alert.id).acknowledged_by == "reyes" and len(acks(rt)) == 1


def test_review_runs_beside_the_pipeline_in_threatline_run(settings):
    from flows.deployments import review_in_background

    settings = settings.model_copy(update={"review": settings.review.model_copy(update={"port": 0})})
    with review_in_background(settings) as url:
        assert httpx.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}


def test_serve_review_is_a_command():
    result = CliRunner().invoke(cli, ["serve", "review", "--help"])
    assert result.exit_code == 0 and "--port" in result.output
