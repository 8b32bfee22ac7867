"""The report's figures from one period's store documents and intake counts. Pure: documents in,
counts out. Every figure is a count or a rate of counts; nothing a person wrote is carried over."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pipeline.review.actions import OUTCOMES
from pipeline.schema import dotted

SEVERITIES = ("P1", "P2", "P3")
PAGES = ("P1", "P2")
NO_SCHOOL = "(no school named)"
# What happened to an alert, from its history: one alert can be sent, escalated and acknowledged.
ALERT_EVENTS = ("sent", "failed", "escalated", "acknowledged")
FALSE_ALARM_LABEL = "not_a_concern"


@dataclass(frozen=True)
class Intake:
    """What the classify stages scored in the period, read back from the bus (``items.scored``)."""

    posts: int = 0
    tips: int = 0
    by_school: Mapping[str, int] = field(default_factory=dict)
    by_source: Mapping[str, int] = field(default_factory=dict)
    by_model: Mapping[str, int] = field(default_factory=dict)
    covered_from: datetime | None = None  # the bus keeps posts this far back, at most


@dataclass(frozen=True)
class PeriodData:
    since: datetime
    until: datetime
    items: Sequence[Mapping[str, Any]]    # flagged item documents created in the period
    alerts: Sequence[Mapping[str, Any]]   # alert documents created in the period
    audit: Sequence[Mapping[str, Any]]    # audit records of the period
    intake: Intake = field(default_factory=Intake)


def school_of(doc: Mapping[str, Any]) -> str:
    return dotted(doc, "threat.school") or NO_SCHOOL


def is_decided(doc: Mapping[str, Any]) -> bool:
    review = doc.get("review") or {}
    return review.get("status") in ("dismissed", "resolved") or bool(review.get("label"))


def is_false_alarm(doc: Mapping[str, Any]) -> bool:
    review = doc.get("review") or {}
    return review.get("status") == "dismissed" or review.get("label") == FALSE_ALARM_LABEL


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def quantile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1], 1)


def item_figures(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    decided = [d for d in items if is_decided(d)]
    false_alarms = sum(is_false_alarm(d) for d in decided)
    outcomes = Counter(str((d.get("review") or {}).get("outcome")) for d in items if (d.get("review") or {}).get("outcome"))
    return {
        "flagged": len(items),
        "by_severity": {s: sum(dotted(d, "threat.severity") == s for d in items) for s in SEVERITIES},
        "by_category": dict(sorted(Counter(str(dotted(d, "threat.category")) for d in items).items())),
        "by_school": dict(sorted(Counter(school_of(d) for d in items).items())),
        "by_source": dict(sorted(Counter(str(dotted(d, "event.provider")) for d in items).items())),
        "by_kind": dict(sorted(Counter(str(dotted(d, "threat.kind") or "post") for d in items).items())),
        "outcomes": {o: outcomes.get(o, 0) for o in OUTCOMES},
        "decided": len(decided),
        "false_alarms": false_alarms,
        "false_alarm_rate": rate(false_alarms, len(decided)),
    }


def _history(doc: Mapping[str, Any]) -> set[str]:
    return {str(h.get("event")) for h in doc.get("history") or [] if isinstance(h, Mapping)}


def alert_figures(alerts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Alerts raised (``total``, as the alert stage counts them) and what became of them; an alert
    can be sent, escalated and acknowledged. Merged alerts are repeats folded into an open page:
    counted on their own, not as alerts raised."""
    raised = [a for a in alerts if a.get("status") != "merged"]
    acked = [float(a["time_to_ack_s"]) for a in raised if a.get("time_to_ack_s") is not None]
    return {
        "total": len(raised),
        **{e: sum(e in _history(a) or a.get("status") == e for a in raised) for e in ALERT_EVENTS},
        "merged_repeats": len(alerts) - len(raised),
        "by_role": dict(sorted(Counter(str(a.get("role")) for a in raised).items())),
        "median_time_to_ack_s": quantile(acked, 0.5),
        "p90_time_to_ack_s": quantile(acked, 0.9),
    }


def audit_figures(audit: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Retention purges per class, and reads of flagged items per role (views of the console's
    other pages name no item and are not reads of one)."""
    purges: Counter[str] = Counter()
    reads: Counter[str] = Counter()
    for record in audit:
        action = dotted(record, "event.action")
        if action == "purge":
            purges[str(dotted(record, "details.retention_class") or "unknown")] += 1
        elif action == "view" and dotted(record, "threat.item_id"):
            for role in dotted(record, "user.roles") or ["unknown"]:
                reads[str(role)] += 1
    return {"purges": {"total": sum(purges.values()), "by_class": dict(sorted(purges.items()))},
            "reads_by_role": dict(sorted(reads.items()))}


def intake_figures(intake: Intake) -> dict[str, Any]:
    return {"posts": intake.posts, "tips": intake.tips, "total": intake.posts + intake.tips,
            "by_school": dict(sorted(intake.by_school.items())), "by_source": dict(sorted(intake.by_source.items())),
            "covered_from": intake.covered_from.isoformat() if intake.covered_from else None}


def school_rates(items: Sequence[Mapping[str, Any]], intake: Intake) -> dict[str, dict[str, Any]]:
    """Flag and page rates per school against what was taken in for that school: a school whose
    posts are flagged far more often than the others' is the first thing an equity audit asks about."""
    out: dict[str, dict[str, Any]] = {}
    for school in sorted({*intake.by_school, *(school_of(d) for d in items)}):
        mine = [d for d in items if school_of(d) == school]
        taken = intake.by_school.get(school, 0)
        paged = sum(dotted(d, "threat.severity") in PAGES for d in mine)
        out[school] = {"taken_in": taken, "flagged": len(mine), "paged": paged,
                       "flag_rate": rate(len(mine), taken), "page_rate": rate(paged, taken)}
    return out


def model_versions(data: PeriodData) -> dict[str, dict[str, Any]]:
    """The item and alert figures again, per model version that scored the item."""
    version_of = {dotted(d, "event.id"): dotted(d, "threat.model_version") or "unknown" for d in data.items}
    versions = sorted({*version_of.values(), *data.intake.by_model})
    out = {}
    for version in versions:
        items = [d for d in data.items if version_of[dotted(d, "event.id")] == version]
        alerts = [a for a in data.alerts if version_of.get(a.get("item_id")) == version]
        out[version] = {"taken_in": data.intake.by_model.get(version, 0), **item_figures(items), "alerts": alert_figures(alerts)}
    return out


def figures(data: PeriodData) -> dict[str, Any]:
    """The whole report, unsuppressed (``pipeline.report.suppress`` runs before anything is shown)."""
    items = item_figures(data.items)
    alerts = alert_figures(data.alerts)
    return {
        "period": {"since": data.since.isoformat(), "until": data.until.isoformat()},
        "intake": intake_figures(data.intake),
        **items,
        "alerts": alerts,
        "median_time_to_ack_s": alerts["median_time_to_ack_s"],
        "p90_time_to_ack_s": alerts["p90_time_to_ack_s"],
        "model_versions": model_versions(data),
        **audit_figures(data.audit),
        "school_rates": school_rates(data.items, data.intake),
    }
