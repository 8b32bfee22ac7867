"""Severity and category rules of the models from before evidence-first paging (v1, v2: routing_legacy),
on hand-built analyses: no model needed."""

from pipeline.nlp.analyzer import Analysis
from pipeline.nlp.components import SchoolHit
from pipeline.nlp.normalize import normalize
from pipeline.nlp.routing_legacy import route
from pipeline.nlp.verdict import Thresholds

T = {h: Thresholds(p1=0.8, p2=0.5, p3=0.2) for h in ("threat", "self_harm", "bullying")}
LHS = SchoolHit("Lincoln High School", "LHS", 1.0, 0, 3)


def analysis(school=None, lexicon=None, cues=None):
    return Analysis(normalize("x"), school, lexicon or {}, cues or {})


def scores(threat=0.0, self_harm=0.0, bullying=0.0):
    return {"threat": threat, "self_harm": self_harm, "bullying": bullying}


def test_specific_sure_threat_is_p1():
    a = analysis(LHS, {"weapons": ["gun"]}, {"time": ["tmrw"]})
    severity, category, why = route(scores(threat=0.95), a, T)
    assert (severity, category) == ("P1", "violence")
    assert any("Specifics" in w and "'tmrw'" in w and "'gun'" in w for w in why)


def test_sure_threat_without_specifics_is_p2():
    assert route(scores(threat=0.95), analysis(), T)[:2] == ("P2", "violence")


def test_self_harm_never_becomes_violence_even_when_threat_is_high():
    severity, category, why = route(scores(threat=0.6, self_harm=0.9), analysis(cues={"self_reference": ["me"]}), T)
    assert category == "self_harm" and severity == "P2"  # no time, means or goodbye
    assert "counselor" in why[0]


def test_a_threat_to_others_with_self_harm_goes_to_police_and_names_the_counselor():
    a = analysis(LHS, {"violence": ["shoot up"]}, {"target": ["everyone"]})
    severity, category, why = route(scores(threat=0.7, self_harm=0.9), a, T)
    assert (severity, category) == ("P2", "violence")
    assert any("counselor" in w for w in why)


def test_self_harm_with_a_plan_is_p1():
    assert route(scores(self_harm=0.9), analysis(cues={"goodbye": ["last post"]}), T)[:2] == ("P1", "self_harm")


def test_idiom_is_capped_at_p3_with_a_school_and_dropped_without_unless_the_score_is_strong():
    idiom = {"idiom": ["killing me"]}
    assert route(scores(threat=0.6), analysis(LHS, cues=idiom), T)[:2] == ("P3", "violence")
    assert route(scores(threat=0.3), analysis(None, {"violence": ["kill"]}, idiom), T)[:2] == ("none", "violence")
    assert route(scores(threat=0.6), analysis(None, {"violence": ["kill"]}, idiom), T)[:2] == ("P3", "violence")


def test_a_laugh_does_not_excuse_a_sure_specific_threat():
    a = analysis(LHS, {"weapons": ["gun"]}, {"time": ["friday"], "laugh": ["lol"]})
    assert route(scores(threat=0.9), a, T)[0] == "P1"


def test_bullying_and_drugs_are_review_only():
    assert route(scores(bullying=0.9), analysis(), T)[:2] == ("P3", "bullying")
    assert route(scores(), analysis(LHS, {"drugs": ["carts"]}), T)[:2] == ("P3", "drugs")


def test_reported_threat_about_a_school_is_p3_for_verification():
    a = analysis(LHS, {"violence": ["shoot up"]}, {"quote_report": ["someone said"]})
    severity, category, why = route(scores(threat=0.1), a, T)
    assert (severity, category) == ("P3", "violence") and "verify" in why[0]


def test_news_is_not_a_reported_threat():
    a = analysis(LHS, {"violence": ["shooting"]}, {"quote_report": ["reported"], "news": ["police"]})
    assert route(scores(threat=0.1), a, T)[0] == "none"


def test_nothing_is_none_with_the_scores_in_the_why():
    severity, category, why = route(scores(threat=0.05), analysis(), T)
    assert (severity, category) == ("none", "none") and "0.05" in why[0]


def test_three_specifics_with_violent_words_make_a_p2_threat_p1():
    a = analysis(LHS, {"violence": ["stab"]}, {"time": ["friday"], "target": ["mr. hale"]})
    severity, category, why = route(scores(threat=0.6), a, T)
    assert (severity, category) == ("P1", "violence") and "3 specifics" in why[-2]


def test_specifics_do_not_upgrade_a_hedged_threat():
    a = analysis(LHS, {"violence": ["shoot"]}, {"time": ["friday"], "target": ["them"], "negation": ["not"]})
    assert route(scores(threat=0.6), a, T)[0] == "P2"


def test_a_reported_threat_is_p3_even_when_sure():
    cues = {"time": ["tomorrow"], "quote_report": ["he said"], "target": ["everyone"], "intent": ["gonna"]}
    severity, _, why = route(scores(threat=0.95), analysis(LHS, {"weapons": ["gun"]}, cues), T)
    assert severity == "P3" and any("'he said'" in w for w in why)


def test_a_disavowal_caps_an_unsure_threat_at_p3_but_not_a_sure_specific_one():
    cues = {"disavowal": ["would never"], "target": ["anyone"]}
    severity, _, why = route(scores(threat=0.6), analysis(LHS, {"weapons": ["gun"]}, cues), T)
    assert severity == "P3" and any("'would never'" in w for w in why)
    sure = analysis(LHS, {"weapons": ["gun"]}, {**cues, "time": ["friday"]})
    assert route(scores(threat=0.95), sure, T)[0] == "P1"


def test_news_about_overdoses_is_not_a_student_at_risk():
    news = analysis(None, {"self_harm": ["overdose"]}, {"news": ["officials"]})
    assert route(scores(self_harm=0.9), news, T)[0] == "none"
    assert route(scores(self_harm=0.9), analysis(None, {"self_harm": ["cutting"]}), T)[1] == "self_harm"


def test_a_score_alone_at_p3_needs_something_to_point_at():
    assert route(scores(threat=0.3), analysis(LHS), T)[0] == "none"
    assert route(scores(threat=0.3), analysis(LHS, cues={"time": ["friday"]}), T)[:2] == ("P3", "violence")


def test_a_weapon_aimed_at_oneself_is_self_harm_even_when_the_threat_score_is_higher():
    a = analysis(None, {"weapons": ["gun"]}, {"self_reference": ["i", "myself"], "means": ["my dads"]})
    assert route(scores(threat=0.9, self_harm=0.5), a, T)[1] == "self_harm"
    others = analysis(None, {"weapons": ["gun"]}, {"self_reference": ["myself"], "target": ["them"]})
    assert route(scores(threat=0.9, self_harm=0.5), others, T)[1] == "violence"
    unseen = analysis(None, {"weapons": ["gun"]}, {"self_reference": ["myself"], "means": ["my dads"]})
    severity, category, why = route(scores(threat=0.7, self_harm=0.05), unseen, T)
    assert (severity, category) == ("P2", "self_harm") and "aimed at the writer" in why[0]
