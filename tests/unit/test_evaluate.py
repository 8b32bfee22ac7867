import json
import subprocess
import sys

import pytest

from pipeline.nlp.evaluate import (SEVERITIES, category_confusion, format_table, head_metrics, plot_confusion,
                                   plot_pr_curves)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Scores sorted: 0.9(+) 0.7(-) 0.6(+) 0.2(+) 0.1(-)
Y = [1, 1, 0, 0, 1]
P = [0.9, 0.6, 0.7, 0.1, 0.2]
T = {"P1": 0.8, "P2": 0.5, "P3": 0.15}


def test_precision_recall_f1_at_each_threshold_by_hand():
    m = head_metrics(Y, P, T)
    assert (m["n"], m["positives"]) == (5, 3)
    assert m["at_threshold"] == {
        # 0.9 flagged: 1 of 1 right, 1 of 3 found
        "P1": {"threshold": 0.8, "precision": 1.0, "recall": 0.3333, "f1": 0.5, "flagged": 1},
        # 0.9, 0.7, 0.6 flagged: 2 of 3 right, 2 of 3 found
        "P2": {"threshold": 0.5, "precision": 0.6667, "recall": 0.6667, "f1": 0.6667, "flagged": 3},
        # all but 0.1 flagged: 3 of 4 right, all 3 found; f1 = 2*.75*1/1.75
        "P3": {"threshold": 0.15, "precision": 0.75, "recall": 1.0, "f1": 0.8571, "flagged": 4},
    }


def test_aucs_by_hand():
    m = head_metrics(Y, P, T)
    assert m["roc_auc"] == 0.6667  # 4 of the 6 positive/negative pairs ranked right
    assert m["pr_auc"] == 0.8056  # average precision: 1/3*1 + 1/3*2/3 + 1/3*3/4 = 29/36


def test_threshold_is_inclusive_like_severity():
    m = head_metrics([1, 0], [0.5, 0.4], {"P1": 0.5})
    assert m["at_threshold"]["P1"]["flagged"] == 1 and m["at_threshold"]["P1"]["precision"] == 1.0


@pytest.mark.parametrize("y", [[0, 0, 0], [1, 1, 1]])
def test_single_class_gives_none_aucs(y):
    m = head_metrics(y, [0.1, 0.5, 0.9], T)
    assert m["roc_auc"] is None and m["pr_auc"] is None


def test_nothing_flagged_gives_precision_none():
    point = head_metrics([1, 0, 1], [0.1, 0.2, 0.3], {"P1": 0.9})["at_threshold"]["P1"]
    assert point == {"threshold": 0.9, "precision": None, "recall": 0.0, "f1": None, "flagged": 0}


def test_only_negatives_flagged_is_precision_zero_not_none():
    point = head_metrics([1, 0], [0.1, 0.9], {"P1": 0.5})["at_threshold"]["P1"]
    assert (point["precision"], point["recall"], point["f1"]) == (0.0, 0.0, 0.0)


def test_no_positives_gives_recall_none():
    point = head_metrics([0, 0], [0.1, 0.9], {"P1": 0.5})["at_threshold"]["P1"]
    assert (point["precision"], point["recall"], point["f1"]) == (0.0, None, None)


def test_missing_tier_is_omitted_and_order_follows_severities():
    m = head_metrics(Y, P, {"P3": 0.15, "P1": 0.8})
    assert list(m["at_threshold"]) == ["P1", "P3"]


def test_metrics_are_plain_json_without_nan():
    m = head_metrics([0, 0], [0.1, 0.2], T)
    assert json.loads(json.dumps(m, allow_nan=False)) == m
    assert all(type(v) is float for v in (head_metrics(Y, P, T)["roc_auc"], head_metrics(Y, P, T)["pr_auc"]))


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="labels"):
        head_metrics([1, 0], [0.5], T)
    with pytest.raises(ValueError, match="0/1"):
        head_metrics([2, 0], [0.5, 0.1], T)


def test_confusion_rows_are_truth_columns_predicted_in_label_order():
    truth = ["threat", "threat", "threat", "none"]
    predicted = ["bullying", "threat", "threat", "threat"]
    assert category_confusion(truth, predicted, ["none", "threat", "bullying"]) == [
        [0, 1, 0],  # the one true "none" was predicted threat
        [0, 2, 1],  # true threats: 2 right, 1 called bullying
        [0, 0, 0],  # no true bullying
    ]


def test_confusion_of_nothing_is_zeros():
    assert category_confusion([], [], ["a", "b"]) == [[0, 0], [0, 0]]


def test_plot_pr_curves_writes_png(tmp_path):
    path = tmp_path / "pr.png"
    plot_pr_curves({"threat": ([1, 0, 1, 0], [0.9, 0.2, 0.6, 0.4]),
                    "self_harm": ([0, 0, 0], [0.1, 0.2, 0.3])},  # one class: listed, no curve
                   {"threat": {"P1": 0.95, "P2": 0.8, "P3": 0.3}}, path)  # P1 flags nothing: no marker
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 1000


def test_plot_confusion_writes_png(tmp_path):
    path = tmp_path / "confusion.png"
    plot_confusion([[3, 1], [0, 2]], ["a", "b"], path, "test split")
    assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 1000


def test_plot_confusion_rejects_mismatched_labels(tmp_path):
    with pytest.raises(ValueError):
        plot_confusion([[1, 0], [0, 1]], ["a", "b", "c"], tmp_path / "c.png", "t")


def test_format_table_shape_and_formatting():
    report = {"threat": head_metrics(Y, P, T),
              "self_harm": head_metrics([0, 0], [0.1, 0.2], {"P1": 0.9, "P2": 0.5})}
    rows = format_table(report)
    assert len(rows) == 2 and all(len(r) == 5 + len(SEVERITIES) for r in rows)
    assert all(isinstance(c, str) for r in rows for c in r)
    assert rows[0] == ["threat", "5", "3", "0.667", "0.806", "1.00/0.33", "0.67/0.67", "0.75/1.00"]
    # one class: no AUCs, no precision, no recall; P3 not evaluated
    assert rows[1] == ["self_harm", "2", "0", "–", "–", "–/–", "–/–", "–"]


def test_import_stays_cheap():
    # a fresh interpreter: this session has long since loaded both
    code = "import sys, pipeline.nlp.evaluate; print(sorted({'matplotlib', 'sklearn'} & sys.modules.keys()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
