"""`threatline run`: a local Prefect server, the stage and ingest deployments served and scheduled,
the tip line listening, items flowing end to end, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from ingest.fixture_server import FixtureServer
from run_process import stop_run

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


JSON = {"Content-Type": "application/json"}
CRAWLED = "bringing my brothers rifle to Lincoln High tomorrow at 8, the ones who laughed are first"
TIPPED = "Jordan said he will bring a knife to the Riverton Central cafeteria at lunch on Friday"


# One new post, so the ingest deployment has something to crawl into posts.raw.
LISTING = json.dumps({"data": {"after": None, "children": [{"kind": "t3", "data": {
    "name": "t3_run0001", "created_utc": 1795000000, "author": "lynx_rider", "title": CRAWLED,
    "permalink": "/r/rivertonrun/comments/run0001/x/"}}]}})


def test_run_serves_flows_and_the_tip_line_until_sigterm(settings, tmp_path):
    with FixtureServer() as server:
        server.routes["/r/rivertonrun/new.json"] = lambda q, h, hit: (200, JSON, LISTING)
        sources = tmp_path / "sources.yaml"
        sources.write_text(yaml.safe_dump({"sources": [
            {"name": "reddit:rivertonrun", "kind": "reddit", "base_url": server.url, "subreddit": "rivertonrun",
             "interval_s": 30, "delay_s": 0}]}), encoding="utf-8")
        tip_port = free_port()
        # the data dir on the command line, not in the environment: the stage processes must get it too
        env = {**{k: v for k, v in os.environ.items() if k != "THREATLINE_GENERAL__DATA_DIR"},
               "THREATLINE_INGEST__SOURCES_FILE": str(sources),
               "THREATLINE_TIPLINE__PORT": str(tip_port),
               "THREATLINE_PREFECT__LOCAL_PORT": str(free_port()),
               "THREATLINE_PREFECT__FLOW_INTERVAL_S": "5",
               "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "3",
               "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
        posts, tips = load_samples()
        with runtime(settings) as rt:
            rt.setup()
            proc = subprocess.Popen([THREATLINE, "--config", str(DEFAULT_CONFIG), "run", "--data-dir", str(settings.data_dir)], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                # Published while the service is already running: the consumers must pick them up.
                rt.bus.publish([OutMessage(settings.topic("posts.raw"), p.id, p.to_bytes()) for p in posts])
                rt.bus.publish([OutMessage(settings.topic("tips.raw"), t.id, t.to_bytes()) for t in tips])
                receipt = submit_tip(f"http://127.0.0.1:{tip_port}", proc)
                flagged_topic = [settings.topic("items.flagged")]
                deadline = time.monotonic() + 240
                while time.monotonic() < deadline and proc.poll() is None:
                    drained = (rt.bus.lag("threatline-classify", [settings.topic("posts.raw")]) == 0
                               and rt.bus.lag("threatline-classify-tips", [settings.topic("tips.raw")]) == 0
                               and rt.bus.lag("threatline-index", flagged_topic) == 0
                               and rt.bus.lag("threatline-alert", flagged_topic) == 0)
                    if drained and crawled_and_tipped(rt, receipt["tip_id"]):
                        break
                    time.sleep(1)
                assert proc.poll() is None, proc.stdout.read()
                assert rt.store.search_alerts(), "stages did not run through Prefect in time"
                assert crawled_and_tipped(rt, receipt["tip_id"]), "the crawled post or the tip was not flagged"
            finally:
                output, _ = stop_run(proc, 90)  # overstaying shows as a non-zero exit below
        assert proc.returncode == 0, output
        assert f"tip line:       http://127.0.0.1:{tip_port}/" in output
        assert "stages:         classify-tips, classify, index, alert" in output
        assert "ingest-reddit-rivertonrun" in output and "escalate-alerts" in output
        assert "Traceback" not in output and "never awaited" not in output, output
        # the shipped roster's example channels reach nobody, and day one must say so
        assert "warning: the roster" in output and "placeholder channels" in output
        assert server.paths("/r/rivertonrun/"), "the ingest deployment never crawled"
        assert (settings.data_dir / "prefect").is_dir()  # PREFECT_HOME stayed inside the data dir


def submit_tip(url: str, proc) -> dict:
    """POST a tip to the tip line `run` serves, waiting for it to listen."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            response = httpx.post(f"{url}/api/tips", json={"message": TIPPED}, timeout=10)
        except httpx.TransportError:
            time.sleep(0.5)
            continue
        assert response.status_code == 201, response.text
        return response.json()
    raise AssertionError("the tip line did not listen while `threatline run` was up")


def crawled_and_tipped(rt, tip_id: str) -> bool:
    docs = [hit.doc for hit in rt.store.search_items(ItemQuery(size=200)).hits]
    return any(doc["event"]["id"] == tip_id for doc in docs) and any(CRAWLED in doc["message"] for doc in docs)
