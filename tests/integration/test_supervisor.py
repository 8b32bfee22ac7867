"""The stage supervisor `threatline run` uses: one long-lived process per stage, a stage that dies
is restarted, stop ends them all, and a supervisor killed with -9 leaves no stage behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from pipeline.bootstrap import runtime
from pipeline.bus import OutMessage
from pipeline.schema import Tip
from pipeline.stage_health import read_all
from pipeline.supervisor import StageSupervisor
from waiting import wait_for

pytestmark = pytest.mark.slow


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers signal 0; its state says it is gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def test_a_stage_killed_with_9_is_restarted_and_keeps_consuming(settings):
    with runtime(settings) as rt:
        rt.setup()
        with StageSupervisor(settings, ("classify-tips",), check_every_s=0.1) as supervisor:
            first = supervisor.pids()["classify-tips"]
            assert wait_for(lambda: any(h.stage == "classify-tips" and h.pid == first for h in read_all(settings.data_dir)))
            os.kill(first, signal.SIGKILL)
            assert wait_for(lambda: supervisor.pids()["classify-tips"] not in (None, first), 30)
            assert supervisor.children["classify-tips"].exits == [-signal.SIGKILL]

            tip = Tip(message="he said he will bring a knife to Lincoln High on Friday", school="Lincoln High School")
            rt.bus.publish([OutMessage(settings.topic("tips.raw"), tip.id, tip.to_bytes())])
            assert wait_for(lambda: rt.lag("classify-tips") == 0, 120), "the restarted stage did not consume"
            second = supervisor.pids()["classify-tips"]
        assert not alive(second)  # stop ended it
    assert [h.state for h in read_all(settings.data_dir)] == ["stopped"]


SUPERVISE = """
import sys, time
from pipeline.config import DEFAULT_CONFIG, load_settings
from pipeline.supervisor import StageSupervisor
with StageSupervisor(load_settings(DEFAULT_CONFIG), ("index",)) as s:
    print(s.pids()["index"], flush=True)
    time.sleep(600)
"""


def test_stages_stop_when_their_supervisor_is_killed_with_9(settings):
    parent = subprocess.Popen([sys.executable, "-c", SUPERVISE], stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        stage_pid = int(parent.stdout.readline())
        assert wait_for(lambda: any(h.state == "running" for h in read_all(settings.data_dir)), 60)
        parent.kill()
        parent.wait()
        assert wait_for(lambda: not alive(stage_pid), 30), "the stage outlived its supervisor"
    finally:
        parent.kill()
