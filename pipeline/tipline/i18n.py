"""The tip line in the tipster's language (docs/tipline.md, "Languages").

Strings are marked for gettext: ``_()`` in the page functions, ``N_()`` for module constants
translated where they are shown, ``Message()`` for error sentences that are raised in English
(what the JSON API and the logs say) and translated when a page shows them. The catalogs are
the ``.po`` files in ``locales/``, compiled in memory when the app starts: no ``.mo`` file is
built, installed or committed.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from starlette.requests import Request

from pipeline.config import ConfigError

LOCALES = Path(__file__).resolve().parent / "locales"
DOMAIN = "tipline"
SOURCE = "en"  # msgids are the English text
_MAX_PREFERENCES = 20  # of an Accept-Language header: no browser sends more


def N_(msgid: str) -> str:
    """Marks ``msgid`` for extraction only; it is translated where it is shown."""
    return msgid


class Message(str):
    """An English sentence that remembers its msgid and parameters, so a page can show it in
    the tipster's language while the API, tests and logs see the English text."""

    def __new__(cls, msgid: str, **params: object):
        self = super().__new__(cls, msgid.format(**params) if params else msgid)
        self.msgid, self.params = msgid, params
        return self


@dataclass(frozen=True)
class Translator:
    lang: str
    translations: gettext.NullTranslations

    def gettext(self, msgid: str) -> str:
        return self.translations.gettext(msgid)

    def pgettext(self, context: str, msgid: str) -> str:
        return self.translations.pgettext(context, msgid)

    def text(self, value: str, **params: object) -> str:
        """``value`` translated: a ``Message`` with its own parameters, a marked constant with
        ``params``. A translation that does not fit its parameters falls back to English: a
        slip in a catalog must never break the page that shows the crisis lines."""
        if isinstance(value, Message):
            msgid, params = value.msgid, value.params
        else:
            msgid = value
        try:
            translated = self.gettext(msgid)
            return translated.format(**params) if params else translated
        except (KeyError, IndexError, ValueError):
            return msgid.format(**params) if params else msgid


ENGLISH = Translator(SOURCE, gettext.NullTranslations())


def catalog_path(lang: str, locales: Path = LOCALES) -> Path:
    return locales / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def load_translations(lang: str, locales: Path = LOCALES) -> gettext.NullTranslations:
    """The catalog of ``lang`` compiled in memory (fuzzy entries left out, as msgfmt does)."""
    if lang == SOURCE:
        return gettext.NullTranslations()
    path = catalog_path(lang, locales)
    try:
        with path.open("rb") as f:
            catalog = read_po(f, locale=lang)
    except OSError:
        raise ConfigError(f"tipline.languages: no catalog for {lang!r} ({path}); see docs/tipline.md") from None
    except Exception as exc:  # noqa: BLE001 - a broken catalog must stop start-up in one line
        raise ConfigError(f"tipline.languages: the catalog {path} cannot be read: {exc}") from None
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def accepted(header: str | None) -> list[str]:
    """The language tags of an Accept-Language header, most wanted first (q=0 left out)."""
    ranked = []
    for order, part in enumerate((header or "").split(",")[:_MAX_PREFERENCES]):
        tag, *params = [p.strip() for p in part.split(";")]
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, order, tag.lower()))
    return [tag for _, _, tag in sorted(ranked)]


class Languages:
    """The configured languages, each with its translator; which one a request gets."""

    def __init__(self, codes: list[str], locales: Path = LOCALES):
        self.codes = list(codes)
        self._translators = {code: Translator(code, load_translations(code, locales)) for code in self.codes}
        # Each language named in itself ("English", "Español"), for the switcher.
        self.names = {code: _own_name(code) for code in self.codes}

    def choose(self, asked: str | None, accept_language: str | None) -> str:
        """An explicit ``?lang=`` if configured, else the browser's first configured preference
        (``es-MX`` counts as ``es``), else English."""
        if asked in self._translators:
            return asked
        for tag in accepted(accept_language):
            for code in (tag, tag.split("-")[0]):
                if code in self._translators:
                    return code
        return SOURCE

    def translator(self, lang: str) -> Translator:
        return self._translators.get(lang, ENGLISH)

    def of(self, request: Request) -> Translator:
        return self.translator(self.choose(request.query_params.get("lang"), request.headers.get("accept-language")))


def _own_name(code: str) -> str:
    try:
        name = Locale.parse(code).get_display_name(code) or code
    except (ValueError, LookupError, UnknownLocaleError):  # a language Babel has no data for
        return code
    return name[:1].upper() + name[1:]
