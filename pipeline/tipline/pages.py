"""HTML pages of the tip line: plain forms that work without JavaScript, on a phone, with a screen
reader, in the tipster's language (``tr``). Every piece of text that did not come from this file
goes through ``esc``, and so does every translation.

Links and form actions carry ``?lang=``: the language stays the same from page to page without a
cookie (the tip line sets none).
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from urllib.parse import quote
from zoneinfo import ZoneInfo

from babel import UnknownLocaleError
from babel.dates import format_datetime

from pipeline.tipline.i18n import ENGLISH, N_, Translator
from pipeline.tipline.multipart import FILE_FIELD, megabytes
from pipeline.tipline.validation import MESSAGE_MAX, SHORT_MAX

# A student in crisis needs more than 911: the 988 Lifeline (call or text) and the Crisis Text
# Line. Placeholders, so the page's links and the API's plain text come from the same sentence.
# TRANSLATORS: {n911} is the number 911, shown as a link that calls it.
DANGER = N_("If someone is in danger right now, call {n911}.")
# TRANSLATORS: {n988} is the 988 Lifeline and {n741741} the Crisis Text Line, both links; {keyword}
# is the word to text (translated separately). Say what the service offers in your language
# (988 in Spanish: call and press 2).
CRISIS = N_("If you are thinking about hurting yourself, or are worried about someone who is, call or text {n988} "
            "(Suicide & Crisis Lifeline), or text {keyword} to {n741741} (Crisis Text Line).")
# What a tipster reads for the thread store's statuses (pipeline.tipline.threads.STATUSES).
STATUS_WORDS = {"received": N_("Received. School staff will read it."),
                "in_review": N_("School staff are looking into it."),
                "closed": N_("Closed. Staff have finished with this tip. You can still add details, and they will "
                             "see them.")}
# TRANSLATORS: a date and time pattern (Unicode CLDR: MMM month, d day, h:mm a 12-hour time, H:mm
# 24-hour); the time zone follows it.
TIME_PATTERN = N_("MMM d, h:mm a")
PICTURE_TYPES = "image/png,image/jpeg,image/webp,image/gif"  # the file picker's filter; images.py decides

_STYLE = """
body{font:1.05rem/1.5 system-ui,sans-serif;max-width:40rem;margin:0 auto;padding:1rem;color:#111;background:#fff}
.banner{background:#b00020;color:#fff;padding:1rem;font-size:1.15rem;font-weight:700;border-radius:.3rem}
.banner a{color:#fff;text-decoration:underline}
.langs ul{list-style:none;padding:0;margin:0 0 .5rem;display:flex;gap:1rem;justify-content:flex-end}
.langs form{display:inline}.langs button{margin:0;padding:.2rem .6rem;font-weight:400}
label{display:block;font-weight:600;margin-top:1.2rem}
.hint{color:#444;font-size:.95rem;margin:.2rem 0}
.error{color:#b00020;font-weight:600;margin:.2rem 0}
input[type=text],textarea,select{width:100%;box-sizing:border-box;font:inherit;padding:.5rem;border:2px solid #555}
input[type=file]{font:inherit;margin-top:.3rem}
[aria-invalid=true]{border-color:#b00020}
.check label{display:inline;font-weight:400}
button{font:inherit;font-weight:700;margin-top:1.5rem;padding:.7rem 1.5rem}
.summary{border:3px solid #b00020;padding:.5rem 1rem}
.notice{border:3px solid #0050b3;padding:.5rem 1rem}
.secret{font:700 1.4rem/1.4 ui-monospace,monospace;background:#eef;padding:.5rem;word-break:break-all}
.msg{border-left:4px solid #888;padding:.2rem .8rem;margin:.8rem 0;white-space:pre-wrap}
.msg.staff{border-color:#0050b3}
"""


def esc(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _escaped(**texts: str) -> dict[str, str]:
    """Translated words for a page's f-strings, escaped. The ``_()`` calls stay outside the
    f-strings: Babel does not look inside them on Python 3.11."""
    return {name: esc(text) for name, text in texts.items()}


def url(tr: Translator, path: str) -> str:
    return f"{path}?lang={quote(tr.lang)}"


def _keyword(tr: Translator) -> str:
    # TRANSLATORS: the word to text to 741741 for the Crisis Text Line in your language (Spanish: AYUDA).
    return tr.pgettext("Crisis Text Line keyword", "HOME")


def emergency(tr: Translator = ENGLISH) -> str:
    """The crisis lines as plain text (the JSON API's ``emergency``)."""
    keyword = _keyword(tr)
    return " ".join((tr.text(DANGER, n911="911"),
                     tr.text(CRISIS, n988="988", keyword=keyword, n741741="741741")))


def emergency_html(tr: Translator = ENGLISH) -> str:
    """The same sentences with each number a link a phone calls or texts with one tap."""
    keyword = _keyword(tr)
    links = {"n911": '<a href="tel:911">911</a>', "n988": '<a href="tel:988">988</a>', "keyword": esc(keyword),
             "n741741": f'<a href="sms:741741?body={esc(quote(keyword))}">741741</a>'}

    def linked(msgid: str) -> str:
        try:
            return esc(tr.gettext(msgid)).format(**links)
        except (KeyError, IndexError, ValueError):  # a broken translation: the English sentence
            return esc(msgid).format(**links)
    return f"{linked(DANGER)}<br>{linked(CRISIS)}"


EMERGENCY = emergency()
EMERGENCY_HTML = emergency_html()


def _switcher(tr: Translator, languages: dict[str, str], here: str, keep: dict[str, str] | None) -> str:
    """A link per language to this page in it; ``keep``: hidden fields to post again instead (a
    thread page, which only a POST with the passphrase shows)."""
    items = []
    for code, name in languages.items():
        if code == tr.lang:
            items.append(f'<li><span lang="{esc(code)}" aria-current="true">{esc(name)}</span></li>')
        elif keep is None:
            items.append(f'<li><a href="{esc(here)}?lang={esc(quote(code))}" lang="{esc(code)}" '
                         f'hreflang="{esc(code)}">{esc(name)}</a></li>')
        else:
            hidden = "".join(f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in keep.items())
            items.append(f'<li><form method="post" action="{esc(here)}?lang={esc(quote(code))}" '
                         f'accept-charset="utf-8">{hidden}<button type="submit" lang="{esc(code)}">{esc(name)}'
                         "</button></form></li>")
    label = esc(tr.gettext("Language"))
    return f'<nav class="langs" aria-label="{label}"><ul>{"".join(items)}</ul></nav>'


def page(tr: Translator, title: str, body: str, *, languages: dict[str, str] | None = None, here: str | None = "/",
         keep: dict[str, str] | None = None) -> str:
    """A whole page. The language switcher (``languages``: code -> own name) is left out where
    leaving the page would lose something: a receipt, a form with typed text (``here=None``)."""
    _ = tr.gettext
    switcher = _switcher(tr, languages, here, keep) if languages and len(languages) > 1 and here else ""
    w = _escaped(send=_("Send a tip"), check=_("Check replies to a tip"),
                 private=_("This tip line does not record your IP address, your device or any cookies. "
                           "You may stay anonymous."))
    return (
        f'<!doctype html>\n<html lang="{esc(tr.lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>{switcher}"
        f'<p class="banner" role="note">{emergency_html(tr)}</p>'
        f"<main>{body}</main>"
        f'<footer><p><a href="{url(tr, "/")}">{w["send"]}</a> · <a href="{url(tr, "/check")}">{w["check"]}</a></p>'
        f'<p>{w["private"]}</p></footer></body></html>'
    )


def _summary(tr: Translator, errors: dict[str, str], general: str | None) -> str:
    if not errors and not general:
        return ""
    items = "".join(f'<li><a href="#{esc(name)}">{esc(tr.text(text))}</a></li>' for name, text in errors.items())
    heading = esc(tr.text(general) if general else tr.gettext("Please fix the marked fields."))
    return (f'<div class="summary" role="alert" tabindex="-1"><h2>{heading}</h2>'
            f"{f'<ul>{items}</ul>' if items else ''}</div>")


def _described(tr: Translator, name: str, errors: dict[str, str], hint: str | None) -> tuple[str, str]:
    """(attributes, paragraphs) tying the hint and the error to the field for screen readers."""
    ids, html = [], ""
    if hint:
        ids.append(f"{name}-hint")
        html += f'<p class="hint" id="{name}-hint">{esc(hint)}</p>'
    if name in errors:
        ids.append(f"{name}-error")
        html += f'<p class="error" id="{name}-error">{esc(tr.text(errors[name]))}</p>'
    attrs = f' aria-describedby="{" ".join(ids)}"' if ids else ""
    if name in errors:
        attrs += ' aria-invalid="true"'
    return attrs, html


def _picture_field(tr: Translator, errors: dict[str, str], picture_limit: int, label: str) -> str:
    # tr.text, not .format(): a translation that lost its placeholder falls back to English.
    hint = tr.text(N_("PNG, JPEG, WebP or GIF, up to {mb} MB. Staff will see it. Hidden details in the file, "
                      "like where a photo was taken, are removed."), mb=megabytes(picture_limit))
    attrs, html = _described(tr, FILE_FIELD, errors, hint)
    return (f'<label for="{FILE_FIELD}">{esc(label)}</label>{html}'
            f'<input type="file" id="{FILE_FIELD}" name="{FILE_FIELD}" accept="{PICTURE_TYPES}"{attrs}>')


def tip_form(tr: Translator, schools: list[str], values: dict[str, object] | None = None,
             errors: dict[str, str] | None = None, general: str | None = None, *, picture_limit: int,
             languages: dict[str, str] | None = None) -> str:
    """The form; with ``values`` it comes back after a refusal, what was typed still in it."""
    _ = tr.gettext
    values, errors = values or {}, errors or {}
    m_attrs, m_html = _described(tr, "message", errors, tr.text(N_("What did you see, hear or read? Who, what, "
                                                                   "where, when. Up to {count} characters."),
                                                                count=MESSAGE_MAX))
    s_attrs, s_html = _described(tr, "school", errors, None)
    w_attrs, w_html = _described(tr, "when_where", errors, _("For example: Friday lunch, in the C-wing."))
    c_attrs, c_html = _described(tr, "contact", errors, _("Optional. Leave empty to stay anonymous. "
                                                          "Staff may use it to reach you."))
    chosen = values.get("school") or ""
    w = _escaped(title=_("Report a safety concern"),
                 intro=_("Tell us about a threat, a weapon, someone who may hurt themselves, or bullying. "
                         "You will get a tip code and a passphrase to read replies from staff."),
                 message=_("What happened (required)"), school=_("School"), when_where=_("When and where"),
                 urgent=_("I think this could happen soon"), contact=_("How to reach you"), send=_("Send tip"),
                 none=_("Not sure / none"))
    options = f'<option value="">{w["none"]}</option>' + "".join(
        f'<option{" selected" if name == chosen else ""}>{esc(name)}</option>' for name in schools)
    urgent = " checked" if values.get("urgent") else ""
    picture = _picture_field(tr, errors, picture_limit, _("A screenshot or photo (optional)"))
    body = f"""
<h1>{w["title"]}</h1>
<p>{w["intro"]}</p>
{_summary(tr, errors, general)}
<form method="post" action="{url(tr, "/")}" enctype="multipart/form-data" accept-charset="utf-8" novalidate>
<label for="message">{w["message"]}</label>{m_html}
<textarea id="message" name="message" rows="8" maxlength="{MESSAGE_MAX}" required{m_attrs}>{esc(values.get("message"))}</textarea>
<label for="school">{w["school"]}</label>{s_html}
<select id="school" name="school"{s_attrs}>{options}</select>
<label for="when_where">{w["when_where"]}</label>{w_html}
<input type="text" id="when_where" name="when_where" maxlength="{SHORT_MAX}" value="{esc(values.get("when_where"))}"{w_attrs}>
<p class="check"><input type="checkbox" id="urgent" name="urgent" value="yes"{urgent}>
<label for="urgent">{w["urgent"]}</label></p>
<label for="contact">{w["contact"]}</label>{c_html}
<input type="text" id="contact" name="contact" maxlength="{SHORT_MAX}" autocomplete="off" value="{esc(values.get("contact"))}"{c_attrs}>
{picture}
<button type="submit">{w["send"]}</button>
</form>"""
    return page(tr, _("Report a safety concern"), body, languages=languages, here=None if values else "/")


def _picture_outcome(tr: Translator, refused: str | None, attached: bool, sent: str) -> str:
    """What became of the picture sent with a tip or follow-up that was accepted either way."""
    _ = tr.gettext
    if refused:
        later = esc(_("You can send another picture later with your tip code and passphrase, on the page to "
                      "check replies."))
        return (f'<div class="summary" role="alert"><h2>{esc(sent)}</h2><p>{esc(tr.text(refused))}</p>'
                f"<p>{later}</p></div>")
    if attached:
        attached_words = esc(_("Your picture was attached. Staff will see it."))
        return f'<p class="notice" role="status">{attached_words}</p>'
    return ""


def receipt(tr: Translator, code: str, secret: str, *, picture_refused: str | None = None,
            picture_attached: bool = False) -> str:
    """Shown once, so no language switcher: leaving the page would lose the code and passphrase."""
    _ = tr.gettext
    outcome = _picture_outcome(tr, picture_refused, picture_attached,
                               _("Your tip was sent, but the picture was not attached."))
    w = _escaped(thanks=_("Thank you. Your tip was received."),
                 keep=_("Staff will read it. To read their replies or add details later, you need both of these."),
                 write=_("Write them down now: they are shown only once and cannot be recovered."),
                 code=_("Tip code"), passphrase=_("Passphrase"), check=_("Check replies to a tip"))
    body = f"""
<h1 tabindex="-1">{w["thanks"]}</h1>
{outcome}
<p>{w["keep"]}
<strong>{w["write"]}</strong></p>
<h2>{w["code"]}</h2><p class="secret">{esc(code)}</p>
<h2>{w["passphrase"]}</h2><p class="secret">{esc(secret)}</p>
<p><a href="{url(tr, "/check")}">{w["check"]}</a></p>"""
    return page(tr, _("Tip received"), body, here=None)


def check_form(tr: Translator, code: str = "", general: str | None = None, *,
               languages: dict[str, str] | None = None) -> str:
    _ = tr.gettext
    w = _escaped(title=_("Check replies to your tip"), code=_("Tip code"), passphrase=_("Passphrase"),
                 show=_("Show my tip"))
    body = f"""
<h1>{w["title"]}</h1>
{_summary(tr, {}, general)}
<form method="post" action="{url(tr, "/check")}" accept-charset="utf-8">
<label for="code">{w["code"]}</label>
<input type="text" id="code" name="code" autocomplete="off" autocapitalize="characters" value="{esc(code)}">
<label for="passphrase">{w["passphrase"]}</label>
<input type="text" id="passphrase" name="passphrase" autocomplete="off" autocapitalize="none">
<button type="submit">{w["show"]}</button>
</form>"""
    return page(tr, _("Check replies"), body, languages=languages, here="/check")


def local_time(iso: str, timezone: str, tr: Translator = ENGLISH) -> str:
    """"Dec 2, 9:15 AM CST": the district's clock, as the school side reads it."""
    try:
        moment = datetime.fromisoformat(iso).astimezone(ZoneInfo(timezone))
    except (TypeError, ValueError):
        return str(iso)
    try:
        shown = format_datetime(moment, tr.gettext(TIME_PATTERN), locale=tr.lang)
    except (ValueError, KeyError, AttributeError, UnknownLocaleError):  # a broken pattern, a locale Babel lacks
        shown = format_datetime(moment, TIME_PATTERN, locale="en")
    return f"{shown} {moment:%Z}"


def thread(tr: Translator, view: dict, secret: str, errors: dict[str, str] | None = None,
           general: str | None = None, timezone: str = "UTC", *, picture_limit: int,
           languages: dict[str, str] | None = None, picture_refused: str | None = None,
           picture_attached: bool = False) -> str:
    """``view``: ``service.thread_view(thread, pictures=True)``."""
    _ = tr.gettext
    errors = errors or {}
    status = view["status"]
    w = _escaped(staff=_("Staff"), you=_("You"), title=tr.text(N_("Your tip {code}"), code=view["code"]),
                 status=_("Status:"), status_words=tr.text(STATUS_WORDS[status]) if status in STATUS_WORDS else status,
                 add=_("Add details"), message=_("Your message"), send=_("Send"))
    sent_with = esc(_("A picture was sent with this message."))
    picture = f'<p class="hint">{sent_with}</p>'
    msgs = "".join(
        f'<div class="msg {"staff" if m["from"] == "staff" else "you"}"><p><strong>'
        f'{w["staff"] if m["from"] == "staff" else w["you"]}</strong> · {esc(local_time(m["at"], timezone, tr))}'
        f'</p><p>{esc(m["text"])}</p>{picture if m.get("picture") else ""}</div>' for m in view["messages"])
    m_attrs, m_html = _described(tr, "message", errors, _("Anything you want to add or answer."))
    outcome = _picture_outcome(tr, picture_refused, picture_attached,
                               _("Your message was sent, but the picture was not attached."))
    picture_field = _picture_field(tr, errors, picture_limit, _("A screenshot or photo (optional)"))
    body = f"""
<h1>{w["title"]}</h1>
<p>{w["status"]} <strong>{w["status_words"]}</strong></p>
{outcome}
{_summary(tr, errors, general)}
{msgs}
<h2>{w["add"]}</h2>
<form method="post" action="{url(tr, "/check/followup")}" enctype="multipart/form-data" accept-charset="utf-8">
<input type="hidden" name="code" value="{esc(view["code"])}">
<input type="hidden" name="passphrase" value="{esc(secret)}">
<label for="message">{w["message"]}</label>{m_html}
<textarea id="message" name="message" rows="5" maxlength="{MESSAGE_MAX}"{m_attrs}></textarea>
{picture_field}
<button type="submit">{w["send"]}</button>
</form>"""
    return page(tr, _("Your tip"), body, languages=languages, here="/check",
                keep={"code": view["code"], "passphrase": secret})


def problem(tr: Translator, title: str, message: str, *, languages: dict[str, str] | None = None) -> str:
    return page(tr, title, f'<h1>{esc(title)}</h1><p role="alert">{esc(message)}</p>'
                           f"<p><strong>{emergency_html(tr)}</strong></p>", languages=languages)
