"""`threatline run` on a brand-new data dir pages a P1 tip with no other command first, and
survives being stopped with SIGTERM and started again at once, ten times in a row, with tips
arriving: every accepted tip is paged, no traceback, no port left taken, and the Prefect
deployments keep running after the restarts (no flow run left holding a slot)."""

from __future__ import annotations

import calendar
import os
import subprocess
import sys
import time

import httpx
import pytest

from pipeline.bootstrap import runtime
from pipeline.config import DEFAULT_CONFIG, load_settings
from rosters import webhook_roster
from run_process import stop_run
from smtp_server import free_port
from webhook_server import webhook_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]
RESTARTS = 10
SCHOOLS = ["Lincoln High School", "Riverton Central High School"]


def tip_text(n: int) -> str:
    return f"my neighbor's son said he will shoot up the gym with his dad's rifle on day {n} of the tournament"


def start(env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline", "--config", str(DEFAULT_CONFIG), "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def submit(url: str, proc, n: int) -> str:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            response = httpx.post(f"{url}/api/tips", json={"message": tip_text(n), "school": SCHOOLS[n % 2]}, timeout=10)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        assert response.status_code == 201, response.text
        return response.json()["tip_id"]
    raise AssertionError(f"the tip line did not listen (exit code {proc.poll()})")


def stop(proc) -> str:
    output, in_time = stop_run(proc, 120)
    assert in_time, "`threatline run` did not stop within 120 s of SIGTERM:\n" + output[-3000:]
    assert proc.returncode == 0, output[-3000:]
    for noise in ("Traceback", "never awaited", "address already in use", "cannot listen"):
        assert noise not in output, output[-3000:]
    return output


def sent(rt, tip_id: str) -> bool:
    return any(a.doc["status"] in ("sent", "merged", "acknowledged") for a in rt.store.search_alerts(item_id=tip_id))


def completed_sweeps_since(api: str, since: float) -> int:
    body = {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}, "sort": "ID_DESC", "limit": 50}
    runs = httpx.post(f"{api}/flow_runs/filter", json=body, timeout=10).json()
    return sum(1 for r in runs if r["name"] and r.get("end_time")
               and calendar.timegm(time.strptime(r["end_time"][:19], "%Y-%m-%dT%H:%M:%S")) >= since)


def test_fresh_data_dir_pages_a_p1_tip_and_ten_restarts_lose_nothing(settings, tmp_path, monkeypatch):
    data_dir = tmp_path / "brand-new"
    tip_port, prefect_port = free_port(), free_port()
    with webhook_server() as (address, recorder):
        env = {**os.environ,
               "THREATLINE_GENERAL__DATA_DIR": str(data_dir),
               "THREATLINE_ALERTS__ROSTER_FILE": str(webhook_roster(tmp_path / "roster.yaml", address)),
               "THREATLINE_ALERTS__SWEEP_INTERVAL_S": "5",
               "THREATLINE_INGEST__SOURCES_FILE": str(tmp_path / "no-sources.yaml"),
               "THREATLINE_TIPLINE__PORT": str(tip_port),
               "THREATLINE_REVIEW__PORT": str(free_port()),
               "THREATLINE_PREFECT__LOCAL_PORT": str(prefect_port),
               "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "3",
               "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
        (tmp_path / "no-sources.yaml").write_text("sources: []\n")
        url = f"http://127.0.0.1:{tip_port}"
        monkeypatch.setenv("THREATLINE_GENERAL__DATA_DIR", str(data_dir))
        settings = load_settings(DEFAULT_CONFIG)

        # A brand-new data dir, `threatline run` and nothing else.
        proc = start(env)
        first = submit(url, proc, 0)
        accepted_at = time.monotonic()
        with runtime(settings) as rt:
            while not sent(rt, first) and time.monotonic() - accepted_at < 60:
                time.sleep(0.2)
            paged_after = time.monotonic() - accepted_at
            assert sent(rt, first), f"the first P1 tip was not paged within 60 s:\n{proc.poll()}"
        tips = [first]

        for n in range(1, RESTARTS + 1):
            tips.append(submit(url, proc, n))  # arrives just before the stop: in flight at SIGTERM
            stop(proc)
            proc = start(env)
        restarted_at = time.time()
        try:
            with runtime(settings) as rt:
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline and not all(sent(rt, t) for t in tips):
                    time.sleep(0.5)
                missing = [t for t in tips if not sent(rt, t)]
                assert not missing, f"{len(missing)} of {len(tips)} accepted tips were never paged"
                assert all(len(recorder.posts_for(a.id)) >= 1 for t in tips for a in rt.store.search_alerts(item_id=t)
                           if a.doc["status"] == "sent")
            # Prefect still runs its deployments after ten restarts: the sweep completes again.
            api = f"http://127.0.0.1:{prefect_port}/api"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not completed_sweeps_since(api, restarted_at):
                time.sleep(1)
            assert completed_sweeps_since(api, restarted_at), "no flow run completed after the restarts"
        finally:
            stop(proc)
        print(f"first P1 tip paged {paged_after:.1f} s after it was accepted; {len(tips)} tips across "
              f"{RESTARTS} restarts all paged")
    assert oct(data_dir.stat().st_mode & 0o777) == "0o700"
