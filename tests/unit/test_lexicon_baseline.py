"""The keyword baseline: transparent, deterministic, and as naive as the products it stands for."""

import json

import pytest

from pipeline.classify import classify_jsonl, score_tip
from pipeline.config import DEFAULT_CONFIG, load_settings
from pipeline.nlp.gazetteer import Gazetteer
from pipeline.nlp.lexicon import LexiconClassifier, load_terms, noisy_or
from pipeline.nlp.verdict import Thresholds
from pipeline.schema import Tip

SCHOOLS = [{"name": "Lincoln High School", "aliases": ["LHS", "Lincoln High"], "mascots": ["Lynx"],
            "places": ["B-wing"]}]


@pytest.fixture(scope="module")
def classifier():
    s = load_settings(DEFAULT_CONFIG)
    return LexiconClassifier(load_terms(s.config_path(s.classify.lexicon_dir)), Gazetteer(SCHOOLS, ["cafeteria"]),
                             Thresholds(0.85, 0.6, 0.3), "lexicon-test")


def test_noisy_or():
    assert noisy_or([]) == 0.0
    assert noisy_or([0.5, 0.5]) == 0.75
    assert noisy_or([1.0, 0.2]) == 1.0


def test_specific_threat_is_p1_violence_with_school(classifier):
    v = classifier.score("im gonna shoot up LHS tomorrow, bringing my dads gun")
    assert v.severity == "P1" and v.category == "violence"
    assert v.school == "Lincoln High School" and v.school_relevance == 1.0
    assert any("'shoot up'" in line for line in v.explanation)
    assert any("Lincoln High School" in line for line in v.explanation)


def test_harmless_text_is_none(classifier):
    v = classifier.score("see everyone at the Lynx game friday, wear purple")
    assert (v.severity, v.category, v.threat_score) == ("none", "none", 0.0)
    assert v.school == "Lincoln High School"


def test_baseline_is_fooled_by_idioms(classifier):
    """Documented weakness, not a goal: the trained models must beat this."""
    v = classifier.score("this math test is killing me, I'm dead")
    assert v.severity != "none"


def test_self_harm_scores_separately(classifier):
    v = classifier.score("honestly i just want to die, everyone would be better off without me")
    assert v.category == "self_harm" and v.self_harm_score > v.threat_score


def test_bullying_and_drugs_never_page(classifier):
    for text in ("kys loser nobody likes you everyone hates you", "selling percs and xanax and carts behind the gym"):
        v = classifier.score(text)
        assert v.category in ("bullying", "drugs") and v.severity == "P3"


def test_abbreviation_is_case_sensitive(classifier):
    assert classifier.score("lhs").school is None
    assert classifier.score("going to LHS").school == "Lincoln High School"


def test_tip_is_always_reviewed_and_keeps_school(classifier):
    item = score_tip(Tip(message="there's going to be a fight after 6th", school="Lincoln High School",
                         when_where="by the bus loop", contact="parent@example.org"), classifier)
    assert item.severity != "none" and item.school == "Lincoln High School"
    assert item.kind == "tip" and item.tip_contact == "parent@example.org"
    assert "bus loop" in item.text


def test_classify_contract_order_errors_and_fields(classifier):
    lines = [
        json.dumps({"id": "a", "text": "gonna shoot up the school"}),
        "{not json",
        json.dumps({"id": "c"}),
        "",
        json.dumps({"id": 7, "text": "good luck at the game"}),
        json.dumps(["not", "an", "object"]),
    ]
    out = list(classify_jsonl(lines, classifier))
    assert len(out) == len(lines)
    assert out[0]["id"] == "a" and out[0]["severity"] == "P1"
    assert set(out[0]) >= {"id", "threat_score", "self_harm_score", "severity", "category", "school_relevance",
                           "explanation", "model_version"}
    assert "error" in out[1] and out[1]["line"] == 2
    assert out[2]["id"] == "c" and "text" in out[2]["error"]
    assert "error" in out[3] and "error" in out[5]
    assert out[4]["id"] == 7 and out[4]["severity"] == "none" and "error" not in out[4]
