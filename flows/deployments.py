"""Deployments defined in code, served by `threatline run`.

Prefect's *ephemeral* server cannot schedule runs ("Cannot schedule flows on an ephemeral
server"), so on the embedded default `threatline run` starts Prefect's own local server (SQLite
under the data dir, telemetry off) and serves the deployments against it; with
``prefect.api_url`` set it uses that server instead (docker-compose). Prefect reads its settings
from the environment, so ``PREFECT_HOME`` is set before Prefect is imported: tests and demos
never touch ``~/.prefect``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from pipeline.config import Settings
from pipeline.errors import ServiceError
from pipeline.private_files import private_dir

log = logging.getLogger(__name__)


def prefect_environment(settings: Settings) -> dict[str, str]:
    home = settings.data_dir / "prefect"
    private_dir(home)
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
        # Its own session: a Ctrl-C or a signal to our process group must not take the server
        # away while Prefect's runner still reports its runs' final states to it.
        start_new_session=True,
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


def health_deployments(settings: Settings) -> list:
    """The stages' health in the Prefect UI, every minute (the stages themselves are supervised
    processes, pipeline/supervisor.py)."""
    from flows.stages import stage_health

    config_path = str(settings.config_file) if settings.config_file else None
    return [stage_health.to_deployment(
        name="stage-health", interval=timedelta(seconds=60), concurrency_limit=_one_at_a_time(),
        parameters={"config_path": config_path}, tags=["threatline", "stage"])]


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


def _daily_or_monthly(flow, settings: Settings, name: str, cron: str, tag: str, **parameters) -> list:
    """One deployment of ``flow`` on a cron in the district's time zone, one run at a time."""
    from prefect.schedules import Cron

    config_path = str(settings.config_file) if settings.config_file else None
    return [flow.to_deployment(name=name, schedules=[Cron(cron, timezone=settings.general.timezone)],
                               concurrency_limit=_one_at_a_time(),
                               parameters={"config_path": config_path, **parameters}, tags=["threatline", tag])]


def purge_deployments(settings: Settings) -> list:
    """The daily retention purge (flagged items by class, tip threads)."""
    from flows.purge import purge_expired

    return _daily_or_monthly(purge_expired, settings, "purge-expired-daily", PURGE_CRON, "retention", dry_run=False)


def digest_deployments(settings: Settings) -> list:
    """The daily digest per school at ``alerts.digest_time`` in the district's time zone."""
    from flows.digest import daily_digest

    hour, minute = settings.alerts.digest_time.split(":")
    return _daily_or_monthly(daily_digest, settings, "daily-digest", f"{int(minute)} {int(hour)} * * *", "alerts")


def report_deployments(settings: Settings) -> list:
    """Last month's transparency report, on ``report.monthly_day`` at ``report.monthly_time``."""
    from flows.report import transparency_report

    r = settings.report
    hour, minute = r.monthly_time.split(":")
    return _daily_or_monthly(transparency_report, settings, "transparency-report-monthly",
                             f"{int(minute)} {int(hour)} {r.monthly_day} * *", "accountability")


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


def served_deployments(settings: Settings) -> list:
    """Everything Prefect schedules or starts on demand (the streaming stages are not flows)."""
    return [*alert_deployments(settings), *ingest_deployments(settings), *purge_deployments(settings),
            *digest_deployments(settings), *report_deployments(settings), *retrain_deployments(settings),
            *health_deployments(settings)]


def serve_all(settings: Settings, announce=print) -> None:
    """The streaming stages as supervised processes; the escalation sweep, ingestion, the daily
    purge and digest, retraining on demand and the stages' health as Prefect deployments; the
    tip line and the review server. Until SIGTERM/Ctrl-C, then everything stops in order."""
    from pipeline.bootstrap import STAGE_NAMES, runtime
    from pipeline.supervisor import StageSupervisor

    with runtime(settings) as rt:
        rt.setup()  # before anything accepts a tip: a tip accepted is a tip that can be paged
    with prefect_api(settings) as api_url, StageSupervisor(settings, STAGE_NAMES) as stages, \
            tipline_in_background(settings) as tipline_url, review_in_background(settings) as review_url:
        deployments = served_deployments(settings)
        announce(f"tip line:       {tipline_url}/")
        announce(f"review console: {review_url}/")
        announce(f"Prefect API:    {api_url} (PREFECT_API_URL for `prefect deployment run ...`)")
        announce(f"stages:         {', '.join(stages.children)} (one process each, restarted if they die)")
        announce(f"deployments:    {', '.join(d.name for d in deployments)}")
        for warning in startup_warnings(settings, deployments):
            announce(f"warning: {warning}")
        asyncio.run(_serve_until_stopped(deployments))
        # The event loop is gone, and with it the handlers that stop it: a second SIGTERM or
        # Ctrl-C must not cut the orderly stop below short.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        announce("stopping: review server, tip line, stages, Prefect (its runner has stopped)")


def startup_warnings(settings: Settings, deployments: list) -> list[str]:
    """What an operator on day one must hear: nothing will come in, or no page will reach anyone."""
    from pipeline.alerts.roster import placeholder_people
    from pipeline.bootstrap import build_roster

    warnings = []
    if not any(d.name.startswith("ingest-") for d in deployments):
        warnings.append(f"no source is enabled in {settings.config_path(settings.ingest.sources_file)}: "
                        "only tips come in (docs/sources.md)")
    placeholders = placeholder_people(build_roster(settings))
    if placeholders:
        warnings.append(f"the roster ({settings.config_path(settings.alerts.roster_file)}) still holds the example's "
                        f"placeholder channels for {len(placeholders)} people ({', '.join(placeholders[:4])}"
                        f"{', …' if len(placeholders) > 4 else ''}): their pages will not reach them (docs/alerts.md)")
    return warnings


async def _serve_until_stopped(deployments: list) -> None:
    """Prefect's runner until SIGTERM/SIGINT. Its own SIGTERM handler calls the synchronous
    ``stop()`` inside the event loop (the coroutine is never awaited) and exits mid-flight with
    tracebacks, leaving runs "Running"; here a signal sets an event and the runner is stopped
    the asynchronous way, which cancels its runs through the API."""
    from prefect.runner import Runner

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    class _Runner(Runner):
        def handle_sigterm(self, *args) -> None:
            loop.call_soon_threadsafe(stop.set)

    loop.add_signal_handler(signal.SIGINT, stop.set)
    runner = _Runner()
    await _release_orphaned_runs([await runner.add_deployment(d) for d in deployments])
    serving = asyncio.create_task(runner.start())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([serving, stopped], return_when=asyncio.FIRST_COMPLETED)
    if not serving.done():
        await runner.astop()
    await asyncio.wait_for(serving, timeout=60)


async def _release_orphaned_runs(deployment_ids: list) -> None:
    """Runs of our deployments still "Running" or "Pending" now were left by a `run` that was
    killed: only this process serves them (runs of other deployments on a shared Prefect server
    are left alone). Marked crashed, they give back their concurrency slot; otherwise every new
    run of that deployment would be cancelled (CANCEL_NEW) forever."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter, FlowRunFilterDeploymentId, FlowRunFilterState, FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.states import Crashed

    stale = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
        any_=[StateType.RUNNING, StateType.PENDING, StateType.CANCELLING])),
        deployment_id=FlowRunFilterDeploymentId(any_=deployment_ids))
    async with get_client() as client:
        for run in await client.read_flow_runs(flow_run_filter=stale, sort=FlowRunSort.ID_DESC, limit=200):
            await client.set_flow_run_state(run.id, Crashed(message="left by a `threatline run` that was stopped"),
                                            force=True)
            log.warning("flow run %s (%s) was left running by a previous `threatline run`; marked crashed",
                        run.name, run.id)


@contextmanager
def tipline_in_background(settings: Settings):
    """The tip line in a thread of this process: tips must be accepted whenever `run` is up
    (``serve_all`` has set up every topic before this listens)."""
    from pipeline.bootstrap import runtime
    from pipeline.tipline.app import create_app
    from pipeline.tipline.server import in_background

    with runtime(settings) as rt, in_background(create_app(rt), settings.tipline.host, settings.tipline.port) as url:
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
