"""Evidence before a page (pipeline/nlp/evidence.py): the located statements a P1/P2 needs, and
the framing that softens only what it scopes over. Pure: built from the shipped config."""

from pathlib import Path

import pytest

from pipeline.nlp.analyzer import Analyzer, attach_gazetteer, build_nlp

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="module")
def analyze():
    nlp = attach_gazetteer(build_nlp(CONFIG / "lexicons", CONFIG / "cues.yaml", CONFIG / "identity_terms.yaml"),
                           CONFIG / "schools.yaml")
    analyzer = Analyzer(nlp)
    return lambda text: analyzer.analyze([text])[0]


def statements(a, kind):
    return [e for e in a.evidence if e.kind == kind]


@pytest.mark.parametrize("text, form, quote", [
    ("don't get it twisted, I'll hurt every one of you if I have to", "intent", "I'll hurt every one of you"),
    ("i hope he dies", "wish", "i hope he dies"),
    ("someone should shoot them all", "call", "someone should shoot them all"),
    ("they should all be hanged", "deserve", "they should all be hanged"),
    ("hang them", "imperative", "hang them"),
    ("don't come to school friday", "warning", "don't come to school"),
    ("everyone dies 12/4", "doom", "everyone dies"),
])
def test_threats_to_others_stand(analyze, text, form, quote):
    a = analyze(text)
    [ev] = statements(a, "violence")
    assert (ev.form, a.quote(ev), ev.stands) == (form, quote, True)


def test_a_negation_elsewhere_in_the_sentence_softens_nothing(analyze):
    [ev] = statements(analyze("don't get it twisted, I'll hurt every one of you if I have to"), "violence")
    assert ev.softened == ()
    [ev] = statements(analyze("i would never hurt anyone"), "violence")
    assert ev.softened == ("negation",)


def test_an_appended_fiction_cue_does_not_soften_the_threat_before_it(analyze):
    a = analyze("gonna shoot up lincoln high cafeteria friday with my gun. the script is ready")
    assert [e.stands for e in statements(a, "violence")] == [True]
    a = analyze("in my script the villain says gonna shoot up the whole school friday")
    assert all("fiction" in e.softened for e in statements(a, "violence"))


def test_jokes_and_games_in_the_same_sentence_soften(analyze):
    [ev] = statements(analyze("I'll kill you if you spoil the finale lol"), "violence")
    assert "laugh" in ev.softened
    [ev] = statements(analyze("i'm gonna kill him in fortnite tonight"), "violence")
    assert "game" in ev.softened


def test_a_report_names_another_speaker(analyze):
    [ev] = statements(analyze("Jake said he will bring a gun to Lincoln High School Friday"), "violence")
    assert ev.speaker == "other" and not ev.stands


@pytest.mark.parametrize("text", ["I'm going to shoot myself today", "hope I don't wake up tomorrow",
                                  "if anyone wants to kill me please hurry"])
def test_the_writers_own_wish_or_plan_to_die(analyze, text):
    a = analyze(text)
    assert [e.stands for e in statements(a, "self_harm")] == [True] and not statements(a, "violence")


@pytest.mark.parametrize("text", ["I'm going to die of heat stroke after this trip", "this math test is killing me",
                                  "shoot me a text when you get here", "my mom is gonna kill me", "i want to die lol",
                                  "thank God for giving me another year", "vaping in the bathroom again",
                                  "we beat them by 20", "ready to hang with you guys friday"])
def test_everyday_talk_holds_no_evidence(analyze, text):
    assert [e for e in analyze(text).evidence if e.stands] == []


def test_a_school_name_is_no_drug(analyze):
    assert "drugs" not in analyze("see you at Lincoln High School tomorrow").lexicon
