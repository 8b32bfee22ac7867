"""The suppressed figures as Markdown, HTML (with matplotlib plots, every string escaped) or JSON.
Only what ``pipeline.report.suppress`` let through is written: the renderers never see a raw count."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping
from typing import Any

TITLE = "threatline transparency report"
SECTIONS = (("by_severity", "Flagged items by severity"), ("by_category", "Flagged items by category"),
            ("by_school", "Flagged items by school"), ("by_source", "Flagged items by source"),
            ("outcomes", "Outcomes of closed items"))


def as_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False) + "\n"


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1%}" if value <= 1 else f"{value:,.1f}"
    return str(value)


def _seconds(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return _value(value)
    minutes = value / 60
    return f"{value:.0f} s" if value < 120 else f"{minutes:.1f} min"


def _rows(report: Mapping[str, Any]) -> list[tuple[str, list[list[str]], list[str]]]:
    """Every table of the report: (title, rows, header). Shared by Markdown and HTML."""
    intake, alerts = report["intake"], report["alerts"]
    tables = [("Summary", [
        ["posts taken in", _value(intake["posts"])], ["tips taken in", _value(intake["tips"])],
        ["flagged items", _value(report["flagged"])], ["decided items", _value(report["decided"])],
        ["false alarms (dismissed or labelled not a concern)", _value(report["false_alarms"])],
        ["false-alarm rate", _value(report["false_alarm_rate"])],
        ["alerts raised", _value(alerts["total"])], ["sent", _value(alerts["sent"])],
        ["acknowledged", _value(alerts["acknowledged"])],
        ["escalated", _value(alerts["escalated"])], ["failed at least once", _value(alerts["failed"])],
        ["median time to acknowledge", _seconds(report["median_time_to_ack_s"])],
        ["90th percentile time to acknowledge", _seconds(report["p90_time_to_ack_s"])],
        ["retention purges", _value(report["purges"]["total"])]], ["figure", "value"])]
    for key, title in SECTIONS:
        tables.append((title, [[k, _value(v)] for k, v in report[key].items()], ["", "items"]))
    tables.append(("Alerts by role", [[k, _value(v)] for k, v in alerts["by_role"].items()], ["role", "alerts"]))
    tables.append(("Equity: flag and page rates per school", [
        [school, _value(r["taken_in"]), _value(r["flagged"]), _value(r["flag_rate"]), _value(r["paged"]), _value(r["page_rate"])]
        for school, r in report["school_rates"].items()], ["school", "taken in", "flagged", "flag rate", "paged", "page rate"]))
    tables.append(("Per model version", [
        [v, _value(r["taken_in"]), _value(r["flagged"]), _value(r["alerts"]["total"]), _value(r["false_alarm_rate"])]
        for v, r in report["model_versions"].items()], ["model", "taken in", "flagged", "alerts", "false-alarm rate"]))
    equity = report.get("equity") or {}
    if equity.get("identity_counterfactuals"):
        c = equity["identity_counterfactuals"]
        tables.append(("Equity: identity-term swaps on the district's flagged items", [
            ["model scoring the swaps", c["model_version"]], ["flagged items checked", _value(c["items_checked"])],
            ["items naming an identity term", _value(c["items_with_identity_terms"])],
            ["swapped versions scored", _value(c["variants"])],
            ["items whose severity changed with the term alone", _value(c["changed"])]], ["figure", "value"]))
    if equity.get("functional"):
        tables.append(("Equity: functional suite per model version", [
            [v, _value(r.get("dialect_spelling")), _value(r.get("identity_swap"))] for v, r in equity["functional"].items()],
            ["model", "dialect and spelling", "identity swap"]))
    tables.append(("Reads of flagged items by role", [[k, _value(v)] for k, v in report["reads_by_role"].items()], ["role", "reads"]))
    tables.append(("Retention purges by class", [[k, _value(v)] for k, v in report["purges"]["by_class"].items()], ["class", "items"]))
    return tables


def _notes(report: Mapping[str, Any]) -> list[str]:
    notes = [f"Counts from 1 to {report['suppression']['threshold'] - 1} are shown as "
             f"'{report['suppression']['shown_as']}', with a second count hidden wherever a total would give them away."]
    covered = report["intake"].get("covered_from")
    if covered and covered > report["period"]["since"]:
        notes.append(f"Posts and tips taken in are counted from {covered[:10]} only: the bus keeps scored posts "
                     "for its retention period, the store keeps flagged items longer.")
    return notes


def as_markdown(report: Mapping[str, Any]) -> str:
    p = report["period"]
    out = [f"# {TITLE}", "", f"Period: {p['since'][:10]} to {p['until'][:10]} (end exclusive)"
           + (f", school: {report['school']}" if report.get("school") else "") + ".", ""]
    for note in _notes(report):
        out += [f"> {note}", ""]
    for title, rows, header in _rows(report):
        out += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows] or ["| (none) |" + " |" * (len(header) - 1)]
        out.append("")
    return "\n".join(out)


def _plot(title: str, cells: Mapping[str, Any]) -> str:
    """A bar chart as an inline PNG; hidden counts drawn as empty bars labelled as hidden."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(cells)
    values = [v if isinstance(v, (int, float)) and not isinstance(v, bool) else 0 for v in cells.values()]
    buffer = io.BytesIO()
    with matplotlib.rc_context({"text.parse_math": False}):  # a "$" in a school or source name is text, not TeX
        fig, ax = plt.subplots(figsize=(6, 0.45 * max(len(names), 2) + 1))
        bars = ax.barh(names, values, color="#3b6ea5")
        for bar, v in zip(bars, cells.values()):
            ax.annotate(str(v), (bar.get_width(), bar.get_y() + bar.get_height() / 2), xytext=(4, 0),
                        textcoords="offset points", va="center", fontsize=9)
        ax.set_title(title)
        ax.invert_yaxis()
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=90)
        plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def as_html(report: Mapping[str, Any]) -> str:
    e = html.escape
    p = report["period"]
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>", f"<title>{e(TITLE)}</title>",
             "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:auto;padding:1rem;line-height:1.4}"
             "table{border-collapse:collapse;margin-bottom:1.5rem}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}"
             ".plots{display:flex;flex-wrap:wrap;gap:1rem}.plots img{max-width:100%}.note{background:#f4f4f4;padding:.5rem}</style>",
             f"</head><body><h1>{e(TITLE)}</h1><p>Period: {e(p['since'][:10])} to {e(p['until'][:10])} (end exclusive)"
             + (f", school: {e(report['school'])}" if report.get("school") else "") + ".</p>"]
    parts += [f"<p class='note'>{e(note)}</p>" for note in _notes(report)]
    parts.append("<div class='plots'>")
    for key, title in SECTIONS[:4]:
        if report[key]:
            parts.append(f"<img alt='{e(title)}' src='data:image/png;base64,{_plot(title, report[key])}'>")
    rates = {s: r["flag_rate"] for s, r in report["school_rates"].items()}
    if any(isinstance(v, float) for v in rates.values()):
        shown = {s: (round(100 * v, 2) if isinstance(v, float) else v) for s, v in rates.items()}
        parts.append(f"<img alt='Flag rate per school' src='data:image/png;base64,{_plot('Flagged per 100 taken in, by school', shown)}'>")
    parts.append("</div>")
    for title, rows, header in _rows(report):
        parts.append(f"<h2>{e(title)}</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


RENDERERS = {"json": as_json, "md": as_markdown, "html": as_html}
