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


@pytest.mark.parametrize("text, form, quote", [
    ("if he says one more word im stabbing him", "intent", "im stabbing him"),
    ("try me again and ur getting stabbed in the hallway", "passive", None),
    ("gonna stab tanner at lunch", "intent", "gonna stab tanner"),
    ("i will hurt every kid who laughed at me", "intent", "i will hurt every kid"),
    ("ms. reyes is getting shot during 3rd period tomorrow", "passive", None),
    ("i hope someone blows up the school with all of them inside", "call", None),
    ("'everyone dies friday' is written on the stall", "doom", "everyone dies"),
])
def test_plans_in_the_present_passive_and_quoted_stand(analyze, text, form, quote):
    [ev] = statements(analyze(text), "violence")
    assert ev.form == form and ev.stands
    if quote:
        assert analyze(text).quote(ev) == quote


def test_a_short_post_can_make_its_statement_across_sentences(analyze):
    [ev] = statements(analyze("I have the rifle loaded. Monday 8am, the senior lot. Stay home."), "violence")
    assert ev.form == "statement" and ev.stands
    assert statements(analyze("got my rifle sighted in at the range saturday"), "violence") == []


def test_taking_the_frame_back_or_stepping_out_of_the_game_unsoftens(analyze):
    a = analyze("lol its a joke but fr dont come to school tomorrow, not joking. im bringing the glock")
    assert any(e.stands for e in statements(a, "violence"))
    [ev] = statements(analyze("idc if its just a game to u, im stabbing tanner at lunch"), "violence")
    assert ev.stands  # nobody is stabbed in a game
    [ev] = statements(analyze("i'm gonna kill him in fortnite tonight"), "violence")
    assert "game" in ev.softened


def test_a_negation_inside_a_condition_does_not_negate_the_plan(analyze):
    [ev] = statements(analyze("if they don't drop the charges i'm bringing my rifle to school"), "violence")
    assert ev.softened == ()
    [ev] = statements(analyze("if they ask, i'm not bringing my rifle to school"), "violence")
    assert ev.softened == ("negation",)


@pytest.mark.parametrize("text", ["shooting hoops on the blacktop after school friday if anyone wants to come",
                                  "i'm gonna shoot my shot with her at the dance", "i would kill for a pizza rn",
                                  "there was a fight by the bus loop yesterday after school, it's over",
                                  "hope i dont wake up late again, 3 tardies already"])
def test_everyday_objects_and_past_reports_page_nobody(analyze, text):
    ok = [e for e in analyze(text).evidence if e.stands and e.kind == "violence"]
    assert ok == []


def test_another_persons_plan_to_hurt_themselves_is_a_report(analyze):
    [ev] = statements(analyze("my friend told me she's going to cut herself tonight"), "self_harm")
    assert ev.speaker == "other" and ev.form == "self_plan"
    assert statements(analyze("my friend told me she's going to cut herself tonight"), "violence") == []
    [ev] = statements(analyze("if they expel me i'm going to kill myself"), "self_harm")
    assert ev.speaker == "writer"


@pytest.mark.parametrize("text, form", [
    ("they should all be hanged for treason", "deserve"),
    ("send the whole council to the gallows", "deserve"),
    ("the rope is waiting for every one of them", "deserve"),
    ("the next person who comes for my guns at the town meeting gets shot", "passive"),
    ("i got 6 rifles and the first deputy through my door dies", "passive"),
    ("hope the dude who keyed my car gets his skull caved in", "wish"),
])
def test_calls_for_executions_and_whoever_comes_next(analyze, text, form):
    [ev] = statements(analyze(text), "violence")
    assert ev.form == form and ev.stands


@pytest.mark.parametrize("text", ["hang in there, the test is tomorrow", "climbed to the rope at the top in gym",
                                  "whoever finishes first gets one cookie", "Let's end the year right",
                                  "hang them all up in the hallway, the posters look great",
                                  "gonna be poppin at the party tonight", "put the poster on the wall"])
def test_everyday_words_near_those_shapes_are_no_statement(analyze, text):
    assert [e for e in statements(analyze(text), "violence") if e.form != "statement"] == []
