"""Analysts' labels: the mapping onto the heads, reading labeled files, and merging labels into
the corpus (pipeline/nlp/labels.py, pipeline/nlp/retrain.py merge)."""

import json

import pytest

from pipeline.nlp.features import HEADS
from pipeline.nlp.labels import LABELS, TARGETS, TRANSIENT_THREAT, LabeledCase, case_from_item, normalised, read_cases
from pipeline.nlp.retrain import _stale_champion, merge, regressions, training_rows
from pipeline.schema import ScoredItem, item_document


def row(text, split="train", family="fam-a", threat=0, self_harm=0, bullying=0):
    return {"id": text[:8], "family": family, "kind": "k", "split": split, "text": text,
            "threat": threat, "self_harm": self_harm, "bullying": bullying}


def test_every_console_label_sets_every_head():
    assert tuple(TARGETS) == LABELS
    for label, targets in TARGETS.items():
        assert set(targets) == set(HEADS), label
        assert all(0 <= t <= 1 for t in targets.values())
    assert TARGETS["not_a_concern"] == {h: 0 for h in HEADS}
    assert TARGETS["threat_substantive"]["threat"] == 1 and TARGETS["threat_transient"]["threat"] == TRANSIENT_THREAT


def test_a_transient_threat_is_a_soft_target_as_two_weighted_rows():
    rows = training_rows(LabeledCase("ill end him if he takes my seat again", "threat_transient"), "labeled-x")
    assert [(r["threat"], r["weight"]) for r in rows] == [(1, TRANSIENT_THREAT), (0, 1 - TRANSIENT_THREAT)]
    assert all(r["self_harm"] == r["bullying"] == 0 and r["split"] == "train" and r["family"] == "labeled-x" for r in rows)
    [hard] = training_rows(LabeledCase("see you at lunch", "not_a_concern"), "labeled-y")
    assert "weight" not in hard and (hard["threat"], hard["self_harm"], hard["bullying"]) == (0, 0, 0)


def test_normalised_text_ignores_case_spacing_and_unicode_form():
    assert normalised("  I'll  SEE you\tTomorrow ") == normalised("i'll see you tomorrow") == "i'll see you tomorrow"
    assert normalised("ｋｉｌｌ") == "kill"


def test_console_labels_beat_files_and_later_labels_beat_earlier():
    corpus = [row("this test is killing me")]
    cases = [LabeledCase("New post about the dance", "not_a_concern", origin="mine.jsonl", labeled_at="2026-12-05T10:00:00+00:00"),
             LabeledCase("new post about  the dance", "bullying", origin="console", labeled_at="2026-12-01T10:00:00+00:00"),
             LabeledCase("gonna hurt him after 6th", "threat_transient", origin="console", labeled_at="2026-12-01T10:00:00+00:00"),
             LabeledCase("Gonna hurt him after 6th", "threat_substantive", origin="console", labeled_at="2026-12-02T09:00:00-06:00")]
    rows, summary = merge(corpus, cases)
    added = {r["text"]: r for r in rows if "origin" in r}
    assert added["new post about  the dance"]["bullying"] == 1  # the console's, though the file's is later
    assert added["Gonna hurt him after 6th"]["threat"] == 1 and "weight" not in added["Gonna hurt him after 6th"]
    assert summary["duplicates"] == 2 and summary["conflicting_duplicates"] == 2
    assert summary["by_label"] == {"bullying": 1, "threat_substantive": 1} and summary["new_texts"] == 2
    assert summary["by_origin"] == {"console": 2}
    assert rows[0] == corpus[0]  # untouched corpus rows stay as they were


def test_a_label_replaces_a_training_text_but_never_touches_the_held_out_split():
    corpus = [row("i will shoot the free throw", family="fam-sport"),
              row("meet me behind the gym", split="test", family="fam-test", threat=1),
              row("we ride at dawn", split="validation", family="fam-val")]
    cases = [LabeledCase("I will shoot the free throw", "threat_substantive"),
             LabeledCase("meet me behind the gym", "not_a_concern"),
             LabeledCase("we ride at dawn", "not_a_concern")]
    rows, summary = merge(corpus, cases)
    assert [r for r in rows if r["split"] != "train"] == corpus[1:]  # same held-out rows, same labels
    [relabeled] = [r for r in rows if r["split"] == "train"]
    assert relabeled["threat"] == 1 and relabeled["family"] == "fam-sport"  # calibration folds still group it
    assert summary["relabeled_corpus_texts"] == summary["changed_corpus_labels"] == 1
    assert summary["held_out_skipped"] == 2 and summary["held_out_disagreements"] == 1
    assert summary["trained_on"] == 1


def test_new_texts_get_a_family_each():
    rows, _ = merge([], [LabeledCase(f"post number {i}", "not_a_concern") for i in range(3)])
    assert len({r["family"] for r in rows}) == 3 and all(r["family"].startswith("labeled-") for r in rows)


def test_read_cases_keeps_known_fields_and_names_the_bad_line(tmp_path):
    good = tmp_path / "mine.jsonl"
    good.write_text(json.dumps({"text": "see u at practice", "label": "not_a_concern", "labeled_by": "dana",
                                "extra": "ignored"}) + "\n\n", encoding="utf-8")
    [case] = read_cases(good)
    assert (case.text, case.label, case.labeled_by, case.origin) == ("see u at practice", "not_a_concern", "dana", "mine.jsonl")
    bad = tmp_path / "bad.jsonl"
    for line, message in ((json.dumps({"text": "x", "label": "threat"}), r"bad.jsonl:2: label 'threat' is not one of"),
                          (json.dumps({"label": "bullying"}), r"bad.jsonl:2: needs a non-empty 'text'"),
                          ("{not json", r"bad.jsonl:2: not valid JSON")):
        bad.write_text(json.dumps({"text": "ok", "label": "bullying"}) + "\n" + line + "\n", encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            read_cases(bad)


def test_case_from_a_flagged_item_document():
    item = ScoredItem(id="item-1", kind="tip", text="he said he'd bring a knife", source="tipline", source_kind="tipline",
                      threat_score=0.7, self_harm_score=0.0, severity="P2", category="violence", school_relevance=1.0,
                      model_version="v2-20261123")
    doc = item_document(item)
    assert case_from_item("item-1", doc) is None  # not labeled yet
    doc["review"].update(label="threat_substantive", updated_by="sro.kim", updated="2026-12-01T15:00:00+00:00")
    case = case_from_item("item-1", doc)
    assert case.as_row() == {"text": "he said he'd bring a knife", "label": "threat_substantive", "id": "item-1",
                             "labeled_by": "sro.kim", "labeled_at": "2026-12-01T15:00:00+00:00",
                             "model_version": "v2-20261123", "source_kind": "tipline", "kind": "tip"}
    doc["review"]["label"] = "false_positive"  # not a label the console gives: not a training case
    assert case_from_item("item-1", doc) is None


def test_a_champion_trained_on_another_corpus_is_flagged(tmp_path):
    now = {"sha256": "abc", "rows": 10, "per_split": {"train": 6, "validation": 2, "test": 2}, "families": 4}
    (tmp_path / "v1").mkdir()
    for theirs, stale in (({**now}, False), ({**now, "sha256": "def"}, True),
                          ({k: v for k, v in now.items() if k != "sha256"}, False),  # before fingerprints
                          ({"rows": 9, "per_split": now["per_split"], "families": 4}, True)):
        (tmp_path / "v1" / "metrics.json").write_text(json.dumps({"corpus": theirs}))
        warnings = _stale_champion(tmp_path, "v1", now)
        assert bool(warnings) is stale, theirs
    assert _stale_champion(tmp_path, None, now) == []


def test_functional_regressions_are_the_cases_only_the_champion_passes():
    challenger = {"news": {"failed": ["a", "b"]}, "negated": {"failed": ["c"]}, "emoji": {"failed": []}}
    champion = {"news": {"failed": ["b"]}, "negated": {"failed": ["c", "d"]}, "emoji": {"failed": ["e"]}}
    assert regressions(challenger, champion) == {"news": ["a"]}
