"""Stage health files: what counts as stuck or silent, and that a half-written file is no alarm."""

from __future__ import annotations

import json
import os

from pipeline.stage_health import HEARTBEAT_S, HealthFile, StageHealth, problems, read_all


def test_a_stage_retrying_past_the_alarm_is_a_problem_and_a_short_retry_is_not():
    health = StageHealth(stage="alert", pid=7, state="retrying", heartbeat=1000.0, retrying_since=900.0,
                         reason="StoreUnavailable: database is locked")
    assert health.problem(now=1000.0, alarm_after_s=120) is None
    line = health.problem(now=1021.0, alarm_after_s=120)
    assert line == ("stage alert has been retrying for 121s (nothing lost, nothing committed): "
                    "StoreUnavailable: database is locked")


def test_a_silent_stage_is_a_problem_and_a_stopped_one_is_not():
    silent = StageHealth(stage="index", pid=7, state="running", heartbeat=1000.0)
    assert silent.problem(now=1000.0 + 2 * HEARTBEAT_S + 60, alarm_after_s=60) is None
    assert "has not reported for" in silent.problem(now=1000.0 + 2 * HEARTBEAT_S + 61, alarm_after_s=60)
    stopped = StageHealth(stage="index", pid=7, state="stopped", heartbeat=0.0)
    assert stopped.problem(now=10_000.0, alarm_after_s=60) is None


def test_health_files_are_written_private_and_read_back(tmp_path):
    file = HealthFile(tmp_path, "classify")
    file.update("retrying", reason="BusError: broker went away", consumed=3)
    [health] = read_all(tmp_path)
    assert (health.stage, health.state, health.consumed, health.pid) == ("classify", "retrying", 3, os.getpid())
    assert health.retrying_since is not None
    assert oct(file.path.stat().st_mode & 0o777) == "0o600"
    assert oct(file.path.parent.stat().st_mode & 0o777) == "0o700"
    file.update("running")
    assert read_all(tmp_path)[0].retrying_since is None


def test_an_unreadable_health_file_is_skipped_not_an_alarm(tmp_path):
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "index.json").write_text("{half a file")
    (tmp_path / "stages" / "alert.json").write_text(json.dumps({"stage": "alert", "unknown": 1}))
    assert read_all(tmp_path) == [] and problems(tmp_path, 60) == []
