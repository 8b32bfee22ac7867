"""`python -m pipeline.healthcheck`, the image's HEALTHCHECK, against a real tip line and review
server: unhealthy (exit 1, the failing check on stderr) until the stages heartbeat, then healthy."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import urlsplit

from heartbeats import all_running

from pipeline import healthcheck
from pipeline.config import DEFAULT_CONFIG
from pipeline.review import create_review_app
from pipeline.tipline.server import in_background


def test_exit_code_follows_both_servers_readiness(tipline, monkeypatch, capsys):
    monkeypatch.setenv("THREATLINE_CONFIG", str(DEFAULT_CONFIG))
    monkeypatch.delenv("PREFECT_RUNNER_SERVER_ENABLE", raising=False)
    with in_background(create_review_app(tipline.rt), name="the review server") as review_url:
        monkeypatch.setenv("THREATLINE_TIPLINE__PORT", str(urlsplit(tipline.url).port))
        monkeypatch.setenv("THREATLINE_REVIEW__PORT", str(urlsplit(review_url).port))
        assert set(healthcheck.targets([])) == {"tipline", "review"}

        assert healthcheck.main([]) == 1
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 2 and all(" 503 stages: " in line for line in lines)
        assert lines[0].startswith(f"tipline {tipline.url}/readyz: 503 stages: classify-tips: no heartbeat")

        all_running(tipline.rt.settings.data_dir)
        assert healthcheck.main([]) == 0 and capsys.readouterr().err == ""
        assert healthcheck.main(["review"]) == 0
    # The review server is gone: asking only it fails, asking only the tip line does not.
    assert healthcheck.main(["review"]) == 1 and "review" in capsys.readouterr().err
    assert healthcheck.main(["tipline"]) == 0


def test_the_runner_is_asked_when_prefect_serves_it(monkeypatch):
    monkeypatch.setenv("THREATLINE_CONFIG", str(DEFAULT_CONFIG))
    monkeypatch.setenv("PREFECT_RUNNER_SERVER_ENABLE", "true")
    monkeypatch.setenv("PREFECT_RUNNER_SERVER_PORT", "8090")
    assert healthcheck.targets(["runner"]) == {"runner": "http://127.0.0.1:8090/health"}


def test_runs_as_a_module_and_refuses_unknown_parts():
    done = subprocess.run([sys.executable, "-m", "pipeline.healthcheck", "tiplin"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 2 and "unknown: tiplin" in done.stderr
