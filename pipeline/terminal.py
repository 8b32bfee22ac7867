"""Untrusted text on a terminal: posts, tips, names and reasons people typed are shown, never obeyed.

A terminal acts on control characters: ESC [2J clears the screen, ESC ]0;… BEL retitles the
window, U+009B is a one-character CSI on some terminals, CR overwrites the line, and the bidi
overrides make a line read other than it is. Rich's ``Text`` escapes markup but passes ESC
through (and silently drops BEL and CR), so every CLI line built from stored or fetched text goes
through ``printable`` / ``safe_text`` (or ``json_line`` for JSON output) first.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rich.text import Text

# C0 (ESC among them), DEL, C1, and the bidi marks, overrides and isolates.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROLS_BUT_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# What json.dumps(ensure_ascii=False) leaves raw: it escapes only C0.
_JSON_RAW = re.compile("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(value: object, *, keep_lines: bool = True) -> str:
    """``value`` as text with every control character written out (``\\x1b``, ``\\u202e``), so
    nothing is lost and nothing acts. ``keep_lines`` leaves newlines and tabs as they are."""
    pattern = _CONTROLS_BUT_LINES if keep_lines else _CONTROLS
    return pattern.sub(_escape, str(value))


def safe_text(value: object, *, keep_lines: bool = True, **kwargs: Any) -> Text:
    """A rich ``Text`` (never markup) of ``printable(value)``."""
    return Text(printable(value, keep_lines=keep_lines), **kwargs)


def json_line(obj: Any, **kwargs: Any) -> str:
    """``json.dumps(obj, ensure_ascii=False)`` with DEL, C1 and bidi controls escaped as
    ``\\uXXXX`` too: the same JSON value, safe to print on a terminal."""
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
