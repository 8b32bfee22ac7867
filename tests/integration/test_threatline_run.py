"""`threatline run`: a local Prefect server, the stage deployments served and scheduled, items
flowing end to end, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.bootstrap import runtime
from pipeline.bus import OutMessage
from pipeline.config import DEFAULT_CONFIG
from pipeline.demo import load_samples
from pipeline.store import ItemQuery

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
THREATLINE = str(Path(sys.executable).with_name("threatline"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_serves_stage_flows_until_sigterm(settings, monkeypatch, tmp_path):
    env = {**os.environ,
           "THREATLINE_PREFECT__LOCAL_PORT": str(free_port()),
           "THREATLINE_PREFECT__FLOW_INTERVAL_S": "5",
           "THREATLINE_STAGES__TIME_BUDGET_S": "30",
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "3",
           "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    posts, tips = load_samples()
    with runtime(settings) as rt:
        rt.setup()
        proc = subprocess.Popen([THREATLINE, "--config", str(DEFAULT_CONFIG), "run"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            # Published while the service is already running: the consumers must pick them up.
            rt.bus.publish([OutMessage(settings.topic("posts.raw"), p.id, p.to_bytes()) for p in posts])
            rt.bus.publish([OutMessage(settings.topic("tips.raw"), t.id, t.to_bytes()) for t in tips])
            flagged_topic = [settings.topic("items.flagged")]
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and proc.poll() is None:
                drained = (rt.bus.lag("threatline-classify", [settings.topic("posts.raw"), settings.topic("tips.raw")]) == 0
                           and rt.bus.lag("threatline-index", flagged_topic) == 0
                           and rt.bus.lag("threatline-alert", flagged_topic) == 0)
                if drained and rt.store.search_items(ItemQuery(size=1)).total > 0:
                    break
                time.sleep(1)
            assert proc.poll() is None, proc.stdout.read()
            total = rt.store.search_items(ItemQuery(size=1)).total
            assert total > 0 and rt.store.search_alerts(), "stages did not run through Prefect in time"
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                output, _ = proc.communicate(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                output, _ = proc.communicate()
        assert proc.returncode == 0, output
        assert "classify-stage/classify-consumer" in output
        assert (settings.data_dir / "prefect").is_dir()  # PREFECT_HOME stayed inside the data dir
