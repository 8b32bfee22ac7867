"""Routing of models trained before evidence-first paging (v1, v2), kept so a rollback to one
behaves exactly as it shipped. New models route with pipeline/nlp/routing.py.

From calibrated head scores and the analysis to severity, category and an SRO-readable why.

The rules encode DESIGN.md §4: self-harm goes to the counselor and is never a threat (a threat to
others that also carries self-harm stays a threat); a threat needs specifics (target, time, place,
weapon, means, countdown) to page as P1; talk that reads as idiom, game, sport, music, fiction or
a joke is P3 at most unless the model is sure and the post is specific; reports of someone else's
words and disavowals are P3; bullying and drugs are review-queue items (P3). docs/nlp.md has the
table.
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
REFLEXIVE = {"myself", "my self", "kms"}
THREAT_SHAPE = {"countdown", "target", "time", "means", "intent"}
HEDGES = ("negation", "disavowal", "conditional", "hypothetical", "quote_report", "news", "counter_speech")


def _quoted(words: list[str], limit: int = 2) -> str:
    return ", ".join(f"'{w}'" for w in list(dict.fromkeys(words))[:limit])


def _cap(severity: Severity, ceiling: Severity) -> Severity:
    order = ("none", "P3", "P2", "P1")
    return severity if order.index(severity) <= order.index(ceiling) else ceiling


def route(scores: Mapping[str, float], a: Analysis, thresholds: Mapping[str, Thresholds]) -> tuple[Severity, Category, list[str]]:
    threat, self_harm, bullying = scores["threat"], scores["self_harm"], scores["bullying"]
    specifics = a.specifics
    # "pep rally" names a time in a threat, not sports talk: a word counted as a specific is not
    # also an excuse.
    specific_words = {w.lower() for words in specifics.values() for w in words}
    transient = [k for k in TRANSIENT if {w.lower() for w in a.cues.get(k, [])} - specific_words]
    framing = [k for k in FRAMING if k in a.cues]
    at_school = a.school is not None and a.school.relevance >= 0.5
    why: list[str] = []

    sh_tier = thresholds["self_harm"].tier(self_harm)
    threat_tier = thresholds["threat"].tier(threat)
    bully_tier = thresholds["bullying"].tier(bullying)
    reported = [w for k in VIOLENT_WORDS for w in a.lexicon.get(k, [])]
    # "them, then me": a threat to others is the police's even when the writer's own risk is higher.
    harms_others = threat_tier in ("P1", "P2") and ("target" in a.cues or at_school)
    # A news story about overdoses is not a student at risk; everything else the self-harm head
    # flags reaches the counselor (sincere posts often drop the "I": "been cutting again").
    # "shoot myself with my dad's gun": the gun words lift the threat head, but the only target is
    # the writer, so it is self-harm (tiered by whichever head saw it) and goes to the counselor.
    reflexive = any(w.lower() in REFLEXIVE for w in a.cues.get("self_reference", []))
    aimed_at_self = reflexive and "target" not in a.cues and not transient and sh_tier == "none"
    self_tier = threat_tier if aimed_at_self else sh_tier
    if (self_tier != "none" and (self_harm >= threat or reflexive) and not harms_others
            and "news" not in a.cues):
        severity, category = self_tier, "self_harm"
        if aimed_at_self:
            why.append(f"Violent words aimed at the writer ({_quoted([w for w in a.cues['self_reference'] if w.lower() in REFLEXIVE])}): "
                       f"self-harm risk, {severity}: goes to the counselor on duty, not to police.")
        else:
            why.append(f"Self-harm risk {self_harm:.2f} ({severity}): goes to the counselor on duty, not to police.")
        if severity == "P1" and not any(k in a.cues for k in SELF_HARM_PLAN):
            severity = "P2"
            why.append("No time, means or goodbye mentioned, so P2 rather than P1.")
    elif threat_tier != "none" and not (bully_tier != "none" and bullying > threat) and (
            threat_tier != "P3" or VIOLENT_WORDS & a.lexicon.keys() or THREAT_SHAPE & a.cues.keys()):
        # A P3 on the score alone needs something in the post to point at (a violent word, a target,
        # a time, means, intent, a countdown): "proud to be a Lincoln Lynx" scores low but not zero.
        category = "violence"
        severity = _threat_severity(threat, threat_tier, a, thresholds["threat"], transient, at_school, why)
        if sh_tier != "none":
            why.append(f"Also self-harm risk {self_harm:.2f}: tell the counselor on duty too.")
    elif bully_tier != "none":
        severity, category = "P3", "bullying"
        why.append(f"Bullying {bullying:.2f} (P3: review queue, no page).")
    elif reported and "quote_report" in a.cues and "news" not in a.cues and not transient:
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


def _threat_severity(threat: float, tier: Severity, a: Analysis, t: Thresholds, transient: list[str],
                     at_school: bool, why: list[str]) -> Severity:
    """The model's tier, then the rules: P1 must be specific and violent, specifics without
    softening earn P1, reports and disavowals are P3, transient talk P3 (none without a school
    unless the score is strong)."""
    specifics = a.specifics
    severity = tier
    why.append(f"Threat of violence toward others {threat:.2f} ({severity}).")
    violent = bool(VIOLENT_WORDS & a.lexicon.keys())
    if severity == "P1" and len(specifics) < 2:
        severity = "P2"
        why.append("Fewer than two specifics (target, time, place, weapon), so P2 rather than P1.")
    if severity == "P1" and not violent:
        severity = "P2"  # paging at once must point at violent words in the post itself
        why.append("No violent or weapon words, so P2 rather than P1.")
    softened = [k for k in HEDGES if k in a.cues] + transient
    if severity == "P2" and len(specifics) >= 3 and violent and not softened:
        severity = "P1"  # substantive: who/when/where/what spelled out, nothing softening it
        why.append(f"{len(specifics)} specifics and violent words, nothing softening them, so P1.")
    if "quote_report" in a.cues and _cap(severity, "P3") != severity:  # the cue names another speaker
        severity = "P3"
        why.append(f"Reads as someone else's words being reported ({_quoted(a.cues['quote_report'])}): verify (P3).")
    sure = threat >= t.p1 and len(specifics) >= 2
    if "disavowal" in a.cues and not sure and _cap(severity, "P3") != severity:
        severity = "P3"
        why.append(f"The writer says they won't ({_quoted(a.cues['disavowal'])}), so P3 at most: worth a look, not a page.")
    if transient and not sure:
        # with a school, P3 at most; without one, only a strong score still reaches the review queue
        ceiling: Severity = "P3" if at_school or tier in ("P1", "P2") else "none"
        if _cap(severity, ceiling) != severity:
            severity = ceiling
            why.append(f"Reads as {TRANSIENT[transient[0]]} ({_quoted(a.cues[transient[0]])}), so "
                       + ("P3 at most." if ceiling == "P3" else "not flagged without a school link."))
    return severity
