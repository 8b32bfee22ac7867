"""Daily digest flow: run once a day at ``alerts.digest_time`` by the ``daily-digest`` deployment.

One email per school with its P3 items of the last 24 hours and its open items; see
``pipeline.alerts.digest_send`` and docs/alerts-ack-digest.md. A store failure fails the run; so
does a digest nobody could receive, after the others went out and were audited, so that Prefect
shows someone missed theirs.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from pipeline.alerts.digest_send import send_daily_digest
from pipeline.config import load_settings
from pipeline.errors import ServiceError


@flow(name="daily-digest", log_prints=False)
def daily_digest(config_path: str | None = None) -> dict:
    """Mail today's digest to each school's staff; return who got what."""
    report = send_daily_digest(load_settings(config_path))
    logger = get_run_logger()
    for school in report.schools:
        logger.info("digest %s: %d item(s), sent to %d, failed for %d (%s)", school.school or "no school matched",
                    school.items, len(school.sent), len(school.failed), ", ".join(school.failed) or "nobody")
    if not report.schools:
        logger.info("digest: nothing to report, nothing sent")
    if report.failed:
        raise ServiceError(f"digest: {report.failed} delivery(ies) failed; the others were sent")
    return report.as_dict()
