"""Deployments defined in code, served by `threatline run`.

Prefect's *ephemeral* server cannot schedule runs ("Cannot schedule flows on an ephemeral
server"), so on the embedded default `threatline run` starts Prefect's own local server (SQLite
under the data dir, telemetry off) and serves the deployments against it; with
``prefect.api_url`` set it uses that server instead (docker-compose). Prefect reads its settings
from the environment, so ``PREFECT_HOME`` is set before Prefect is imported: tests and demos
never touch ``~/.prefect``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from pipeline.config import Settings
from pipeline.errors import ServiceError

log = logging.getLogger(__name__)


def prefect_environment(settings: Settings) -> dict[str, str]:
    home = settings.data_dir / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    env = {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
    for key, value in env.items():
        os.environ.setdefault(key, value)
    return env


@contextmanager
def prefect_api(settings: Settings):
    """Yield the API URL to serve against, starting a local server when none is configured."""
    prefect_environment(settings)
    if settings.prefect.api_url:
        os.environ["PREFECT_API_URL"] = settings.prefect.api_url
        yield settings.prefect.api_url
        return
    port = settings.prefect.local_port
    url = f"http://127.0.0.1:{port}/api"
    prefect = Path(sys.executable).with_name("prefect")
    log_file = (settings.data_dir / "prefect" / "server.log").open("ab")
    server = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--analytics-off", "--no-ui"],
        stdout=log_file, stderr=subprocess.STDOUT, env=os.environ.copy(),
    )
    try:
        _wait_healthy(url, server, settings.prefect.startup_timeout_s)
        os.environ["PREFECT_API_URL"] = url
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log_file.close()


def _wait_healthy(url: str, server: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ServiceError(f"Prefect server exited with code {server.returncode}; see its server.log")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise ServiceError(f"Prefect server at {url} not healthy after {timeout_s:.0f}s")


def _one_at_a_time():
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    # A new run starts on the interval only when none is alive (CANCEL_NEW): exactly one
    # consumer per group, one crawl per source, and a crashed run is replaced.
    return ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)


def stage_deployments(settings: Settings) -> list:
    from flows.stages import STAGE_FLOWS

    config_path = str(settings.config_file) if settings.config_file else None
    return [
        flow.to_deployment(
            name=f"{name}-consumer",
            interval=timedelta(seconds=settings.prefect.flow_interval_s),
            concurrency_limit=_one_at_a_time(),
            parameters={"config_path": config_path, "time_budget_s": settings.stages.time_budget_s,
                        "until_idle": False},
            tags=["threatline", "stage"],
        )
        for name, flow in STAGE_FLOWS.items()
    ]


def alert_deployments(settings: Settings) -> list:
    """The escalation sweep, on its own short interval: a P1 waits at most one interval too long."""
    from flows.alerts import escalate_alerts

    config_path = str(settings.config_file) if settings.config_file else None
    return [escalate_alerts.to_deployment(
        name="escalate-alerts", interval=timedelta(seconds=settings.alerts.sweep_interval_s),
        concurrency_limit=_one_at_a_time(), parameters={"config_path": config_path},
        tags=["threatline", "alerts"])]


def ingest_deployments(settings: Settings) -> list:
    """One deployment per enabled source, on that source's own interval."""
    from flows.ingest import ingest_public_posts
    from pipeline.ingest.runner import select
    from pipeline.ingest.sources import configured_sources

    config_path = str(settings.config_file) if settings.config_file else None
    sources = select(configured_sources(settings), None)
    return [
        ingest_public_posts.to_deployment(
            name=deployment_name(source.name),
            interval=timedelta(seconds=source.interval_s),
            concurrency_limit=_one_at_a_time(),
            parameters={"source": source.name, "config_path": config_path},
            tags=["threatline", "ingest", source.kind],
        )
        for source in sources
    ]


# 03:15 local time: after the school day's reviews, before the next one starts.
PURGE_CRON = "15 3 * * *"


def purge_deployments(settings: Settings) -> list:
    """The daily retention purge (flagged items by class, tip threads)."""
    from prefect.schedules import Cron

    from flows.purge import purge_expired

    config_path = str(settings.config_file) if settings.config_file else None
    return [
        purge_expired.to_deployment(
            name="purge-expired-daily",
            schedules=[Cron(PURGE_CRON, timezone=settings.general.timezone)],
            concurrency_limit=_one_at_a_time(),
            parameters={"config_path": config_path, "dry_run": False},
            tags=["threatline", "retention"],
        )
    ]


def digest_deployments(settings: Settings) -> list:
    """The daily digest per school at ``alerts.digest_time`` in the district's time zone."""
    from prefect.schedules import Cron

    from flows.digest import daily_digest

    hour, minute = settings.alerts.digest_time.split(":")
    config_path = str(settings.config_file) if settings.config_file else None
    return [
        daily_digest.to_deployment(
            name="daily-digest",
            schedules=[Cron(f"{int(minute)} {int(hour)} * * *", timezone=settings.general.timezone)],
            concurrency_limit=_one_at_a_time(),
            parameters={"config_path": config_path},
            tags=["threatline", "alerts"],
        )
    ]


def retrain_deployments(settings: Settings) -> list:
    """Retraining on demand, no schedule: an analyst starts it (`prefect deployment run
    retrain-classifier/retrain-on-demand`) when enough labels have come in."""
    from flows.retrain import retrain_classifier

    config_path = str(settings.config_file) if settings.config_file else None
    return [
        retrain_classifier.to_deployment(
            name="retrain-on-demand",
            concurrency_limit=_one_at_a_time(),
            parameters={"config_path": config_path, "from_store": True, "promote": "auto"},
            tags=["threatline", "models"],
        )
    ]


def deployment_name(source: str) -> str:
    # Prefect refuses "/" and a few other characters in names; source names may hold ":".
    return "ingest-" + "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in source)


def serve_all(settings: Settings) -> None:
    """Stages, the escalation sweep, ingestion, the daily purge and digest, retraining on demand,
    the tip line and the review server until SIGTERM/Ctrl-C; Prefect's runner then stops its runs."""
    with prefect_api(settings), tipline_in_background(settings), review_in_background(settings):
        from prefect import serve

        serve(*stage_deployments(settings), *alert_deployments(settings), *ingest_deployments(settings),
              *purge_deployments(settings), *digest_deployments(settings), *retrain_deployments(settings),
              print_starting_message=True)


@contextmanager
def tipline_in_background(settings: Settings):
    """The tip line in a thread of this process: tips must be accepted whenever `run` is up."""
    from pipeline.bootstrap import runtime
    from pipeline.tipline.app import create_app
    from pipeline.tipline.server import in_background

    with runtime(settings) as rt:
        rt.bus.setup([settings.topic("tips.raw")])
        with in_background(create_app(rt), settings.tipline.host, settings.tipline.port) as url:
            log.info("tip line on %s/", url)
            yield url


@contextmanager
def review_in_background(settings: Settings):
    """The review server in a thread of this process: acknowledge links must work whenever pages go out."""
    from pipeline.bootstrap import runtime
    from pipeline.review.app import create_review_app
    from pipeline.tipline.server import in_background

    with runtime(settings) as rt, in_background(create_review_app(rt), settings.review.host, settings.review.port,
                                                name="the review server") as url:
        log.info("review server on %s/", url)
        yield url
