"""HTML pages of the tip line: plain forms that work without JavaScript, on a phone, with a screen
reader. Every piece of text that did not come from this file goes through ``esc``."""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from pipeline.tipline.validation import MESSAGE_MAX, SHORT_MAX

# A student in crisis needs more than 911: the 988 Lifeline (call or text) and the Crisis Text Line.
EMERGENCY = ("If someone is in danger right now, call 911. If you are thinking about hurting yourself, or are worried "
             "about someone who is, call or text 988 (Suicide & Crisis Lifeline), or text HOME to 741741 (Crisis Text Line).")
# The same sentences on the pages, derived so they cannot drift apart: each number a link a
# phone calls or texts with one tap.
EMERGENCY_HTML = (escape(EMERGENCY).replace(" 911.", ' <a href="tel:911">911</a>.<br>')
                  .replace(" 988 ", ' <a href="tel:988">988</a> ')
                  .replace(" 741741 ", ' <a href="sms:741741?body=HOME">741741</a> '))
# What a tipster reads for the thread store's statuses (pipeline.tipline.threads.STATUSES).
STATUS_WORDS = {"received": "Received. School staff will read it.",
                "in_review": "School staff are looking into it.",
                "closed": "Closed. Staff have finished with this tip. You can still add details, and they will see them."}

_STYLE = """
body{font:1.05rem/1.5 system-ui,sans-serif;max-width:40rem;margin:0 auto;padding:1rem;color:#111;background:#fff}
.banner{background:#b00020;color:#fff;padding:1rem;font-size:1.15rem;font-weight:700;border-radius:.3rem}
.banner a{color:#fff;text-decoration:underline}
label{display:block;font-weight:600;margin-top:1.2rem}
.hint{color:#444;font-size:.95rem;margin:.2rem 0}
.error{color:#b00020;font-weight:600;margin:.2rem 0}
input[type=text],textarea,select{width:100%;box-sizing:border-box;font:inherit;padding:.5rem;border:2px solid #555}
[aria-invalid=true]{border-color:#b00020}
.check label{display:inline;font-weight:400}
button{font:inherit;font-weight:700;margin-top:1.5rem;padding:.7rem 1.5rem}
.summary{border:3px solid #b00020;padding:.5rem 1rem}
.secret{font:700 1.4rem/1.4 ui-monospace,monospace;background:#eef;padding:.5rem;word-break:break-all}
.msg{border-left:4px solid #888;padding:.2rem .8rem;margin:.8rem 0;white-space:pre-wrap}
.msg.staff{border-color:#0050b3}
"""


def esc(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>"
        f'<p class="banner" role="note">{EMERGENCY_HTML}</p>'
        f"<main>{body}</main>"
        '<footer><p><a href="/">Send a tip</a> · <a href="/check">Check replies to a tip</a></p>'
        "<p>This tip line does not record your IP address, your device or any cookies. "
        "You may stay anonymous.</p></footer></body></html>"
    )


def _summary(errors: dict[str, str], general: str | None) -> str:
    if not errors and not general:
        return ""
    items = "".join(f'<li><a href="#{esc(name)}">{esc(text)}</a></li>' for name, text in errors.items())
    heading = esc(general or "Please fix the marked fields.")
    return (f'<div class="summary" role="alert" tabindex="-1"><h2>{heading}</h2>'
            f"{f'<ul>{items}</ul>' if items else ''}</div>")


def _described(name: str, errors: dict[str, str], hint: str | None) -> tuple[str, str]:
    """(attributes, paragraphs) tying the hint and the error to the field for screen readers."""
    ids, html = [], ""
    if hint:
        ids.append(f"{name}-hint")
        html += f'<p class="hint" id="{name}-hint">{esc(hint)}</p>'
    if name in errors:
        ids.append(f"{name}-error")
        html += f'<p class="error" id="{name}-error">{esc(errors[name])}</p>'
    attrs = f' aria-describedby="{" ".join(ids)}"' if ids else ""
    if name in errors:
        attrs += ' aria-invalid="true"'
    return attrs, html


def tip_form(schools: list[str], values: dict[str, object] | None = None,
             errors: dict[str, str] | None = None, general: str | None = None) -> str:
    values, errors = values or {}, errors or {}
    m_attrs, m_html = _described("message", errors, "What did you see, hear or read? Who, what, where, when. "
                                 f"Up to {MESSAGE_MAX} characters.")
    s_attrs, s_html = _described("school", errors, None)
    w_attrs, w_html = _described("when_where", errors, "For example: Friday lunch, in the C-wing.")
    c_attrs, c_html = _described("contact", errors, "Optional. Leave empty to stay anonymous. "
                                 "Staff may use it to reach you.")
    chosen = values.get("school") or ""
    options = '<option value="">Not sure / none</option>' + "".join(
        f'<option{" selected" if name == chosen else ""}>{esc(name)}</option>' for name in schools)
    urgent = " checked" if values.get("urgent") else ""
    body = f"""
<h1>Report a safety concern</h1>
<p>Tell us about a threat, a weapon, someone who may hurt themselves, or bullying.
You will get a tip code and a passphrase to read replies from staff.</p>
{_summary(errors, general)}
<form method="post" action="/" accept-charset="utf-8" novalidate>
<label for="message">What happened (required)</label>{m_html}
<textarea id="message" name="message" rows="8" maxlength="{MESSAGE_MAX}" required{m_attrs}>{esc(values.get("message"))}</textarea>
<label for="school">School</label>{s_html}
<select id="school" name="school"{s_attrs}>{options}</select>
<label for="when_where">When and where</label>{w_html}
<input type="text" id="when_where" name="when_where" maxlength="{SHORT_MAX}" value="{esc(values.get("when_where"))}"{w_attrs}>
<p class="check"><input type="checkbox" id="urgent" name="urgent" value="yes"{urgent}>
<label for="urgent">I think this could happen soon</label></p>
<label for="contact">How to reach you</label>{c_html}
<input type="text" id="contact" name="contact" maxlength="{SHORT_MAX}" autocomplete="off" value="{esc(values.get("contact"))}"{c_attrs}>
<button type="submit">Send tip</button>
</form>"""
    return page("Report a safety concern", body)


def receipt(code: str, secret: str) -> str:
    body = f"""
<h1 tabindex="-1">Thank you. Your tip was received.</h1>
<p>Staff will read it. To read their replies or add details later, you need both of these.
<strong>Write them down now: they are shown only once and cannot be recovered.</strong></p>
<h2>Tip code</h2><p class="secret">{esc(code)}</p>
<h2>Passphrase</h2><p class="secret">{esc(secret)}</p>
<p><a href="/check">Check replies to a tip</a></p>"""
    return page("Tip received", body)


def check_form(code: str = "", general: str | None = None) -> str:
    body = f"""
<h1>Check replies to your tip</h1>
{_summary({}, general)}
<form method="post" action="/check" accept-charset="utf-8">
<label for="code">Tip code</label>
<input type="text" id="code" name="code" autocomplete="off" autocapitalize="characters" value="{esc(code)}">
<label for="passphrase">Passphrase</label>
<input type="text" id="passphrase" name="passphrase" autocomplete="off" autocapitalize="none">
<button type="submit">Show my tip</button>
</form>"""
    return page("Check replies", body)


def local_time(iso: str, timezone: str) -> str:
    """"Dec 2, 9:15 AM CST": the district's clock, as the school side reads it."""
    try:
        moment = datetime.fromisoformat(iso).astimezone(ZoneInfo(timezone))
    except (TypeError, ValueError):
        return str(iso)
    return f"{moment:%b} {moment.day}, {moment.hour % 12 or 12}:{moment:%M %p %Z}"


def thread(view: dict, secret: str, errors: dict[str, str] | None = None, general: str | None = None,
           timezone: str = "UTC") -> str:
    errors = errors or {}
    msgs = "".join(
        f'<div class="msg {"staff" if m["from"] == "staff" else "you"}"><p><strong>'
        f'{"Staff" if m["from"] == "staff" else "You"}</strong> · {esc(local_time(m["at"], timezone))}</p>'
        f'<p>{esc(m["text"])}</p></div>' for m in view["messages"])
    m_attrs, m_html = _described("message", errors, "Anything you want to add or answer.")
    body = f"""
<h1>Your tip {esc(view["code"])}</h1>
<p>Status: <strong>{esc(STATUS_WORDS.get(view["status"], view["status"]))}</strong></p>
{_summary(errors, general)}
{msgs}
<h2>Add details</h2>
<form method="post" action="/check/followup" accept-charset="utf-8">
<input type="hidden" name="code" value="{esc(view["code"])}">
<input type="hidden" name="passphrase" value="{esc(secret)}">
<label for="message">Your message</label>{m_html}
<textarea id="message" name="message" rows="5" maxlength="{MESSAGE_MAX}"{m_attrs}></textarea>
<button type="submit">Send</button>
</form>"""
    return page("Your tip", body)


def problem(title: str, message: str) -> str:
    return page(title, f'<h1>{esc(title)}</h1><p role="alert">{esc(message)}</p>'
                       f"<p><strong>{EMERGENCY_HTML}</strong></p>")
