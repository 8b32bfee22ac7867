"""The tip line's /healthz (live) and /readyz (bus, store, tip threads, stages) over a real server."""

from __future__ import annotations

import sqlite3

import pytest
from heartbeats import all_running, silent_since

from pipeline.bus import BusError
from pipeline.store import StoreUnavailable
from pipeline.tipline.threads import SqliteThreadStore, ThreadStoreError


def test_ready_when_bus_store_threads_and_every_stage_answer(tipline):
    all_running(tipline.rt.settings.data_dir)
    assert tipline.http.get("/healthz").json() == {"status": "ok"}
    r = tipline.http.get("/readyz")
    assert r.status_code == 200, r.text
    checks = r.json()["checks"]
    assert r.json()["status"] == "ready" and set(checks) == {"bus", "store", "threads", "stages"}
    assert all(c["ok"] and c["ms"] >= 0 for c in checks.values())


def test_a_failing_store_is_named_and_answers_503(tipline, monkeypatch):
    all_running(tipline.rt.settings.data_dir)

    def refuse():
        raise StoreUnavailable("sqlite store: database is locked")

    monkeypatch.setattr(tipline.rt.store, "check_writable", refuse)
    r = tipline.http.get("/readyz")
    assert r.status_code == 503 and r.json()["status"] == "not_ready"
    assert r.json()["checks"]["store"] == {"ok": False, "ms": r.json()["checks"]["store"]["ms"],
                                           "detail": "StoreUnavailable: sqlite store: database is locked"}
    assert r.json()["checks"]["bus"]["ok"] and tipline.http.get("/healthz").status_code == 200


def test_a_bus_or_thread_store_that_cannot_write_is_named(tipline, monkeypatch):
    all_running(tipline.rt.settings.data_dir)

    def bus_down(topics):
        raise BusError("Kafka at kafka:9092 is unreachable")

    monkeypatch.setattr(tipline.rt.bus, "check_writable", bus_down)
    tipline.threads.close()  # the app's thread store: every use now fails
    checks = tipline.http.get("/readyz").json()["checks"]
    assert checks["bus"]["detail"] == "BusError: Kafka at kafka:9092 is unreachable"
    assert not checks["threads"]["ok"] and "closed database" in checks["threads"]["detail"]
    assert checks["store"]["ok"] and checks["stages"]["ok"]


def test_a_stale_stage_heartbeat_answers_503(tipline):
    data_dir = tipline.rt.settings.data_dir
    all_running(data_dir)
    silent_since(data_dir, "alert", 10 + tipline.rt.settings.stages.stuck_alarm_s + 5)
    r = tipline.http.get("/readyz")
    assert r.status_code == 503
    assert "stage alert (pid 4242) has not reported for" in r.json()["checks"]["stages"]["detail"]


def test_a_stage_that_never_started_is_not_ready(tipline):
    r = tipline.http.get("/readyz")
    assert r.status_code == 503
    detail = r.json()["checks"]["stages"]["detail"]
    assert "classify-tips: no heartbeat in this data dir" in detail and "index: no heartbeat" in detail


def test_a_tip_line_host_whose_stages_run_elsewhere_is_ready_without_their_heartbeats(settings, tmp_path):
    """stages.heartbeat_here: false (a tip line alone on its host, the stages on other machines):
    no heartbeat ever reaches this data dir, and /readyz must still say whether tips can be taken."""
    from tipline_server import serving

    from pipeline.bootstrap import runtime

    elsewhere = settings.model_copy(update={"stages": settings.stages.model_copy(update={"heartbeat_here": False})})
    with runtime(elsewhere) as rt:
        rt.bus.setup([elsewhere.topic("tips.raw")])
        with serving(rt, tmp_path) as tipline:
            r = tipline.http.get("/readyz")
    assert r.status_code == 200, r.text
    assert set(r.json()["checks"]) == {"bus", "store", "threads"}


def test_thread_store_check_commits_for_real_and_fails_while_another_process_holds_the_file(tmp_path):
    path = tmp_path / "threads.sqlite3"
    threads = SqliteThreadStore(path, busy_timeout_s=0.1)
    try:
        threads.check_writable()
        threads.check_writable()  # the probe row is overwritten, not added
        reader = sqlite3.connect(path)
        assert reader.execute("SELECT count(*) FROM readiness_probe").fetchone() == (1,)
        reader.close()
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(ThreadStoreError, match="locked"):
                threads.check_writable()
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        threads.check_writable()
    finally:
        threads.close()
