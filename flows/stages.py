"""Stage flows: bounded consumers (DESIGN.md §3).

Each run drains its consumer group until idle or the time budget, then ends; the deployments in
``flows/deployments.py`` start the next run on an interval with a concurrency limit of 1, so one
consumer per group is alive at a time. No task run per message: Prefect costs ~1 s per run here.
"""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, get_run_logger

from pipeline.bootstrap import runtime
from pipeline.config import load_settings


def run_stage(name: str, config_path: str | None, time_budget_s: float | None, until_idle: bool) -> dict:
    settings = load_settings(config_path)
    with runtime(settings) as rt, rt.stop_on_signals():
        report = rt.runner(name, until_idle=until_idle, time_budget_s=time_budget_s).run()
    result = asdict(report)
    get_run_logger().info("stage %s: consumed %d, dead-lettered %d, written %d (%s)", name,
                          report.consumed, report.dead_lettered, report.written, report.stopped_by)
    return result


@flow(name="classify-stage", log_prints=False)
def classify_stage(config_path: str | None = None, time_budget_s: float | None = None, until_idle: bool = True) -> dict:
    """Score new posts; publish every verdict to items.scored, flags to items.flagged."""
    return run_stage("classify", config_path, time_budget_s, until_idle)


@flow(name="classify-tips-stage", log_prints=False)
def classify_tips_stage(config_path: str | None = None, time_budget_s: float | None = None, until_idle: bool = True) -> dict:
    """Score new tips and follow-ups with a consumer of their own: never behind a post backlog."""
    return run_stage("classify-tips", config_path, time_budget_s, until_idle)


@flow(name="index-stage", log_prints=False)
def index_stage(config_path: str | None = None, time_budget_s: float | None = None, until_idle: bool = True) -> dict:
    """Write flagged items to the store for review (create-only: replays never reset a review)."""
    return run_stage("index", config_path, time_budget_s, until_idle)


@flow(name="alert-stage", log_prints=False)
def alert_stage(config_path: str | None = None, time_budget_s: float | None = None, until_idle: bool = True) -> dict:
    """Alert the on-duty role for P1/P2 items, once per item and role."""
    return run_stage("alert", config_path, time_budget_s, until_idle)


STAGE_FLOWS = {"classify-tips": classify_tips_stage, "classify": classify_stage, "index": index_stage,
               "alert": alert_stage}
