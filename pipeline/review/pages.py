"""HTML pages of the review server. Alert excerpts and explanations quote posts and tips, which
anyone can write: every piece of text that did not come from this file goes through ``esc``."""

from __future__ import annotations

from datetime import datetime, tzinfo
from urllib.parse import quote

from pipeline.schema import Alert
from pipeline.tipline.pages import esc

NO_LINK = "Acknowledge it in the review console, or call dispatch."

_STYLE = """
body{font:1.05rem/1.5 system-ui,sans-serif;max-width:40rem;margin:0 auto;padding:1rem;color:#111;background:#fff}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
.sev{font-weight:700}.sev.P1{color:#b00020}
.excerpt{border-left:4px solid #888;padding:.2rem .8rem;white-space:pre-wrap;overflow-wrap:anywhere}
.done{border:3px solid #0a6b2d;padding:.5rem 1rem}
.problem{border:3px solid #b00020;padding:.5rem 1rem}
button{font:inherit;font-weight:700;margin-top:1rem;padding:.9rem 2rem}
"""


def page(title: str, body: str) -> str:
    return ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{esc(title)} · threatline</title><style>{_STYLE}</style></head><body>"
            f"<main>{body}</main></body></html>")


def when(at: datetime | None, tz: tzinfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if at else "unknown"


def duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def _summary(alert: Alert, tz: tzinfo) -> str:
    why = "".join(f"<li>{esc(line)}</li>" for line in alert.explanation) or "<li>(no explanation)</li>"
    return (f'<dl><dt>Severity</dt><dd class="sev {esc(alert.severity)}">{esc(alert.severity)}</dd>'
            f"<dt>Category</dt><dd>{esc(alert.category.replace('_', '-'))}</dd>"
            f"<dt>School</dt><dd>{esc(alert.school or 'no school matched')}</dd>"
            f"<dt>Paged</dt><dd>{esc(when(alert.created_at, tz))}</dd></dl>"
            f'<h2>What was flagged</h2><p class="excerpt">{esc(alert.excerpt)}</p>'
            f"<h2>Why</h2><ul>{why}</ul>"
            # relative, like the form: /ack/<token> and /items/<id> are served side by side, behind any prefix
            f'<p><a href="../items/{esc(quote(alert.item_id, safe=""))}">Open the case in the review console</a> '
            "(you may be asked to log in).</p>")


def confirm(alert: Alert, for_whom: str, tz: tzinfo) -> str:
    # No action attribute: the form posts back to the address it came from, token and all, so
    # the token is never written into the page and a proxy's path prefix still works.
    body = (f"<h1>Acknowledge this alert?</h1>"
            f"<p>For <strong>{esc(for_whom)}</strong>. Acknowledging tells threatline you have it: "
            "nobody further down the escalation chain is paged for it.</p>"
            f'{_summary(alert, tz)}<form method="post"><button type="submit">Acknowledge</button></form>')
    return page("Acknowledge this alert?", body)


def acknowledged(alert: Alert, by_whom: str, tz: tzinfo, *, already: bool) -> str:
    if already:
        title = "Already acknowledged"
        head = (f"<h1>{title}</h1><p class=\"done\">{esc(by_whom)} acknowledged this alert at "
                f"{esc(when(alert.acknowledged_at, tz))}. Nobody further down the chain is paged for it.</p>")
    else:
        title = "Acknowledged — escalation stopped"
        took = f" Time to acknowledge: {esc(duration(alert.time_to_ack_s))}." if alert.time_to_ack_s is not None else ""
        head = (f"<h1>{title}</h1><p class=\"done\" role=\"status\">Recorded as acknowledged by "
                f"{esc(by_whom)} at {esc(when(alert.acknowledged_at, tz))}.{took}</p>")
    return page(title, head + _summary(alert, tz))


def problem(title: str, message: str) -> str:
    return page(title, f'<h1>{esc(title)}</h1><p class="problem" role="alert">{esc(message)}</p>')
