"""The spaCy side: gazetteer, lexicons and cues as an SRO would read them."""


import pytest

from pipeline.config import DEFAULT_CONFIG
from pipeline.nlp.analyzer import Analyzer, attach_gazetteer, build_nlp

CONFIG = DEFAULT_CONFIG.parent


@pytest.fixture(scope="module")
def analyzer():
    nlp = build_nlp(CONFIG / "lexicons", CONFIG / "cues.yaml", CONFIG / "identity_terms.yaml")
    return Analyzer(attach_gazetteer(nlp, CONFIG / "schools.yaml"))


def one(analyzer, text):
    return analyzer.analyze([text])[0]


@pytest.mark.parametrize("text, school, term", [
    ("gonna be at LHS early", "Lincoln High School", "LHS"),
    ("Riverton Central High School board meeting", "Riverton Central High School", "Riverton Central High School"),
    ("meet me in the Cougar Dome", "Riverton Central High School", "the Cougar Dome"),
    ("the hornets play tonight", "Hawthorne Middle School", "the hornets"),
])
def test_gazetteer_finds_the_school_as_written(analyzer, text, school, term):
    a = one(analyzer, text)
    assert a.school.school == school and a.school.term == term


@pytest.mark.parametrize("text", ["selling my Lincoln Navigator", "ice skating in Central Park",
                                  "essay on Hawthorne's The Scarlet Letter"])
def test_not_schools_and_lowercase_abbreviations_do_not_match(analyzer, text):
    a = one(analyzer, text)
    assert a.school is None or a.school.school is None


def test_shared_place_says_school_setting_without_naming_one(analyzer):
    a = one(analyzer, "fight in the cafeteria")
    assert a.school.school is None and a.school.relevance == 0.5


def test_full_name_outranks_ambiguous_alias(analyzer):
    assert one(analyzer, "Lincoln").school.relevance < one(analyzer, "Lincoln High School").school.relevance
    assert one(analyzer, "lhs").school.relevance < one(analyzer, "LHS").school.relevance == 1.0


def test_specifics_are_reported_in_the_authors_spelling(analyzer):
    a = one(analyzer, "bringing my dads 🔫 to LHS tmrw 3rd period")
    assert a.specifics["weapon"] == ["🔫"]
    assert a.specifics["time"] == ["tmrw", "3rd period"]
    assert a.specifics["place"] == ["LHS"]
    assert "bringing" in a.specifics["means"]


def test_context_cues(analyzer):
    a = one(analyzer, "lol this math test is killing me, i would never hurt anyone")
    assert {"laugh", "idiom", "negation"} <= set(a.cues)


def test_school_and_identity_terms_are_masked_for_ngrams(analyzer):
    a = one(analyzer, "the Muslim kids at LHS")
    assert a.masked == "the idterm kids at schoolname"
    b = one(analyzer, "the Jewish kids at LHS")
    assert b.masked == a.masked
    assert a.features == b.features  # an identity term never changes a feature


def test_obfuscated_words_hit_the_lexicons(analyzer):
    a = one(analyzer, "gonna sh00t up the sch00l")
    assert a.lexicon["violence"] == ["sh00t", "sh00t up"]
