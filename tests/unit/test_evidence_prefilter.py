"""The evidence grammar's literal prefilter (pipeline/nlp/prefilter.py, issue 14) changes no
evidence: a pattern it skips cannot match. Checked three ways:

- the analysis on hand-made patterns (what a clause is, what gives none);
- 300 small regexes of the grammar's shapes (literals, spellings, classes, lookarounds, nested
  alternations, optional parts, repeats), each on a string Hypothesis generates to match it
  (``from_regex``): the gate opens on every one;
- every text we have (a third of the corpus, the functional cases, the bundled samples and 3,000
  posts of the benchmark's realistic mix): the gate is open wherever a pattern matches, and ``find`` gives
  the same evidence with the gate as with every pattern run.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import DEFAULT_CONFIG
from pipeline.nlp.evidence import EvidenceFinder, _pattern_text
from pipeline.nlp.prefilter import AnyOf, LiteralGate, required

ROOT = Path(__file__).resolve().parents[2]
FINDER = EvidenceFinder(yaml.safe_load((DEFAULT_CONFIG.parent / "evidence.yaml").read_text()))
PATTERNS = [p for _, p in FINDER.violence + FINDER.self_harm]


def plain(need):
    return [sorted(r) for r in need if not isinstance(r, AnyOf)]


def test_a_sequence_needs_each_of_its_parts_and_an_alternation_one_of_its_own():
    need = required(re.compile(r"\b(?:gonna|going to)\s+(?:kill|stab(?:bing)?)\s+(?:him|her)\b"))
    assert plain(need) == [["going to", "gonna"], ["kill", "stab", "stabbing"], ["her", "him"]]


def test_a_piece_with_few_spellings_stays_whole():
    assert plain(required(re.compile(r"i['’]?ll\s+end\s+you"))) == [["i'll", "ill", "i’ll"], ["end"], ["you"]]


def test_what_may_be_absent_or_is_only_a_class_requires_nothing():
    assert required(re.compile(r"(?:kill)?\s*[a-z]+")) == ()
    assert required(re.compile(r"(?:kill|\w+)\s")) == ()  # one alternative needs nothing
    assert required(re.compile(r"kill", re.IGNORECASE)) == ()  # case-folded: not plain substrings
    assert plain(required(re.compile(r"(?<!no )(?=x)shoot"))) == [["shoot"]]  # lookarounds pass over


def test_an_alternation_of_phrases_needs_all_the_words_of_one_phrase():
    [union, alternation] = required(re.compile(r"\b(?:want\s+to\s+die|end\s+it\s+all)\b"))
    gate = LiteralGate([(union, alternation)])
    assert gate.open("i want to die") == [True]
    assert gate.open("i want to sleep. the end of it") == [False]  # words of each, no whole phrase


def test_a_clause_of_strings_too_short_to_tell_is_dropped():
    assert plain(required(re.compile(r"\bu\s+(?:die|dead)"))) == [["dead", "die"]]


PIECES = st.sampled_from(["kill", "i['’]?ll", "gonna", "him", "x", "[a-z]", r"\s+", "['’]?", r"\b", "(?<!no )",
                          "(?=\\w)", "a", "stab", "§+", r"\d", "."])


def _regexes():
    """Small regexes of the shapes the grammar is made of: literals, spellings, classes, lookarounds,
    sequences, alternations, optional parts and repeats."""
    return st.recursive(PIECES, lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4).map("".join),
        st.lists(inner, min_size=2, max_size=4).map(lambda alts: "(?:" + "|".join(alts) + ")"),
        inner.map(lambda r: f"(?:{r})?"),
        inner.map(lambda r: f"(?:{r})+"),
        st.tuples(inner, st.integers(0, 2)).map(lambda t: f"(?:{t[0]}){{{t[1]},3}}")), max_leaves=10)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data(), source=_regexes())
def test_every_string_a_pattern_matches_opens_its_gate(data, source):
    pattern = re.compile(source)
    gate = LiteralGate([required(pattern)])
    text = data.draw(st.from_regex(pattern).filter(pattern.search))
    assert gate.open(text) == [True], (source, required(pattern), text)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _texts() -> list[str]:
    # every third corpus row: its templates repeat, and this test must stay a few seconds
    corpus = (ROOT / "models/data/corpus.jsonl").read_text().splitlines()[::3]
    texts = [json.loads(line)["text"] for line in corpus]
    for path in sorted((ROOT / "tests/functional/cases").glob("*.yaml")):
        texts += list(_strings(yaml.safe_load(path.read_text())))
    for path in sorted((ROOT / "pipeline/samples").glob("*.jsonl")):
        texts += [row.get("text") or row.get("message") for row in map(json.loads, path.read_text().splitlines())]
    sys.path.insert(0, str(ROOT / "bench"))
    from realistic_posts import posts
    return [t for t in [*texts, *posts(3000)] if t]


def test_the_gate_is_open_wherever_a_pattern_matches_and_finds_the_same_evidence():
    texts = _texts()
    assert len(texts) > 15_000
    everything = LiteralGate([()] * len(FINDER._gate._tests))
    gated, ungated, skipped = FINDER._gate, EvidenceFinder.__new__(EvidenceFinder), 0
    ungated.__dict__.update(FINDER.__dict__, _gate=everything)
    for text in texts:
        pt = _pattern_text(text.lower(), [])
        opened = gated.open(pt)
        for may, pattern in zip(opened, PATTERNS):
            assert may or not pattern.search(pt), (pattern.pattern[:80], text)
        skipped += opened.count(False)
        assert FINDER.find(pt, [], {}) == ungated.find(pt, [], {}), text
    assert skipped > len(texts) * len(PATTERNS) * 0.5  # and it does skip most of the work


def test_sentence_bounds_are_those_of_the_plain_lookbehind_form():
    """evidence.SENTENCE checks the titles after the first mark, for speed; the spec is the plain
    form that checks before it."""
    from pipeline.nlp.evidence import SENTENCE, _bounds

    spec = re.compile(r"(?<!\bmr)(?<!\bms)(?<!\bmrs)(?<!\bdr)(?<!\bst)[.!?;\n]+|:\s+(?=i\b|i'?m\b|im\b)"
                      r"|\s(?:lol|lmao|lmfao|jk)(?=\s|$)")
    edges = ["mr. hale. ok", "dr.. who?! st.louis;\n\nmrs.x", "to whoever: im here lol ok", "a.b..c", "mr.", ".mr.",
             "ms!.x", "xmr. y", "st!!!", ";;;mrs;;", "", "lol", " jk"]
    for text in [*edges, *(t.lower() for t in _texts())]:
        assert _bounds(SENTENCE, text) == _bounds(spec, text), text
