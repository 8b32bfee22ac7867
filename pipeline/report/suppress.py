"""Small-count suppression: a count under the threshold (default 5) could point at one student,
one tipster or one officer, so it is shown as "fewer than 5"; and a second cell is hidden beside
it wherever the cells of a breakdown add up to a total that is shown, so that the hidden one
cannot be worked out by subtraction (complementary suppression). A rate or a time built from a
hidden count is hidden with it. Zero is shown: it points at nobody."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, MutableMapping
from typing import Any

from pipeline.report.figures import ALERT_EVENTS

DEFAULT_THRESHOLD = 5


def hidden(k: int) -> str:
    return f"fewer than {k}"


def is_hidden(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("fewer than")


def _small(value: Any, k: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < k


def breakdown(cells: MutableMapping[str, Any], k: int, keys: Iterable[str] | None = None,
              total: tuple[MutableMapping[str, Any], str] | None = None) -> None:
    """Hide the small cells of one breakdown (``keys`` of ``cells``; all of them by default),
    then as many of the smallest others as it takes for no hidden cell to stand alone; where no
    other cell is left to hide, the ``total`` (container, key) they add up to is hidden instead."""
    keys = list(cells if keys is None else keys)
    for key in keys:
        if _small(cells.get(key), k):
            cells[key] = hidden(k)
    if sum(is_hidden(cells.get(key)) for key in keys) == 1:
        shown = sorted((v, key) for key in keys if isinstance(v := cells.get(key), int) and not isinstance(v, bool) and v > 0)
        if shown:
            cells[shown[0][1]] = hidden(k)
        elif total is not None and not is_hidden(total[0].get(total[1])):
            total[0][total[1]] = hidden(k)


def subset(cells: MutableMapping[str, Any], part: str, whole: str, k: int) -> None:
    """A count shown beside the total it is part of also gives away the rest (total minus part):
    when that rest is small, the part is hidden."""
    p, w = cells.get(part), cells.get(whole)
    if _small(p, k):
        cells[part] = hidden(k)
    elif isinstance(p, int) and isinstance(w, int) and _small(w - p, k):
        cells[part] = hidden(k)


def across(rows: MutableMapping[str, MutableMapping[str, Any]], field: str, k: int,
           total: tuple[MutableMapping[str, Any], str] | None = None) -> None:
    """One field of several rows as a breakdown (schools' flagged counts add up to the total)."""
    column = {name: row.get(field) for name, row in rows.items()}
    breakdown(column, k, total=total)
    for name, value in column.items():
        rows[name][field] = value


def _rate(cells: MutableMapping[str, Any], rate: str, *parts: str) -> None:
    if any(is_hidden(cells.get(p)) for p in parts):
        cells[rate] = "suppressed"


BREAKDOWNS = ("by_severity", "by_category", "by_school", "by_source", "by_kind", "outcomes")


def _items(cells: MutableMapping[str, Any], k: int) -> None:
    for name in BREAKDOWNS:
        if isinstance(cells.get(name), dict):
            # outcomes count closed items only: their total is not shown
            breakdown(cells[name], k, total=None if name == "outcomes" else (cells, "flagged"))
    for name in ("flagged", "decided", "taken_in"):
        if _small(cells.get(name), k):
            cells[name] = hidden(k)
    subset(cells, "false_alarms", "decided", k)
    _rate(cells, "false_alarm_rate", "false_alarms", "decided")


def _alerts(alerts: MutableMapping[str, Any], k: int) -> None:
    for name in ("total", "merged_repeats"):
        if _small(alerts.get(name), k):
            alerts[name] = hidden(k)
    for name in ALERT_EVENTS:
        subset(alerts, name, "total", k)
    breakdown(alerts["by_role"], k, total=(alerts, "total"))
    # a median of fewer than k acknowledgements is close to one person's response time
    if is_hidden(alerts.get("acknowledged")) or alerts.get("acknowledged") == 0:
        for name in ("median_time_to_ack_s", "p90_time_to_ack_s"):
            if alerts.get(name) is not None:
                alerts[name] = "suppressed"


def suppress(figures: dict[str, Any], k: int = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """A copy of ``figures`` (``pipeline.report.figures.figures``) safe to publish. Hiding a cell
    in one breakdown can leave a lone hidden cell in another (a version's P1 count is also part of
    the district's), so the passes repeat until nothing more is hidden."""
    out = copy.deepcopy(figures)
    before = None
    while before != (now := json.dumps(out, sort_keys=True, default=str)):
        before = now
        _pass(out, k)
    out["median_time_to_ack_s"] = out["alerts"]["median_time_to_ack_s"]
    out["p90_time_to_ack_s"] = out["alerts"]["p90_time_to_ack_s"]
    out["suppression"] = {"threshold": k, "shown_as": hidden(k),
                          "rule": f"counts from 1 to {k - 1} are hidden, with a second cell wherever a total would give them away"}
    return out


def _pass(out: dict[str, Any], k: int) -> None:
    intake = out["intake"]
    breakdown(intake, k, ("posts", "tips"), total=(intake, "total"))
    for name in ("by_school", "by_source"):
        breakdown(intake[name], k, total=(intake, "total"))
    if _small(intake.get("total"), k):
        intake["total"] = hidden(k)
    _items(out, k)
    _alerts(out["alerts"], k)
    versions = out["model_versions"]
    for row in versions.values():
        _items(row, k)
        _alerts(row["alerts"], k)
    # each version's cells add up to the district's: the same cell across versions is a breakdown
    for name in ("flagged", "decided", "false_alarms"):
        across(versions, name, k, total=(out, name))
    across(versions, "taken_in", k, total=(intake, "total"))
    for name in BREAKDOWNS:
        for cell in {c for row in versions.values() for c in row.get(name) or {}}:
            column = {v: row[name].get(cell, 0) for v, row in versions.items()}
            breakdown(column, k, total=(out[name], cell))
            for v, value in column.items():
                versions[v][name][cell] = value
    for name in ("total", "merged_repeats", *ALERT_EVENTS):
        across({v: row["alerts"] for v, row in versions.items()}, name, k, total=(out["alerts"], name))
    for row in versions.values():
        _rate(row, "false_alarm_rate", "false_alarms", "decided")
    breakdown(out["purges"]["by_class"], k, total=(out["purges"], "total"))
    if _small(out["purges"]["total"], k):
        out["purges"]["total"] = hidden(k)
    breakdown(out["reads_by_role"], k)
    schools = out["school_rates"]
    across(schools, "taken_in", k, total=(intake, "total"))
    across(schools, "flagged", k, total=(out, "flagged"))
    across(schools, "paged", k)
    for row in schools.values():
        _rate(row, "flag_rate", "flagged", "taken_in")
        _rate(row, "page_rate", "paged", "taken_in")
    if "equity" in out:
        _equity(out["equity"], k)


def _equity(equity: MutableMapping[str, Any], k: int) -> None:
    swaps = equity.get("identity_counterfactuals") or {}
    for name in ("items_checked", "variants"):
        if _small(swaps.get(name), k):
            swaps[name] = hidden(k)
    subset(swaps, "items_with_identity_terms", "items_checked", k)
    subset(swaps, "changed", "items_with_identity_terms", k)
    if is_hidden(swaps.get("items_with_identity_terms")):
        swaps["variants"] = "suppressed"  # a few swaps per item: their count would give the items away
