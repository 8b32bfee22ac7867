"""Evidence-first routing: from calibrated head scores, the analysis and its located statements
to severity, category and an SRO-readable why.

Scores rank and tier candidates; a score alone never pages. A P1/P2 needs evidence
(pipeline/nlp/evidence.py) that stands: a threat to others, or the writer's own wish or plan to
die or self-harm, that no negation, quote, fiction, game, music, news or joke scopes over. A
condition never softens a threat with a target. On a tip, a threat reported about a described
person is evidence too. Self-harm goes to the counselor; bullying, drugs and weapons talk without
a threat go to the review queue (P3). docs/nlp.md has the table.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.nlp.analyzer import Analysis
from pipeline.nlp.evidence import Evidence
from pipeline.nlp.verdict import Thresholds
from pipeline.schema import Category, Severity

FORMS = {"intent": "the writer's intent to harm others", "other_intent": "another person's stated plan to harm others",
         "wish": "a wish for someone's death or harm", "call": "a call for someone to be harmed",
         "deserve": "saying people deserve to die or be harmed", "imperative": "a call to kill",
         "passive": "telling others they will be harmed", "warning": "a warning to stay away",
         "doom": "a death foretold for others", "carry": "a weapon brought to a place",
         "statement": "a violent act aimed at someone, with a time, plan or condition",
         "self_plan": "the writer's own plan to die or self-harm", "self_wish": "the writer's own wish to die"}
SOFTENERS = {"negation": "a negation", "quote_report": "someone else's words being reported", "news": "news framing",
             "fiction": "a movie, book or show", "game": "game talk", "music": "music or lyrics", "laugh": "a joke",
             "idiom": "an idiom", "hypothetical": "a hypothetical", "counter_speech": "speaking out against violence",
             "sports": "sports talk"}
SPECIFIC_NAMES = {"target": "target", "time": "time", "place": "place", "weapon": "weapon", "means": "means",
                  "countdown": "countdown"}
SELF_HARM_PLAN = ("time", "means", "goodbye")
CONTEXT = {"negation": "a negation", "conditional": "a condition", "hypothetical": "a hypothetical",
           "quote_report": "someone else's words being reported", "news": "news framing",
           "counter_speech": "speaking out against violence", "support": "support for someone else"}


def _quoted(words: list[str], limit: int = 2) -> str:
    return ", ".join(f"'{w}'" for w in list(dict.fromkeys(words))[:limit])


def _stands(ev: Evidence, tip: bool) -> bool:
    """On a tip, a report is the point: another speaker's words are evidence, not a softener."""
    if not tip:
        return ev.stands
    return not (set(ev.softened) - {"quote_report"})


def route(scores: Mapping[str, float], a: Analysis, thresholds: Mapping[str, Thresholds],
          tip: bool = False) -> tuple[Severity, Category, list[str]]:
    threat, self_harm, bullying = scores["threat"], scores["self_harm"], scores["bullying"]
    threat_tier = thresholds["threat"].tier(threat)
    sh_tier = thresholds["self_harm"].tier(self_harm)
    bully_tier = thresholds["bullying"].tier(bullying)
    violence = [e for e in a.evidence if e.kind == "violence"]
    selfharm = [e for e in a.evidence if e.kind == "self_harm"]
    threats = [e for e in violence if _stands(e, tip)]
    own = [e for e in selfharm if e.stands or (tip and _stands(e, tip))]
    at_school = a.school is not None and a.school.relevance >= 0.5
    why: list[str] = []

    if threats:
        severity = _threat_severity(threats, threat, threat_tier, a, thresholds["threat"], tip, why)
        category: Category = "violence"
        if own or sh_tier in ("P1", "P2"):
            why.append("The writer's own risk shows too: tell the counselor on duty as well.")
    elif own:
        category = "self_harm"
        plan = [e for e in own if e.form == "self_plan"]
        severity = "P1" if plan and any(k in a.cues for k in SELF_HARM_PLAN) and sh_tier in ("P1", "P2") else "P2"
        why.append(_evidence_line(a, own))
        why.append(f"Self-harm risk {self_harm:.2f} ({severity}): goes to the counselor on duty, not to police.")
        if severity == "P2" and plan:
            why.append("No time, means or goodbye beside the plan, so P2 rather than P1.")
    elif violence and (tip or threat_tier != "none" or at_school or any(e.speaker == "other" for e in violence)):
        # A threat someone else made, or one the writer framed as a joke, game or quote: a person verifies it.
        severity, category = "P3", "violence"
        why.append(_evidence_line(a, violence))
        why.append(_softened_line(violence, tip))
    elif selfharm and (tip or sh_tier != "none"):
        severity, category = "P3", "self_harm"
        why.append(_evidence_line(a, selfharm))
        why.append(_softened_line(selfharm, tip) + " The counselor sees it in the review queue.")
    elif bully_tier != "none" and bullying >= max(threat, self_harm) * 0.5:
        severity, category = "P3", "bullying"
        why.append(f"Bullying {bullying:.2f} (P3: review queue, no page).")
    elif "drugs" in a.lexicon and (at_school or tip) and not {"news", "counter_speech", "support"} & a.cues.keys():
        severity, category = "P3", "drugs"
        why.append(f"Drugs ({_quoted(a.lexicon['drugs'])}){' at school' if at_school else ''}: review queue (P3), no page.")
    elif "weapons" in a.lexicon and "means" in a.cues and at_school:
        severity, category = "P3", "weapons"
        why.append(f"A weapon ({_quoted(a.lexicon['weapons'])}) and school in one post, but no threat: review (P3).")
    elif threat_tier in ("P1", "P2") and at_school and {"violence", "weapons"} & a.lexicon.keys():
        severity, category = "P3", "violence"
        why.append(f"Threat score {threat:.2f} with violent words and a school, but no statement of harm to "
                   "anyone: review (P3), no page.")
    elif sh_tier in ("P1",) and "self_harm" in a.lexicon:
        severity, category = "P3", "self_harm"
        why.append(f"Self-harm score {self_harm:.2f} with self-harm words, but no statement of the writer's own "
                   "wish or plan: the counselor sees it in the review queue (P3).")
    else:
        return "none", "none", [f"Not flagged: threat {threat:.2f}, self-harm {self_harm:.2f}, bullying {bullying:.2f}; "
                                "no statement of harm to anyone."]

    specifics = a.specifics
    if specifics and category in ("violence", "self_harm"):
        why.append("Specifics: " + "; ".join(f"{SPECIFIC_NAMES[k]} {_quoted(v)}" for k, v in specifics.items()) + ".")
    context = [k for k in CONTEXT if k in a.cues]
    if context:
        why.append("Context: " + "; ".join(f"{CONTEXT[k]} ({_quoted(a.cues[k])})" for k in context) + ".")
    return severity, category, why


def _threat_severity(threats: list[Evidence], threat: float, tier: Severity, a: Analysis, t: Thresholds,
                     tip: bool, why: list[str]) -> Severity:
    """A standing threat is P2; P1 when it is armed or lethal and specific (two or more of time,
    place, weapon, means, countdown). A fight is P2 only with a time or place, or on a tip."""
    why.append(_evidence_line(a, threats))
    severe = any(e.severe for e in threats)
    concrete = {k for k in a.specifics if k != "target"}
    if "conditional" in a.cues:
        why.append(f"A condition ({_quoted(a.cues['conditional'])}) does not soften a threat with a target.")
    if not severe and not concrete and not tip:
        why.append(f"A fight with no time or place named (threat {threat:.2f}): review (P3), no page.")
        return "P3"
    if all(e.form == "statement" for e in threats) and tier not in ("P1", "P2") and not tip:
        # the looser shape (act, pointer and target in one sentence) needs the model to agree
        why.append(f"The model is not sure it is a threat ({threat:.2f}): review (P3), no page.")
        return "P3"
    if tier == "none" and not tip:
        why.append(f"The model reads it as everyday talk ({threat:.2f}): review (P3), no page.")
        return "P3"
    if severe and len(concrete) >= 2 and (tier in ("P1", "P2") or len(concrete) >= 3 or tip):
        why.append(f"Threat of violence toward others {threat:.2f}, armed or lethal, with "
                   f"{len(concrete)} specifics: P1, page now.")
        return "P1"
    why.append(f"Threat of violence toward others {threat:.2f}: P2, alert.")
    return "P2"


def _evidence_line(a: Analysis, found: list[Evidence]) -> str:
    first = found[0]
    who = "" if first.speaker == "writer" else " (someone else's words)"
    return f"Evidence: '{a.quote(first)}' ({FORMS[first.form]}){who}."


def _softened_line(found: list[Evidence], tip: bool) -> str:
    names = [s for e in found for s in e.softened]
    if not names:
        return "Someone else's words: a person verifies it (P3)."
    return f"Softened by {SOFTENERS.get(names[0], names[0])}: worth a look, not a page (P3)."
