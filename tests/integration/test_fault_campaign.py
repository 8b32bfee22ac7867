"""Fault campaign (issue 18): each of classify, index and alert is killed with -9 over and over
mid-stream over 5,000 posts, on both bus adapters, and restarted at once, as `threatline run`'s
supervisor would. Nothing may be lost, no index document duplicated, and at most one page per
alert-stage kill repeated (the delivery in flight at the instant of the kill; it carries its
alert id, so a receiver can drop it).

Size: FAULT_CAMPAIGN_KILLS kills per stage. `make test` runs 5 on the embedded bus and 3 on
Kafka (every classify restart loads the model, every Kafka restart waits for a group join and a
session timeout); `FAULT_CAMPAIGN_KILLS=20` runs the full campaign on both (figures in
docs/operations.md). Each phase gives the killed stage a backlog of its own, so every kill
lands with work left, and the kill comes at a random moment after the stage has committed at
least one batch since it (re)started.
"""

from __future__ import annotations

import collections
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid

import pytest

from pipeline.bootstrap import runtime
from pipeline.bus import OutMessage
from pipeline.config import DEFAULT_CONFIG, load_settings
from pipeline.schema import RawPost
from pipeline.store import ItemQuery
from rosters import webhook_roster
from waiting import wait_for
from webhook_server import webhook_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
N_POSTS = 5000
BATCH = 10


def post(i: int) -> RawPost:
    kind = i % 5
    text = (f"gonna shoot up the school at {i % 12 + 1} pm, room {i}" if kind in (0, 1, 2)
            else f"selling a gun, lot {i}, cash only" if kind == 3
            else f"practice moved to {i % 12 + 1} pm, bring water ({i})")
    return RawPost(source="forum", native_id=str(i), text=text)


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def campaign(request, settings, monkeypatch, tmp_path):
    kills = int(os.environ.get("FAULT_CAMPAIGN_KILLS", "5" if request.param == "embedded" else "3"))
    if request.param == "kafka":
        for key, value in {"BACKEND": "kafka", "TOPIC_PREFIX": f"fault{uuid.uuid4().hex[:8]}.",
                           "KAFKA_BOOTSTRAP_SERVERS": request.getfixturevalue("kafka_bootstrap"),
                           "KAFKA_MAX_POLL_INTERVAL_MS": "5000", "KAFKA_SESSION_TIMEOUT_MS": "3000"}.items():
            monkeypatch.setenv(f"THREATLINE_BUS__{key}", value)
    with webhook_server() as (address, recorder):
        monkeypatch.setenv("THREATLINE_STAGES__BATCH_SIZE", str(BATCH))
        monkeypatch.setenv("THREATLINE_ALERTS__ROSTER_FILE", str(webhook_roster(tmp_path / "roster.yaml", address)))
        yield load_settings(DEFAULT_CONFIG), recorder, kills


def start(name: str) -> subprocess.Popen:
    # Logs to a file: a pipe nobody reads fills up and blocks the stage on its next log line.
    log = open(f"{os.environ['THREATLINE_GENERAL__DATA_DIR']}/../{name}.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "--config", str(DEFAULT_CONFIG), "stage", name,
                             "--forever"], env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=log)
    log.close()  # the child has its own copy
    proc.log_path = log.name
    return proc


def while_alive(proc: subprocess.Popen, predicate, timeout: float) -> bool:
    """``wait_for(predicate)``, failing at once with the stage's log if the stage dies meanwhile."""
    def done() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"stage exited with {proc.returncode}: {open(proc.log_path).read()[-2000:]}")
        return predicate()

    return wait_for(done, timeout)


def kill_repeatedly(rt, name: str, kills: int, rng: random.Random, running: list, done) -> None:
    """Kill stage ``name`` with -9 ``kills`` times, each soon after ``done()`` (a cheap count of
    its work) has grown by a batch since it (re)started, and check that it had work left; the
    process left running is the last of ``running``."""
    proc = start(name)
    running.append(proc)
    for n in range(kills):
        before = done()
        assert while_alive(proc, lambda: done() >= before + BATCH, 120), f"{name} made no progress"
        time.sleep(rng.uniform(0, 0.02))  # sometimes mid-batch, sometimes between batches
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # Measured after the kill, when nothing moves: the stage died with work left.
        assert rt.lag(name) > 0, f"{name}: kill {n + 1} came after the stream had run dry"
        proc = running[-1] = start(name)


def test_kill_9_each_stage_over_and_over_mid_stream(campaign):
    settings, recorder, kills = campaign
    rng = random.Random(18)
    posts = [post(i) for i in range(N_POSTS)]
    running: list[subprocess.Popen] = []
    started = time.monotonic()
    with runtime(settings) as rt:
        rt.setup()
        rt.bus.publish([OutMessage(settings.topic("posts.raw"), p.id, p.to_bytes()) for p in posts])
        try:
            # One phase per stage; the stage downstream starts only afterwards, with a backlog.
            # Progress from the store and the webhook receiver: asking Kafka for a lag takes
            # longer than the index stage needs for a dozen batches.
            progress = {"classify": lambda: N_POSTS - rt.lag("classify"),
                        "index": lambda: rt.store.search_items(ItemQuery(size=1)).total,
                        "alert": lambda: len(recorder.bodies)}
            for name in ("classify", "index", "alert"):
                kill_repeatedly(rt, name, kills, rng, running, progress[name])
                assert while_alive(running[-1], lambda: rt.lag(name) == 0, 600), f"{name} did not catch up"
        finally:
            for proc in running:
                proc.send_signal(signal.SIGTERM)
            for proc in running:
                proc.wait(timeout=60)
        elapsed = time.monotonic() - started

        def keys(topic: str) -> set[str]:
            return {m.key for m in rt.bus.scan(settings.topic(topic))}

        assert keys("items.scored") == {p.id for p in posts}, "posts never scored"
        flagged = keys("items.flagged")
        threats = {p.id for p in posts if "shoot up" in p.text}
        assert threats <= flagged
        page = rt.store.search_items(ItemQuery(size=1))
        assert page.total == len(flagged)  # every flagged item indexed, once: create-only ids
        alerting = rt.store.search_items(ItemQuery(severity=["P1", "P2"], size=1)).total
        alerts = rt.store.search_alerts(size=5000)
        assert alerting >= len(threats) and len(alerts) == alerting  # every page raised, once per item
        assert {a.doc["status"] for a in alerts} == {"sent"}
        paging = len(alerts)

    delivered = collections.Counter(re.search(r"Alert: (\w+)", b["message"]).group(1) for b in recorder.bodies)
    assert set(delivered) == {a.id for a in alerts}
    repeats = sum(n - 1 for n in delivered.values())
    assert repeats <= kills, f"{repeats} repeated pages after {kills} kills of the alert stage"
    print(f"\n{settings.bus.backend}: {3 * kills} kills (-9) over {N_POSTS} posts in {elapsed:.0f}s: "
          f"0 lost, 0 duplicate index documents, {repeats} repeated page(s) for {paging} alerts")
