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

import re
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
         "act": "a violent act and someone it is aimed at",
         "self_plan": "the writer's own plan to die or self-harm", "self_wish": "the writer's own wish to die",
         "self_hint": "signs of the writer's own risk"}
LOOSE = ("statement", "act")  # sentence-wide shapes that page only when the threat score agrees
SOFTENERS = {"negation": "a negation", "quote_report": "someone else's words being reported", "news": "news framing",
             "fiction": "a movie, book or show", "game": "game talk", "music": "music or lyrics", "laugh": "a joke",
             "idiom": "an idiom", "hypothetical": "a hypothetical", "counter_speech": "speaking out against violence",
             "sports": "sports talk", "past": "something that already happened",
             "everyday": "an everyday purpose"}
SPECIFIC_NAMES = {"target": "target", "time": "time", "place": "place", "weapon": "weapon", "means": "means",
                  "countdown": "countdown"}
SELF_HARM_PLAN = ("time", "means", "goodbye")
CONTEXT = {"negation": "a negation", "conditional": "a condition", "hypothetical": "a hypothetical",
           "quote_report": "someone else's words being reported", "news": "news framing",
           "counter_speech": "speaking out against violence", "support": "support for someone else"}


def _quoted(words: list[str], limit: int = 2) -> str:
    return ", ".join(f"'{w}'" for w in list(dict.fromkeys(words))[:limit])


# On a tip, a report is the point: another speaker's words, or what "was reported", are evidence.
TIP_REPORTING = {"quote_report", "news"}
# "i'll murder you if you eat my leftovers": said to one person or anyone, with nothing concrete
SAID_TO_YOU = re.compile(r"\b(?:you|u|ya|y'?all|yall|anyone|anybody|whoever)\W*$")
# Drug words that are also everyday words ("riding high", "lincoln high"): on their own they need a tip.
AMBIGUOUS_DRUGS = {"high", "gas", "ice", "snow", "grass", "pot", "dope", "tree", "trees", "green", "smoke", "bars", "plug"}


def _stands(ev: Evidence, tip: bool) -> bool:
    if not tip:
        return ev.stands
    return not (set(ev.softened) - TIP_REPORTING)


def route(scores: Mapping[str, float], a: Analysis, thresholds: Mapping[str, Thresholds],
          tip: bool = False) -> tuple[Severity, Category, list[str]]:
    threat, self_harm, bullying = scores["threat"], scores["self_harm"], scores["bullying"]
    threat_tier = thresholds["threat"].tier(threat)
    sh_tier = thresholds["self_harm"].tier(self_harm)
    bully_tier = thresholds["bullying"].tier(bullying)
    # a bare act with a target ("shoot every one of them") is evidence only when the model is sure of it
    violence = [e for e in a.evidence if e.kind == "violence" and (e.form != "act" or threat_tier == "P1")]
    selfharm = [e for e in a.evidence if e.kind == "self_harm"]
    threats = [e for e in violence if _stands(e, tip)]
    if threat_tier == "none" and not tip:
        threats = [e for e in threats if e.form not in LOOSE]  # the looser shapes need the model to see a threat at all
    own = [e for e in selfharm if e.stands or (tip and _stands(e, tip))]
    if all(e.form == "self_hint" for e in own) and sh_tier not in ("P1", "P2"):
        own = []  # the looser signs page only when the self-harm score agrees
    if own and all(e.form in LOOSE for e in threats):
        threats = []  # "im going to jump off the overpass after school": the writer's own risk, not a loose threat
    at_school = a.school is not None and a.school.relevance >= 0.5
    bullied = bully_tier != "none" and bullying >= max(threat, self_harm) * 0.5
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
    elif bullied and (bully_tier != "P3" or not _drugs(a, at_school, tip)):
        severity, category = "P3", "bullying"  # drugs named on a tip beat a weak bullying score
        why.append(f"Bullying {bullying:.2f} (P3: review queue, no page).")
    elif _drugs(a, at_school, tip):
        severity, category = "P3", "drugs"
        why.append(f"Drugs ({_quoted(a.lexicon['drugs'])}){' at school' if at_school else ''}: review queue (P3), no page.")
    elif "weapons" in a.lexicon and "means" in a.cues and at_school:
        severity, category = "P3", "weapons"
        why.append(f"A weapon ({_quoted(a.lexicon['weapons'])}) and school in one post, but no threat: review (P3).")
    elif threat_tier == "P1" and ({"violence", "weapons"} & a.lexicon.keys() or at_school or "countdown" in a.cues) or (
            threat_tier == "P2" and at_school and {"violence", "weapons"} & a.lexicon.keys()):
        severity, category = "P3", "violence"  # a person reads what the grammar could not place
        why.append(f"Threat score {threat:.2f} with violent words or a school, but no located statement of harm "
                   "to anyone: review (P3), no page.")
    elif sh_tier == "P1" or (sh_tier == "P2" and "self_harm" in a.lexicon):
        severity, category = "P3", "self_harm"
        words = " with self-harm words" if "self_harm" in a.lexicon else ""
        why.append(f"Self-harm score {self_harm:.2f}{words}, but no statement of the writer's own "
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
    if all(e.form in LOOSE for e in threats) and tier not in ("P1", "P2") and not tip:
        # the looser shape (act, pointer and target in one sentence) needs the model to agree
        why.append(f"The model is not sure it is a threat ({threat:.2f}): review (P3), no page.")
        return "P3"
    if tier == "none" and not tip:
        why.append(f"The model reads it as everyday talk ({threat:.2f}): review (P3), no page.")
        return "P3"
    if tier == "P3" and not concrete and not tip and all(SAID_TO_YOU.search(a.quote(e).lower()) for e in threats):
        # "i'll murder you if you eat my leftovers": to one person, no time, place or weapon, and the model doubts it
        why.append(f"No time, place or weapon, and the model is not sure ({threat:.2f}): review (P3), no page.")
        return "P3"
    if severe and len(concrete) >= 2 and (tier in ("P1", "P2") or len(concrete) >= 3 or tip):
        why.append(f"Threat of violence toward others {threat:.2f}, armed or lethal, with "
                   f"{len(concrete)} specifics: P1, page now.")
        return "P1"
    why.append(f"Threat of violence toward others {threat:.2f}: P2, alert.")
    return "P2"


def _drugs(a: Analysis, at_school: bool, tip: bool) -> bool:
    words = {w.lower() for w in a.lexicon.get("drugs", ())}
    if not words or {"news", "counter_speech", "support"} & a.cues.keys():
        return False
    return tip or (at_school and not words <= AMBIGUOUS_DRUGS)


def _evidence_line(a: Analysis, found: list[Evidence]) -> str:
    first = found[0]
    who = "" if first.speaker == "writer" else " (someone else's words)"
    return f"Evidence: '{a.quote(first)}' ({FORMS[first.form]}){who}."


def _softened_line(found: list[Evidence], tip: bool) -> str:
    names = [s for e in found for s in e.softened]
    if not names:
        return "Someone else's words: a person verifies it (P3)."
    return f"Softened by {SOFTENERS.get(names[0], names[0])}: worth a look, not a page (P3)."
