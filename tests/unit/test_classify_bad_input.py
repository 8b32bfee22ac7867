"""`threatline classify` bad input: every line gets an output line, the run goes on."""

import json

import pytest

from pipeline.bootstrap import build_classifier
from pipeline.classify import WINDOW_CHARS, classify_jsonl
from pipeline.config import DEFAULT_CONFIG, load_settings
from pipeline.nlp.lexicon import LexiconClassifier
from pipeline.nlp.verdict import Thresholds


@pytest.fixture(scope="module", params=["champion", "lexicon"])
def classifier(request):
    s = load_settings(DEFAULT_CONFIG)
    if request.param == "champion":
        return build_classifier(s)
    return LexiconClassifier.from_dirs(s.config_path(s.classify.lexicon_dir), s.config_path(s.classify.schools_file),
                                       Thresholds(0.85, 0.6, 0.3))


def run(classifier, lines):
    return list(classify_jsonl(lines, classifier))


def test_each_bad_line_gets_its_error_and_the_good_ones_still_score(classifier):
    lines = [
        json.dumps({"id": "ok1", "text": "gonna shoot up LHS"}).encode(),
        b'{"id": "bad-utf8", "text": "caf\xff"}',
        b"not json at all",
        json.dumps({"id": "empty", "text": "   "}).encode(),
        json.dumps({"id": "no-text"}).encode(),
        b"",
        json.dumps({"id": "ok2", "text": "see you at lunch"}).encode(),
    ]
    out = run(classifier, lines)
    assert len(out) == len(lines)
    assert out[0]["id"] == "ok1" and out[0]["severity"] != "none"
    assert out[1] == {"line": 2, "error": "invalid UTF-8 at byte 31"}
    assert out[2]["error"].startswith("not valid JSON")
    assert out[3] == {"line": 4, "id": "empty", "error": "empty 'text': nothing to score"}
    assert out[4]["error"] == "missing 'text' (string)"
    assert out[5]["error"] == "empty line"
    assert out[6]["id"] == "ok2" and "error" not in out[6]


def test_long_posts_are_scored_on_a_window_and_say_so(classifier):
    text = "we had a normal day at practice and then went home. " * 2_000 + "gonna shoot up LHS"
    [result] = run(classifier, [json.dumps({"id": 1, "text": text})])
    assert result["severity"] == "none"  # the threat sits beyond the window, and the note says where we stopped
    assert f"Scored the first {WINDOW_CHARS:,} of {len(text):,} characters." in result["explanation"]


def test_control_characters_do_not_break_scoring(classifier):
    [result] = run(classifier, [json.dumps({"id": 1, "text": "gonna\x00 shoot\x07 up LHS\x1b"})])
    assert "error" not in result


def test_non_english_is_scored_with_low_confidence(classifier):
    [result] = run(classifier, [json.dumps({"id": 1, "text": "mañana voy a llevar una pistola a la escuela y nadie lo sabe"})])
    assert result["lang"] == "es" and result["confidence"] == "low"
    assert any("Not English (es)" in line for line in result["explanation"])
    [english] = run(classifier, [json.dumps({"id": 2, "text": "deadass finna pull up wit the strap tmrw fr"})])
    assert english["lang"] == "en" and english["confidence"] == "normal"


def test_a_lone_surrogate_gets_its_own_error_and_the_lines_after_it_still_score(classifier):
    # JSON may escape a lone surrogate ("\ud800"); it decodes to a str that is not valid UTF-8,
    # so scoring or writing it would end the run. Every output line must encode as UTF-8 JSON.
    lines = [
        b'{"id": "ok1", "text": "gonna shoot up LHS"}',
        b'{"id": "lone", "text": "gonna shoot up LHS \\ud800"}',
        b'{"id": "lone-id-\\udfff", "text": "see you at lunch"}',
        b'{"id": 1' + b"1" * 5000 + b', "text": "see you at lunch"}',  # past the int-string limit
        b'{"id": "ok2", "text": "see you at lunch"}',
    ]
    out = run(classifier, lines)
    assert len(out) == len(lines)
    assert out[0]["id"] == "ok1" and "error" not in out[0]
    assert out[1]["line"] == 2 and out[1]["id"] == "lone" and "surrogate" in out[1]["error"]
    assert out[2]["line"] == 3 and "id" not in out[2] and "surrogate" in out[2]["error"]
    assert out[3]["line"] == 4 and "number" in out[3]["error"]
    assert out[4]["id"] == "ok2" and "error" not in out[4]
    for result in out:
        json.loads(json.dumps(result, ensure_ascii=False).encode("utf-8"))
