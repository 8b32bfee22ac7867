"""Undo the spelling tricks people use to dodge keyword filters, keeping offsets into the original.

Every pass is a regex substitution that also rewrites the offset map, so a span of the normalised
text can always be shown to a reviewer as the exact characters the author wrote. Pure functions.

Rewrites that could invent a word (leetspeak, spaced letters, elongation) only apply when the
result is a word we know, so "3rd", "b4" or "10am" are never turned into nonsense.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass

# Emoji that carry meaning in this domain become words the lexicons and n-grams can see.
EMOJI_WORDS = {
    "🔫": "gun", "🔪": "knife", "🗡": "knife", "💣": "bomb", "🧨": "bomb", "💥": "boom",
    "🩸": "blood", "⚰": "coffin", "🪦": "grave", "💀": "skull", "☠": "skull", "🎯": "target",
    "⏳": "countdown", "⌛": "countdown", "⏰": "clock", "💊": "pills", "🪓": "axe",
    "😂": "lol", "🤣": "lol", "😹": "lol",
}

LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                      "$": "s", "!": "i", "|": "l", "+": "t"})

# Look-alike letters from other scripts that NFKC leaves alone.
CONFUSABLES = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
    "ѕ": "s", "к": "k", "м": "m", "т": "t", "н": "h", "в": "b", "А": "A", "В": "B", "Е": "E",
    "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X", "ο": "o",
    "α": "a", "ι": "i", "κ": "k", "ν": "v", "τ": "t", "ε": "e", "Ο": "O", "Α": "A", "Β": "B",
})

_ENTITY = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});")
_INVISIBLE = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u00ad\u200b-\u200f\u2060\ufeff\ufe0e\ufe0f]+")
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_HASHTAG = re.compile(r"(?<!\w)#(\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")
_MENTION = re.compile(r"(?<![\w@])@(\w{1,30})")
_EMOJI = re.compile("|".join(sorted(map(re.escape, EMOJI_WORDS), key=len, reverse=True)))
_LEETY = re.compile(r"(?<![\w@$!|+])(?=[\w@$!|+]*[A-Za-z])(?=[\w@$!|+]*[013457@$!|+])[\w@$!|+]{3,}(?![\w@$!|+])")
_STARRED = re.compile(r"(?<![\w*])(?=[\w*]*[A-Za-z])[A-Za-z]*\*+[A-Za-z*]*(?![\w*])")  # "g*n", "k*ll"
_SPACED = re.compile(r"(?<![\w])(?:[A-Za-z][ .\-_*]){2,}[A-Za-z](?![\w])")
_ELONGATED = re.compile(r"\b\w*(\w)\1{2,}\w*\b")
_SPACES = re.compile(r"[ \t]{2,}")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# Cheap pre-checks (Python's re scans character classes slowly; literals and str methods are fast).
_LEET_CHARS = "013457@$!|+"
_LEET_HINT = re.compile(r"[A-Za-z][0-9@$!|+]|[0-9@$!|+][A-Za-z]")
_SPACED_HINT = re.compile(r" [A-Za-z][ .\-_*][A-Za-z][ .\-_*][A-Za-z]")
_REPEAT_HINT = re.compile(r"(.)\1\1")


@dataclass(frozen=True)
class Normalized:
    original: str
    text: str
    starts: tuple[int, ...]  # text[i] came from original[starts[i]:ends[i]]
    ends: tuple[int, ...]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The characters of the original text that produced text[start:end]."""
        if start >= end:
            edge = self.starts[start] if start < len(self.starts) else len(self.original)
            return edge, edge
        return self.starts[start], self.ends[end - 1]

    def original_text(self, start: int, end: int) -> str:
        a, b = self.original_span(start, end)
        return self.original[a:b]


_State = tuple[str, list[int], list[int]]


def _sub(state: _State, pattern: re.Pattern[str], replace: Callable[[re.Match[str]], str | None]) -> _State:
    text, starts, ends = state
    pieces: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    last = 0
    for match in pattern.finditer(text):
        new = replace(match)
        if new is None or new == match.group(0):
            continue
        start, end = match.span()
        pieces.append(text[last:start])
        new_starts.extend(starts[last:start])
        new_ends.extend(ends[last:start])
        if len(new) == end - start:  # letter for letter (leetspeak, look-alikes): keep precision
            new_starts.extend(starts[start:end])
            new_ends.extend(ends[start:end])
        else:  # anything else stands for the whole match
            first, after = starts[start], ends[end - 1]
            new_starts.extend([first] * len(new))
            new_ends.extend([after] * len(new))
        pieces.append(new)
        last = end
    if not pieces:
        return state
    pieces.append(text[last:])
    new_starts.extend(starts[last:])
    new_ends.extend(ends[last:])
    return "".join(pieces), new_starts, new_ends


def _fold_char(char: str) -> str:
    folded = char.translate(CONFUSABLES)
    if folded != char or char in EMOJI_WORDS:
        return folded
    # NFKC folds fullwidth letters and ligatures; leave emoji and other symbols as they are.
    return unicodedata.normalize("NFKC", char) if unicodedata.category(char).startswith(("L", "N")) else char


def _split_camel(tag: str) -> str:
    return _CAMEL.sub(" ", tag)


class Normalizer:
    """Normalises texts for matching and features. ``known_words`` (lower case) gates the
    rewrites that could otherwise invent words."""

    def __init__(self, known_words: Collection[str] = frozenset()):
        self.known = frozenset(w.lower() for w in known_words)
        # Each pass runs only when a cheap test says it could apply: most posts need none of them.
        self.passes: list[tuple[Callable[[str], bool], re.Pattern[str], Callable[[re.Match[str]], str | None]]] = [
            (lambda t: "&" in t, _ENTITY, lambda m: html.unescape(m.group(0))),
            (lambda t: not t.isascii() or not t.isprintable(), _INVISIBLE, lambda m: ""),
            (_not_ascii, _NON_ASCII, lambda m: _fold_char(m.group(0))),
            (lambda t: "http" in t or "www." in t, _URL, lambda m: " url "),
            (lambda t: "#" in t, _HASHTAG, lambda m: " " + _split_camel(m.group(1)) + " "),
            (lambda t: "@" in t, _MENTION, lambda m: " @mention "),
            (_not_ascii, _EMOJI, lambda m: f" {EMOJI_WORDS[m.group(0)]} "),
            (_could_be_leet, _LEETY, self._unleet),
            (lambda t: "*" in t, _STARRED, self._unstar),
            (_could_be_spaced, _SPACED, self._unspace),
            (_has(_REPEAT_HINT), _ELONGATED, self._unstretch),
            (lambda t: "  " in t or "\t" in t, _SPACES, lambda m: " "),
        ]

    def __call__(self, text: str) -> Normalized:
        state: _State = (text, list(range(len(text))), list(range(1, len(text) + 1)))
        for applies, pattern, replace in self.passes:
            if applies(state[0]):
                state = _sub(state, pattern, replace)
        return Normalized(text, state[0], tuple(state[1]), tuple(state[2]))

    def _known_form(self, *candidates: str) -> str | None:
        return next((c for c in candidates if c.lower() in self.known), None)

    def _unleet(self, m: re.Match[str]) -> str | None:
        word = m.group(0)
        if word.isdigit():
            return None
        return self._known_form(word.translate(LEET), word.translate(LEET).replace("i", "l"))

    def _unstar(self, m: re.Match[str]) -> str | None:
        word = m.group(0)
        # "u" first: "g*n" is "gun", not the slang "gon"
        return self._known_form(*(word.replace("*", v) for v in "uioae"))

    def _unspace(self, m: re.Match[str]) -> str | None:
        return self._known_form(re.sub(r"[ .\-_*]", "", m.group(0)))

    def _unstretch(self, m: re.Match[str]) -> str | None:
        word = m.group(0)
        two = re.sub(r"(\w)\1{2,}", r"\1\1", word)
        return self._known_form(re.sub(r"(\w)\1{2,}", r"\1", word), two) or two


def normalize(text: str, known_words: Collection[str] = frozenset()) -> Normalized:
    return Normalizer(known_words)(text)


def _could_be_leet(text: str) -> bool:
    return any(c in text for c in _LEET_CHARS) and _LEET_HINT.search(text) is not None


def _could_be_spaced(text: str) -> bool:
    return _SPACED_HINT.search(" " + text) is not None


def _not_ascii(text: str) -> bool:
    return not text.isascii()


def _has(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda text: pattern.search(text) is not None
