"""pipeline.readiness: the /readyz answer, a hung check, stage heartbeats and their replicas."""

from __future__ import annotations

import threading
import time

from heartbeats import all_running, silent_since

from pipeline.bootstrap import STAGE_NAMES
from pipeline.readiness import Readiness, stage_states
from pipeline.stage_health import HealthFile


def test_a_hung_check_is_reported_in_time_and_not_started_again_while_it_hangs():
    release, calls = threading.Event(), []

    def hangs():
        calls.append(1)
        release.wait(10)

    readiness = Readiness({"bus": hangs, "store": lambda: None}, timeout_s=0.2)
    try:
        started = time.monotonic()
        status, body = readiness.report()
        assert time.monotonic() - started < 1.0
        assert status == 503 and body["status"] == "not_ready"
        assert body["checks"]["store"]["ok"] is True
        assert body["checks"]["bus"]["ok"] is False and body["checks"]["bus"]["detail"].startswith("no answer after")
        readiness.report()
        assert len(calls) == 1  # the second probe waited on the first run
    finally:
        release.set()
    time.sleep(0.05)
    assert readiness.report()[0] == 200 and len(calls) == 2


def test_a_failing_check_says_why_in_one_short_line():
    def boom():
        raise RuntimeError("line one\nline two " + "x" * 500)

    _, body = Readiness({"store": boom}).report()
    detail = body["checks"]["store"]["detail"]
    assert detail.startswith("RuntimeError: line one line two") and len(detail) <= 300 and "\n" not in detail


def test_stage_states_cover_missing_stopped_silent_and_numbered_copies(tmp_path):
    all_running(tmp_path)
    assert [s.problem for s in stage_states(tmp_path, STAGE_NAMES, 120)] == [None] * len(STAGE_NAMES)
    HealthFile(tmp_path, "classify-2").update("running")     # a second classify process
    HealthFile(tmp_path, "index").update("stopped")
    silent_since(tmp_path, "alert", 500)
    (tmp_path / "stages" / "classify-tips.json").unlink()
    states = {s.stage: s for s in stage_states(tmp_path, STAGE_NAMES, 120)}
    assert states["classify"].state == "running ×2" and states["classify"].problem is None
    assert states["classify-tips"].state == "never started"  # "classify-2" is not a classify-tips
    assert states["index"].problem == "index: stopped"
    assert "stage alert (pid 4242) has not reported for 500s" in states["alert"].problem
