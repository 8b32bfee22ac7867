"""Escalation sweep flow (DESIGN.md §3): the ``escalate-alerts`` deployment runs it every
``alerts.sweep_interval_s``. Each run moves unacknowledged pages whose time is up to the next
person in the chain and retries pages nobody could receive; see pipeline.alerts.pager."""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, get_run_logger

from pipeline.bootstrap import runtime
from pipeline.config import load_settings


@flow(name="escalate-alerts", log_prints=False)
def escalate_alerts(config_path: str | None = None) -> dict:
    """One escalation sweep; returns the alert ids it escalated, retried or found exhausted."""
    with runtime(load_settings(config_path)) as rt:
        report = rt.pager.sweep()
    get_run_logger().info("escalation sweep: %d open alert(s), escalated %d, retried %d, chain exhausted %d",
                          report.checked, len(report.escalated), len(report.retried), len(report.exhausted))
    return asdict(report)
