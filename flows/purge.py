"""Retention purge flow (DESIGN.md §3, §7): run daily by the ``purge-expired-daily`` deployment.

Deletes decided flagged items past their class's retention (one audit record each), embedded bus
messages past ``bus.raw_retention_days`` and tip threads past ``tipline.retention_days``; see
``pipeline.retention`` and docs/retention.md. A failure in one step fails the run, so Prefect shows
it, after the other steps ran; the next day's run picks up where it stopped.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from pipeline.config import load_settings
from pipeline.retention import purge_all


@flow(name="purge-expired", log_prints=False)
def purge_expired(config_path: str | None = None, dry_run: bool = False) -> dict:
    """Purge expired flagged items, bus messages and tip threads; return the counts."""
    report = purge_all(load_settings(config_path), dry_run=dry_run)
    items, bus = report.items, report.bus
    get_run_logger().info(
        "retention%s: checked %d decided item(s), %s %d dismissed and %d actioned (%d alert excerpt(s)),"
        " %d with an unreadable review time kept; bus messages: %s; tip threads deleted: %s",
        " (dry run)" if dry_run else "", items.checked, "would purge" if dry_run else "purged",
        items.purged["dismissed"], items.purged["actioned"], items.alerts_redacted, len(items.unreadable),
        f"{bus.total} ({bus.unconsumed} unconsumed)" if bus.backend == "embedded" else "left to the broker",
        "not checked" if report.threads is None else report.threads)
    return report.as_dict()
