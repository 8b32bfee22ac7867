"""Evidence-first routing (pipeline/nlp/routing.py) on hand-built analyses: a score alone never
pages, a standing statement does, framing and reports cap at P3, tips read reports as evidence."""

from pipeline.nlp.analyzer import Analysis
from pipeline.nlp.components import SchoolHit
from pipeline.nlp.evidence import Evidence
from pipeline.nlp.normalize import normalize
from pipeline.nlp.routing import route
from pipeline.nlp.verdict import Thresholds

T = {h: Thresholds(p1=0.8, p2=0.5, p3=0.2) for h in ("threat", "self_harm", "bullying")}
LHS = SchoolHit("Lincoln High School", "LHS", 1.0, 0, 3)
TEXT = "gonna shoot him at LHS tmrw with my gun"


def analysis(evidence=(), school=None, lexicon=None, cues=None):
    return Analysis(normalize(TEXT), school, lexicon or {}, cues or {}, evidence=list(evidence))


def threat_ev(form="intent", speaker="writer", severe=True, softened=(), end=22):
    return Evidence("violence", form, speaker, severe, 0, end, tuple(softened))


def scores(threat=0.0, self_harm=0.0, bullying=0.0):
    return {"threat": threat, "self_harm": self_harm, "bullying": bullying}


def test_a_sure_score_without_a_statement_never_pages():
    severity, category, why = route(scores(threat=0.99), analysis(school=LHS, lexicon={"weapons": ["gun"]}), T)
    assert severity == "P3" and category == "violence"
    assert route(scores(threat=0.99), analysis(), T)[0] == "none"


def test_a_standing_threat_pages_and_quotes_its_statement():
    severity, category, why = route(scores(threat=0.6), analysis([threat_ev()]), T)
    assert (severity, category) == ("P2", "violence")
    assert any(line.startswith("Evidence: 'gonna shoot him at LHS'") for line in why)


def test_armed_and_specific_is_p1():
    a = analysis([threat_ev()], LHS, {"weapons": ["gun"]}, {"time": ["tmrw"]})
    assert route(scores(threat=0.9), a, T)[0] == "P1"


def test_a_condition_does_not_soften():
    a = analysis([threat_ev()], cues={"conditional": ["if"], "time": ["friday"]})
    severity, _, why = route(scores(threat=0.3), a, T)
    assert severity == "P2" and any("does not soften" in line for line in why)


def test_a_bare_threat_the_model_doubts_is_reviewed_not_paged():
    """"i'll murder you if you eat my leftovers": said to one person, nothing concrete, a P3 score."""
    text = "i'll murder you if you eat my leftovers"
    a = Analysis(normalize(text), None, {}, {"conditional": ["if"]}, evidence=[threat_ev(end=15)])
    severity, _, why = route(scores(threat=0.3), a, T)
    assert severity == "P3" and any("not sure" in line for line in why)
    assert route(scores(threat=0.6), a, T)[0] == "P2"
    assert route(scores(threat=0.3), a, T, tip=True)[0] == "P2"
    # aimed at a person or a group, the same doubt still pages: "i'm going to kill every one of them"
    assert route(scores(threat=0.3), analysis([threat_ev()], cues={"conditional": ["if"]}), T)[0] == "P2"


def test_softened_or_reported_statements_are_verified_not_paged():
    assert route(scores(threat=0.9), analysis([threat_ev(softened=("laugh",))]), T)[0] == "P3"
    assert route(scores(threat=0.9), analysis([threat_ev(speaker="other", softened=("quote_report",))]), T)[0] == "P3"


def test_on_a_tip_a_reported_threat_is_evidence():
    a = analysis([threat_ev(speaker="other", softened=("quote_report",))])
    assert route(scores(threat=0.3), a, T, tip=True)[:2] == ("P2", "violence")


def test_the_writers_own_wish_to_die_goes_to_the_counselor():
    ev = Evidence("self_harm", "self_wish", "writer", True, 0, 10)
    assert route(scores(self_harm=0.3), analysis([ev]), T)[:2] == ("P2", "self_harm")


def test_drugs_on_a_tip_are_review_only():
    a = analysis(lexicon={"drugs": ["vape"]})
    assert route(scores(self_harm=0.9, threat=0.6), a, T, tip=True)[:2] == ("P3", "drugs")
