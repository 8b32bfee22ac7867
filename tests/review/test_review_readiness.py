"""The review server's /healthz (live) and /readyz (bus, store, tip threads, stages), embedded."""

from __future__ import annotations

import sqlite3

from heartbeats import all_running, silent_since

from pipeline.store import StoreUnavailable


def test_healthz_is_live_and_readyz_ready_when_everything_answers(rt, client):
    all_running(rt.settings.data_dir)
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready" and set(body["checks"]) == {"bus", "store", "threads", "stages"}
    for name, check in body["checks"].items():
        assert check["ok"] is True and isinstance(check["ms"], int) and "detail" not in check, name
    assert r.headers["cache-control"] == "no-store"


def test_a_store_that_cannot_write_makes_it_not_ready_and_names_the_store(rt, client):
    all_running(rt.settings.data_dir)
    # A real failure: another process holds the store's write lock past the busy timeout.
    rt.store._db.execute("PRAGMA busy_timeout = 100")
    holder = sqlite3.connect(rt.settings.data_dir / rt.settings.store.sqlite_file, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        r = client.get("/readyz")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["store"]["ok"] is False and "StoreUnavailable" in body["checks"]["store"]["detail"]
    assert all(body["checks"][name]["ok"] for name in ("bus", "threads", "stages"))
    assert client.get("/healthz").status_code == 200  # liveness does not depend on the store
    assert client.get("/readyz").status_code == 200   # and readiness comes back with it


def test_a_stage_silent_past_the_alarm_makes_it_not_ready(rt, client):
    all_running(rt.settings.data_dir)
    silent_since(rt.settings.data_dir, "classify", 200)
    r = client.get("/readyz")
    assert r.status_code == 503
    stages = r.json()["checks"]["stages"]
    assert stages["ok"] is False and "stage classify (pid 4242) has not reported for 200s" in stages["detail"]


def test_details_never_carry_a_url_password(rt, client, monkeypatch):
    all_running(rt.settings.data_dir)

    def refuse():
        raise StoreUnavailable("elasticsearch at https://threatline:hunter2@es.internal:9200 unreachable")

    monkeypatch.setattr(rt.store, "check_writable", refuse)
    detail = client.get("/readyz").json()["checks"]["store"]["detail"]
    assert "hunter2" not in detail and "https://threatline:***@es.internal:9200" in detail
