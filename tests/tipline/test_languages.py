"""The tip line in Spanish and English: the language a page is in, how it is chosen and kept from
page to page, the catalog complete and in step with the code, and text still escaped in both."""

from __future__ import annotations

import gettext
import re
import string

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po
from tipline_server import serving, with_tipline

from pipeline.config import ConfigError
from pipeline.tipline import create_app, pages
from pipeline.tipline.i18n import DOMAIN, LOCALES, Languages, Translator, accepted, catalog_path
from pipeline.tipline.threads import SqliteThreadStore

SPANISH_988 = 'llama al <a href="tel:988">988</a> y oprime 2 para español'
SPANISH_TEXT_LINE = 'envía AYUDA por mensaje de texto al <a href="sms:741741?body=AYUDA">741741</a>'


def html_lang(page: str) -> str:
    return re.search(r'<html lang="([^"]+)"', page).group(1)


def form_action(page: str, path: str) -> str:
    """The action of the page's form that posts to ``path`` (with its query string)."""
    return re.search(rf'<form method="post" action="({re.escape(path)}(?:\?[^"]*)?)"[^>]*>\s*<(?:label|input)',
                     page).group(1)


def secrets_on(page: str) -> tuple[str, str]:
    code, phrase = re.findall(r'<p class="secret">([^<]+)</p>', page)
    return code, phrase


def test_the_form_in_spanish_with_the_spanish_crisis_lines(tipline):
    r = tipline.http.get("/", params={"lang": "es"})
    assert r.status_code == 200 and html_lang(r.text) == "es"
    page = r.text
    assert "<h1>Reporta un problema de seguridad</h1>" in page and '<label for="message">Qué pasó (obligatorio)' in page
    assert 'Si alguien está en peligro ahora mismo, llama al <a href="tel:911">911</a>.' in page
    assert SPANISH_988 in page and SPANISH_TEXT_LINE in page
    assert "Report a safety concern" not in page and "text HOME" not in page
    # The switcher: English is a link to this page in English; Spanish, the current one, is not.
    assert '<a href="/?lang=en" lang="en" hreflang="en">English</a>' in page
    assert '<span lang="es" aria-current="true">Español</span>' in page
    assert form_action(page, "/") == "/?lang=es" and 'href="/check?lang=es"' in page


def test_english_stays_the_default_with_every_crisis_line(tipline):
    page = tipline.http.get("/").text
    assert html_lang(page) == "en" and "<h1>Report a safety concern</h1>" in page
    assert 'text HOME to <a href="sms:741741?body=HOME">741741</a>' in page
    assert '<a href="/?lang=es" lang="es" hreflang="es">Español</a>' in page


@pytest.mark.parametrize("header, lang", [
    ("es-MX,es;q=0.9,en;q=0.8", "es"),      # a region counts as its language
    ("en;q=0.5, es;q=0.9", "es"),            # by quality, not order
    ("fr-CA, de;q=0.9, es;q=0.1", "es"),     # the first configured one
    ("es;q=0, en", "en"),                    # q=0: not wanted
    ("fr, de", "en"),                        # none configured: English
    ("", "en"),
])
def test_accept_language_chooses_among_the_configured_languages(tipline, header, lang):
    assert html_lang(tipline.http.get("/check", headers={"Accept-Language": header}).text) == lang


def test_an_explicit_choice_beats_the_browser(tipline):
    page = tipline.http.get("/", params={"lang": "en"}, headers={"Accept-Language": "es"}).text
    assert html_lang(page) == "en" and form_action(page, "/") == "/?lang=en"


def test_an_unconfigured_language_falls_back_to_english(rt, tmp_path):
    with serving(rt, tmp_path, languages=["en"]) as t:
        for r in (t.http.get("/", params={"lang": "es"}), t.http.get("/", headers={"Accept-Language": "es"})):
            assert html_lang(r.text) == "en" and "Report a safety concern" in r.text
            assert 'lang="es"' not in r.text  # one language: no switcher
    with serving(rt, tmp_path) as t:  # French has no catalog and is not configured
        assert html_lang(t.http.get("/", params={"lang": "fr"}, headers={"Accept-Language": "fr"}).text) == "en"
        assert html_lang(t.http.get("/", params={"lang": "../../etc"}).text) == "en"


def test_a_configured_language_without_a_catalog_stops_start_up(rt):
    with pytest.raises(ConfigError, match=r"tipline.languages: no catalog for 'fr'"):
        create_app(with_tipline(rt, languages=["en", "fr"]))


def test_the_language_is_kept_from_the_form_to_the_thread_and_its_follow_up(tipline):
    form = tipline.http.get("/", params={"lang": "es"}).text
    r = tipline.http.post(form_action(form, "/"), files={"message": (None, "Alguien trajo un cuchillo")})
    assert r.status_code == 201 and html_lang(r.text) == "es"
    assert "Gracias. Recibimos tu reporte." in r.text and "Anótalos ahora" in r.text
    assert 'lang="en"' not in r.text  # no switcher on the receipt: leaving it would lose the secrets
    code, phrase = secrets_on(r.text)
    check = tipline.http.get(re.search(r'href="(/check\?lang=es)"', r.text).group(1)).text
    thread = tipline.http.post(form_action(check, "/check"), data={"code": code, "passphrase": phrase})
    assert thread.status_code == 200 and html_lang(thread.text) == "es"
    assert "Recibido. El personal de la escuela lo va a leer." in thread.text
    assert "Alguien trajo un cuchillo" in thread.text and re.search(r"<strong>Tú</strong> · \d+ de \w+", thread.text)
    follow = tipline.http.post(form_action(thread.text, "/check/followup"),
                               data={"code": code, "passphrase": phrase, "message": "Es el chico de la mochila roja"})
    assert follow.status_code == 201 and html_lang(follow.text) == "es" and "mochila roja" in follow.text
    # On the thread page the switcher posts the code and passphrase again, so the thread stays open.
    english = re.search(r'<form method="post" action="/check\?lang=en"[^>]*>(.*?)</form>', follow.text).group(1)
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', english))
    assert fields == {"code": code, "passphrase": phrase}
    again = tipline.http.post("/check?lang=en", data=fields)
    assert html_lang(again.text) == "en" and "Received. School staff will read it." in again.text
    assert len(tipline.raw_tips(expect=2)) == 2


def test_errors_are_in_the_tipsters_language_and_the_api_keeps_english_with_codes(tipline):
    r = tipline.http.post("/?lang=es", files={"message": (None, ""), "contact": (None, "yo")})
    assert r.status_code == 422 and html_lang(r.text) == "es"
    assert 'id="message-error">Escribe lo que viste o escuchaste.' in r.text and "Corrige los campos marcados" in r.text
    assert 'value="yo"' in r.text  # what was typed is kept
    missing = tipline.http.get("/nada", params={"lang": "es"})
    assert missing.status_code == 404 and "No hay ninguna página en esta dirección." in missing.text
    assert SPANISH_988 in missing.text
    api = tipline.http.post("/api/tips", json={"message": ""}, headers={"Accept-Language": "es"})
    assert api.status_code == 422 and api.json()["code"] == "invalid_fields"
    assert api.json()["fields"] == {"message": "Please write what you saw or heard."}
    assert api.json()["emergency"] == pages.EMERGENCY
    unknown = tipline.http.get("/api/tips/ZZZZZZZZZZ", headers={"X-Tip-Passphrase": "x"})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert tipline.http.get("/api/tips/ZZZZZZZZZZ").json()["code"] == "passphrase_required"
    assert tipline.http.get("/api/nope").json()["code"] == "no_such_page"


def test_untrusted_text_is_escaped_in_both_languages(tipline):
    payload = '<img src=x onerror=alert(1)> "><script>alert(2)</script>'
    for lang in ("en", "es"):
        r = tipline.http.post(f"/?lang={lang}", files={"message": (None, ""), "contact": (None, payload)})
        assert r.status_code == 422 and html_lang(r.text) == lang
        assert "<script>alert(2)" not in r.text and "<img src=x" not in r.text
        assert "&lt;img src=x onerror=alert(1)&gt; &quot;&gt;&lt;script&gt;" in r.text
        r = tipline.http.post(f"/?lang={lang}", files={"message": (None, payload)})
        code, phrase = secrets_on(r.text)
        tipline.threads.add_message(code, "staff", "<b>staff</b> & co")
        page = tipline.http.post(f"/check?lang={lang}", data={"code": code, "passphrase": phrase}).text
        assert "<script>alert(2)" not in page and "<b>staff" not in page
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page and "&lt;b&gt;staff&lt;/b&gt; &amp; co" in page


class Catalog(gettext.NullTranslations):
    """A catalog that says what it is told to, for testing what pages do with translations."""

    def __init__(self, words: dict[str, str]):
        super().__init__()
        self.words = words

    def gettext(self, message):
        return self.words.get(message, message)


def test_translations_are_escaped_and_a_broken_one_falls_back_to_english():
    tr = Translator("xx", Catalog({"Report a safety concern": "<i>Report</i>",
                                   pages.DANGER: "<b>call</b> {n911} & {wrong}",
                                   pages.TIME_PATTERN: "MMM d, QQQQQQQ"}))
    page = pages.tip_form(tr, ["Lincoln High School"], picture_limit=1024 * 1024)
    assert "<h1>&lt;i&gt;Report&lt;/i&gt;</h1>" in page and "<i>" not in page
    # A placeholder the code does not fill: that sentence is shown in English, never a broken page.
    assert 'If someone is in danger right now, call <a href="tel:911">911</a>.' in page
    assert pages.emergency(tr).startswith("If someone is in danger right now, call 911.")
    assert pages.local_time("2025-12-02T15:15:00+00:00", "America/Chicago", tr) == "Dec 2, 9:15 AM CST"


def test_spanish_times_on_the_districts_clock():
    es = Languages(["en", "es"]).translator("es")
    assert pages.local_time("2025-12-02T15:15:00+00:00", "America/Chicago", es) == "2 de dic, 9:15 a.\u202fm. CST"
    assert pages.local_time("2025-07-02T20:05:00+00:00", "America/Chicago", es) == "2 de jul, 3:05 p.\u202fm. CDT"


def test_accept_language_parsing():
    assert accepted("es-MX, en;q=0.8, fr;q=0.9, *;q=0.1, de;q=0, it;q=bogus") == ["es-mx", "fr", "en", "*"]
    assert accepted(None) == [] and accepted(",,;") == []


# --- the catalogs ------------------------------------------------------------------------------------


def extracted_ids() -> set:
    """Every string marked in the tip line's code, as `make tipline-messages` extracts it."""
    keywords = {**DEFAULT_KEYWORDS, "N_": None, "Message": None}
    found = extract_from_dir(LOCALES.parent, [("**.py", "python")], keywords=keywords)
    return {(context, msgid) for _file, _line, msgid, _comments, context in found}


def catalog(lang: str | None):
    path = LOCALES / f"{DOMAIN}.pot" if lang is None else catalog_path(lang)
    with path.open("rb") as f:
        return read_po(f, locale=lang)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_the_template_and_every_catalog_hold_exactly_the_strings_in_the_code():
    """Fails when a string was marked, changed or removed without `make tipline-messages`."""
    marked = extracted_ids()
    assert len(marked) > 50
    assert {(m.context, m.id) for m in catalog(None) if m.id} == marked
    translated = [path.name for path in LOCALES.iterdir() if path.is_dir()]
    assert "es" in translated
    for lang in translated:
        assert {(m.context, m.id) for m in catalog(lang) if m.id} == marked, lang


def test_every_spanish_string_is_translated_with_the_same_placeholders():
    es = catalog("es")
    untranslated = [m.id for m in es if m.id and (not m.string or m.fuzzy)]
    assert untranslated == []
    for m in es:
        if m.id and m.id != pages.TIME_PATTERN:
            assert placeholders(m.string) == placeholders(m.id), m.id
    assert [error for message in es for error in message.check(es)] == []
    assert es.get("HOME", context="Crisis Text Line keyword").string == "AYUDA"


class BrokenReads(SqliteThreadStore):
    def get(self, code):
        raise RuntimeError("unforeseen")


def test_even_an_unexpected_error_answers_in_the_tipsters_language(rt, tmp_path):
    with serving(rt, tmp_path, threads=BrokenReads(tmp_path / "t.sqlite3")) as t:
        r = t.http.post("/check?lang=es", data={"code": "ABCDEFGHJK", "passphrase": "x"})
        api = t.http.get("/api/tips/ABCDEFGHJK", headers={"X-Tip-Passphrase": "x", "Accept-Language": "es"})
    assert r.status_code == 500 and html_lang(r.text) == "es" and "Algo salió mal de nuestro lado" in r.text
    assert SPANISH_988 in r.text
    assert api.status_code == 500 and api.json()["code"] == "unexpected" and "try again" in api.json()["error"]
