"""Monthly transparency report flow: run by the ``transparency-report-monthly`` deployment on
``report.monthly_day`` at ``report.monthly_time`` (district time).

Writes last month's report as JSON, Markdown and HTML under ``<data_dir>/reports/`` (0600) and
mails the HTML to every admin with an email channel in the roster; docs/accountability.md. A
report nobody could receive fails the run, after the files are written, so Prefect shows it.
"""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, get_run_logger

from pipeline.alerts.digest_send import recipients
from pipeline.bootstrap import build_roster, report_inputs, runtime
from pipeline.config import load_settings
from pipeline.errors import ServiceError
from pipeline.report.service import monthly_report
from pipeline.schema import utcnow


@flow(name="transparency-report", log_prints=False)
def transparency_report(config_path: str | None = None) -> dict:
    """Write last month's transparency report and mail it to the admins."""
    s = load_settings(config_path)
    now = utcnow()
    admins = recipients(build_roster(s), None, now)  # the roster first: a broken one fails before any read
    with runtime(s) as rt:
        run = monthly_report(report_inputs(rt), s.data_dir / "reports", admins, s.general.timezone, now=now,
                             retries=s.alerts.delivery_retries, backoff_s=s.alerts.delivery_backoff_s)
    logger = get_run_logger()
    logger.info("transparency report: %d file(s) written, mailed to %d admin(s)", len(run.files), len(run.sent))
    if run.failed or not admins:
        raise ServiceError(f"transparency report written, but {len(run.failed)} admin(s) could not be reached"
                           if admins else "transparency report written, but no admin has an email channel in the roster")
    return asdict(run)
