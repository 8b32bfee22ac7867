"""The words that made the classifier flag a text, marked in it for the reader.

The text is escaped first and the cue words are found in the escaped text (escaped the same way),
so nothing from the post ever reaches the page unescaped: the only markup added is our own
``<mark>``. A match may start or end only where the raw text had a character boundary, never
inside an entity: a cue "lt" or "amp" must not cut ``&lt;`` in two and let a ``<`` through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from markupsafe import Markup, escape

MAX_TERMS = 50      # more than any verdict carries; bounds the pattern
MAX_TERM = 200
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|\w+);")


def cue_words(cues: Iterable[object]) -> list[str]:
    """The words as written from cues such as ``lexicon:violence:gun`` or ``cue:target:Lincoln``
    (``kind:name:words``); a cue without that shape is taken whole."""
    words = []
    for cue in cues:
        if not isinstance(cue, str):
            continue
        parts = cue.split(":", 2)
        word = (parts[2] if len(parts) == 3 else cue).strip()
        if word and len(word) <= MAX_TERM:
            words.append(word)
    return list(dict.fromkeys(words))[:MAX_TERMS]


def _inside_entity(entities: list[tuple[int, int]], at: int) -> bool:
    return any(start < at < end for start, end in entities)


def highlight(text: object, cues: Iterable[object]) -> Markup:
    """``text`` escaped, each whole-word, case-insensitive match of a cue's words in ``<mark>``."""
    escaped = str(escape("" if text is None else str(text)))
    words = sorted(cue_words(cues), key=len, reverse=True)  # the longest cue wins where two overlap
    if not words:
        return Markup(escaped)
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(str(escape(w))) for w in words) + r")(?!\w)",
                         re.IGNORECASE)
    entities = [m.span() for m in _ENTITY.finditer(escaped)]
    out, last = [], 0
    for match in pattern.finditer(escaped):
        start, end = match.span()
        if _inside_entity(entities, start) or _inside_entity(entities, end):
            continue
        out += [escaped[last:start], "<mark>", match.group(), "</mark>"]
        last = end
    out.append(escaped[last:])
    return Markup("".join(out))
