"""From calibrated head scores and the analysis to severity, category and an SRO-readable why.

The rules encode DESIGN.md §4: self-harm goes to the counselor and is never a threat; a threat
needs specifics (target, time, place, weapon, means, countdown) to page as P1; talk that reads as
idiom, game, sport, music, fiction or a joke is P3 at most (none without a school), unless the
model is sure and the post is specific; bullying and drugs are review-queue items (P3).
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.nlp.analyzer import Analysis
from pipeline.nlp.verdict import Thresholds
from pipeline.schema import Category, Severity

TRANSIENT = {"idiom": "an idiom", "game": "game talk", "sports": "sports talk", "music": "music or lyrics",
             "fiction": "a movie, book or show", "laugh": "a joke"}
FRAMING = {"negation": "a negation", "disavowal": "the writer disavowing violence", "conditional": "a condition", "hypothetical": "a hypothetical",
           "quote_report": "someone else's words being reported", "news": "news framing",
           "counter_speech": "speaking out against violence", "support": "support for someone else"}
SPECIFIC_NAMES = {"target": "target", "time": "time", "place": "place", "weapon": "weapon",
                  "means": "means", "countdown": "countdown"}
SELF_HARM_PLAN = ("time", "means", "goodbye")
VIOLENT_WORDS = {"violence", "weapons"}
HEDGES = ("negation", "disavowal", "conditional", "hypothetical", "quote_report", "news", "counter_speech")


def _quoted(words: list[str], limit: int = 2) -> str:
    return ", ".join(f"'{w}'" for w in list(dict.fromkeys(words))[:limit])


def _cap(severity: Severity, ceiling: Severity) -> Severity:
    order = ("none", "P3", "P2", "P1")
    return severity if order.index(severity) <= order.index(ceiling) else ceiling


def route(scores: Mapping[str, float], a: Analysis, thresholds: Mapping[str, Thresholds]) -> tuple[Severity, Category, list[str]]:
    threat, self_harm, bullying = scores["threat"], scores["self_harm"], scores["bullying"]
    specifics = a.specifics
    transient = [k for k in TRANSIENT if k in a.cues]
    framing = [k for k in FRAMING if k in a.cues]
    at_school = a.school is not None and a.school.relevance >= 0.5
    why: list[str] = []

    sh_tier = thresholds["self_harm"].tier(self_harm)
    threat_tier = thresholds["threat"].tier(threat)
    bully_tier = thresholds["bullying"].tier(bullying)
    reported = [w for k in VIOLENT_WORDS for w in a.lexicon.get(k, [])]
    # "them, then me": a threat to others is the police's even when the writer's own risk is higher.
    harms_others = threat_tier in ("P1", "P2") and ("target" in a.cues or at_school)
    # Self-harm is about the writer: it needs the writer in the post (I/me, a goodbye or self-harm
    # words) and not a news story; a vape smell or a pill warning is not a student at risk.
    own_harm_words = set(a.lexicon.get("self_harm", [])) - set(a.lexicon.get("drugs", []))  # "pills" alone is drugs
    about_writer = bool({"self_reference", "goodbye"} & a.cues.keys() or own_harm_words)
    if sh_tier != "none" and self_harm >= threat and not harms_others and about_writer and "news" not in a.cues:
        severity, category = sh_tier, "self_harm"
        why.append(f"Self-harm risk {self_harm:.2f} ({severity}): goes to the counselor on duty, not to police.")
        if severity == "P1" and not any(k in a.cues for k in SELF_HARM_PLAN):
            severity = "P2"
            why.append("No time, means or goodbye mentioned, so P2 rather than P1.")
    elif threat_tier != "none" and not (bully_tier != "none" and bullying > threat):
        severity, category = threat_tier, "violence"
        why.append(f"Threat of violence toward others {threat:.2f} ({severity}).")
        if sh_tier != "none":
            why.append(f"Also self-harm risk {self_harm:.2f}: tell the counselor on duty too.")
        if severity == "P1" and len(specifics) < 2:
            severity = "P2"
            why.append("Fewer than two specifics (target, time, place, weapon), so P2 rather than P1.")
        if severity == "P1" and not VIOLENT_WORDS & a.lexicon.keys():
            severity = "P2"  # paging at once must point at violent words in the post itself
            why.append("No violent or weapon words, so P2 rather than P1.")
        softened = [k for k in HEDGES if k in a.cues] + transient
        if severity == "P2" and len(specifics) >= 3 and VIOLENT_WORDS & a.lexicon.keys() and not softened:
            severity = "P1"  # substantive: who/when/where/what spelled out, nothing softening it
            why.append(f"{len(specifics)} specifics and violent words, nothing softening them, so P1.")
        if "quote_report" in a.cues and "intent" not in a.cues and _cap(severity, "P3") != severity:
            severity = "P3"
            why.append(f"Reads as someone else's words being reported ({_quoted(a.cues['quote_report'])}): verify (P3).")
        sure = threat >= thresholds["threat"].p1 and len(specifics) >= 2
        if "disavowal" in a.cues and not sure and _cap(severity, "P3") != severity:
            severity = "P3"
            why.append(f"The writer says they won't ({_quoted(a.cues['disavowal'])}), so P3 at most: worth a look, not a page.")
        if transient and not sure:
            ceiling: Severity = "P3" if at_school else "none"
            if _cap(severity, ceiling) != severity:
                severity = _cap(severity, ceiling)
                why.append(f"Reads as {TRANSIENT[transient[0]]} ({_quoted(a.cues[transient[0]])}), so "
                           + ("P3 at most." if ceiling == "P3" else "not flagged without a school link."))
    elif bully_tier != "none":
        severity, category = "P3", "bullying"
        why.append(f"Bullying {bullying:.2f} (P3: review queue, no page).")
    elif reported and "quote_report" in a.cues and (at_school or "target" in a.cues) and "news" not in a.cues:
        severity, category = "P3", "violence"
        why.append(f"Reports someone else's threat ({_quoted(reported)}): verify (P3).")
    elif "weapons" in a.lexicon and "means" in a.cues and at_school and not transient:
        severity, category = "P3", "weapons"
        why.append(f"A weapon ({_quoted(a.lexicon['weapons'])}) and school in one post (P3: review).")
    elif "drugs" in a.lexicon and at_school and not set(framing) & {"news", "counter_speech", "support"}:
        severity, category = "P3", "drugs"
        why.append(f"Drugs ({_quoted(a.lexicon['drugs'])}) at school (P3: review).")
    else:
        return "none", "none", [f"Not flagged: threat {threat:.2f}, self-harm {self_harm:.2f}, bullying {bullying:.2f}."]

    if specifics and category in ("violence", "self_harm"):
        why.append("Specifics: " + "; ".join(f"{SPECIFIC_NAMES[k]} {_quoted(v)}" for k, v in specifics.items()) + ".")
    if framing:
        why.append("Context: " + "; ".join(f"{FRAMING[k]} ({_quoted(a.cues[k])})" for k in framing) + ".")
    return severity, category, why
