"""The transparency report from the ports: read one period, count, run the equity checks,
suppress small counts; and the monthly run that writes last month's report under the data
directory and mails it to the district's admins. Every report leaves one audit record (who asked,
for which period): it reads flagged items' text to re-score them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.alerts.delivery import Message, apprise_notify, deliver
from pipeline.bus import Bus
from pipeline.nlp.verdict import Classifier
from pipeline.private_files import open_private, private_dir
from pipeline.report.collect import read_period
from pipeline.report.equity import functional_rates, identity_counterfactuals
from pipeline.report.figures import figures
from pipeline.report.render import RENDERERS, TITLE
from pipeline.report.suppress import suppress
from pipeline.schema import ReviewEvent, audit_document, utcnow
from pipeline.store import Store

log = logging.getLogger("threatline.report")
ACTOR = "threatline-report"


@dataclass(frozen=True)
class ReportInputs:
    """The ports and config files a report reads."""

    store: Store
    bus: Bus
    scored_topic: str
    classifier: Classifier
    identity_terms: Sequence[str]
    models_dir: Path
    retention_days: int
    min_count: int = 5


def build_report(inputs: ReportInputs, since: datetime, until: datetime, *, school: str | None = None,
                 actor: str = ACTOR, role: str = "system", now: datetime | None = None) -> dict[str, Any]:
    """The suppressed report of [since, until), the period's audit record written."""
    now = now or utcnow()
    data = read_period(inputs.store, inputs.bus, inputs.scored_topic, since, until,
                       retention_days=inputs.retention_days, school=school, now=now)
    raw = figures(data)
    raw["equity"] = {
        "identity_counterfactuals": identity_counterfactuals(data.items, inputs.identity_terms, inputs.classifier),
        "functional": functional_rates(inputs.models_dir, [v for v in raw["model_versions"] if v != "unknown"]),
    }
    report = {**suppress(raw, inputs.min_count), "school": school, "generated": now.isoformat()}
    inputs.store.append_audit([audit_document(ReviewEvent(
        actor=actor, role=role, action="export", at=now,
        details={"report": "transparency", "since": data.since.isoformat(), "until": data.until.isoformat(),
                 "school": school, "flagged_items_read": len(data.items)}))])
    return report


def month_bounds(now: datetime, timezone: str, months_back: int = 1) -> tuple[datetime, datetime]:
    """The calendar month ``months_back`` before ``now``'s, in the district's time, as UTC bounds."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    year, month = local.year, local.month - months_back
    while month < 1:
        year, month = year - 1, month + 12
    start = datetime.combine(datetime(year, month, 1).date(), time(), zone)
    end_year, end_month = (year + 1, 1) if month == 12 else (year, month + 1)
    end = datetime.combine(datetime(end_year, end_month, 1).date(), time(), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass
class MonthlyRun:
    files: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)    # roster ids, never addresses
    failed: list[str] = field(default_factory=list)


def write_report(report: dict[str, Any], out_dir: Path, stem: str) -> list[Path]:
    """The report as JSON, Markdown and HTML under ``out_dir`` (0700), each file 0600."""
    private_dir(out_dir)
    paths = []
    for fmt, render in RENDERERS.items():
        path = out_dir / f"{stem}.{fmt}"
        with open_private(path, encoding="utf-8") as f:
            f.write(render(report))
        paths.append(path)
    return paths


def monthly_report(inputs: ReportInputs, out_dir: Path, admins, timezone: str, *, now: datetime | None = None,
                   retries: int = 2, backoff_s: float = 0.5, notify=None) -> MonthlyRun:
    """Last month's report: written under ``out_dir``, then mailed (HTML) to ``admins``, people
    holding only their email channels (``pipeline.alerts.digest_send.recipients``)."""
    now = now or utcnow()
    since, until = month_bounds(now, timezone)
    report = build_report(inputs, since, until, now=now)
    month = since.astimezone(ZoneInfo(timezone)).strftime("%Y-%m")
    run = MonthlyRun(files=[str(p) for p in write_report(report, out_dir, f"transparency-{month}")])
    # The Markdown rendering as the text: only used if an admin's channel is not email.
    message = Message(RENDERERS["md"](report), RENDERERS["html"](report))
    for person in admins:
        result = deliver(person, f"{TITLE} — {month}", message, retries=retries, backoff_s=backoff_s,
                         notify=notify or apprise_notify)
        (run.sent if result.status == "delivered" else run.failed).append(person.id)
    log.info("transparency report %s written (%d files), mailed to %d admin(s), failed for %d",
             month, len(run.files), len(run.sent), len(run.failed))
    return run
