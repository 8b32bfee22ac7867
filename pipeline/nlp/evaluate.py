"""Evaluation numbers for the classifier heads (threat, self-harm, bullying), used by
`threatline eval`, training and the model card. Pure functions over labels and scores. sklearn and
matplotlib are imported inside the functions that need them, so importing this module (the model
card only needs format_table) costs numpy alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

SEVERITIES = ("P1", "P2", "P3")
_MARKERS = {"P1": "o", "P2": "s", "P3": "^"}
_DASH = "–"


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def _arrays(y_true: Sequence[int], y_score: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y_true, dtype=int).ravel(), np.asarray(y_score, dtype=float).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.size} labels but y_score has {p.size} scores")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must be 0/1 labels")
    return y, p


def _operating_point(y: np.ndarray, p: np.ndarray, threshold: float) -> tuple[float | None, float | None, int]:
    """Precision, recall and flagged count at `score >= threshold` (the same rule as Thresholds.severity).
    Precision is None when nothing is flagged and recall None when there are no positives: neither
    0 nor 1 would be honest there."""
    flagged = p >= threshold
    k, hits, positives = int(flagged.sum()), int((flagged & (y == 1)).sum()), int((y == 1).sum())
    return (hits / k if k else None), (hits / positives if positives else None), k


def head_metrics(y_true: Sequence[int], y_score: Sequence[float], thresholds: Mapping[str, float]) -> dict:
    """One binary head: ROC-AUC, PR-AUC (average precision) and precision/recall/F1 at each
    severity threshold given (in P1, P2, P3 order). AUCs are None when only one class is present
    (sklearn would raise or return NaN, which JSON and the card cannot carry). Floats rounded to 4."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, p = _arrays(y_true, y_score)
    both_classes = np.unique(y).size == 2
    points = {}
    for tier in (t for t in SEVERITIES if t in thresholds):
        precision, recall, flagged = _operating_point(y, p, thresholds[tier])
        f1 = None
        if precision is not None and recall is not None:
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        points[tier] = {"threshold": _round(thresholds[tier]), "precision": _round(precision),
                        "recall": _round(recall), "f1": _round(f1), "flagged": flagged}
    return {"n": int(y.size), "positives": int((y == 1).sum()),
            "roc_auc": _round(roc_auc_score(y, p)) if both_classes else None,
            "pr_auc": _round(average_precision_score(y, p)) if both_classes else None,
            "at_threshold": points}


# What the pipeline does with a head's positives: the category its verdict must carry, and the
# verdicts that count (bullying never pages, so "flagged" is what protects a bullied student).
ROUTED = {"threat": ("violence", {"P1": ("P1",), "P1/P2": ("P1", "P2")}),
          "self_harm": ("self_harm", {"P1": ("P1",), "P1/P2": ("P1", "P2")}),
          "bullying": ("bullying", {"flagged": ("P1", "P2", "P3")})}


def routed_recall(head: str, y_true: Sequence[int], verdicts: Sequence) -> dict[str, float | None]:
    """Of the head's positives, the share whose verdict (``.category``, ``.severity``) routes them
    where they belong: paged at once (P1), paged (P1/P2), or for bullying flagged at all. Evidence-
    first routing decides this, not the head's thresholds alone. None when there are no positives."""
    category, tiers = ROUTED[head]
    positives = [v for y, v in zip(y_true, verdicts) if y]
    return {name: _round(sum(v.category == category and v.severity in allowed for v in positives) / len(positives))
            if positives else None for name, allowed in tiers.items()}


def category_confusion(true_categories: Sequence[str], predicted_categories: Sequence[str],
                       labels: Sequence[str]) -> list[list[int]]:
    """Rows are true categories, columns predicted, both in `labels` order (plain ints for JSON)."""
    from sklearn.metrics import confusion_matrix

    if len(true_categories) != len(predicted_categories):
        raise ValueError("true and predicted categories differ in length")
    if not len(true_categories):  # sklearn refuses empty input; an empty test split is all zeros
        return [[0] * len(labels) for _ in labels]
    return confusion_matrix(list(true_categories), list(predicted_categories), labels=list(labels)).tolist()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless: CI and containers have no display
    import matplotlib.pyplot as plt

    return plt


def plot_pr_curves(curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
                   thresholds: Mapping[str, Mapping[str, float]], path: Path) -> None:
    """One precision-recall curve per head on one figure, the P1/P2/P3 operating points marked and
    labelled, PR-AUC in the legend. A head with one class only has no curve and is listed as such."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    try:
        for head, (y_true, y_score) in curves.items():
            y, p = _arrays(y_true, y_score)
            if np.unique(y).size < 2:
                ax.plot([], [], linestyle="none", label=f"{head} (one class, no curve)")
                continue
            precision, recall, _ = precision_recall_curve(y, p)
            line, = ax.plot(recall, precision, drawstyle="steps-post",
                            label=f"{head} (PR-AUC {average_precision_score(y, p):.3f})")
            for tier in (t for t in SEVERITIES if t in thresholds.get(head, {})):
                prec, rec, _ = _operating_point(y, p, thresholds[head][tier])
                if prec is None:  # nothing flagged: no point on the curve
                    continue
                ax.plot(rec, prec, _MARKERS[tier], color=line.get_color(), markeredgecolor="black")
                ax.annotate(tier, (rec, prec), textcoords="offset points", xytext=(5, 5), fontsize=8)
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02), title="Precision-recall")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower left")
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=110)
    finally:
        plt.close(fig)  # pyplot keeps figures alive otherwise; training plots many


def plot_confusion(matrix: list[list[int]], labels: Sequence[str], path: Path, title: str) -> None:
    """Annotated confusion-matrix heatmap: counts in cells, true on the y axis, predicted on the x axis."""
    m = np.asarray(matrix, dtype=int)
    if m.shape != (len(labels), len(labels)):
        raise ValueError(f"matrix shape {m.shape} does not match {len(labels)} labels")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    try:
        image = ax.imshow(m, cmap="Blues", vmin=0)
        fig.colorbar(image, ax=ax)
        ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        for i, j in np.ndindex(m.shape):
            # white on dark cells so the count stays readable
            ax.text(j, i, str(m[i, j]), ha="center", va="center",
                    color="white" if m.max() and m[i, j] > m.max() / 2 else "black")
        ax.set(xlabel="predicted", ylabel="true", title=title)
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=110)
    finally:
        plt.close(fig)


def format_table(report: Mapping[str, dict]) -> list[list[str]]:
    """Rows for a table: head, n, positives, ROC-AUC, PR-AUC, then 'precision/recall' at P1, P2, P3
    (e.g. '0.91/0.78'); '–' for anything undefined or a tier not evaluated."""
    def num(x: float | None, digits: int) -> str:
        return _DASH if x is None else f"{x:.{digits}f}"

    rows = []
    for head, m in report.items():
        pr = []
        for tier in SEVERITIES:
            point = m["at_threshold"].get(tier)
            pr.append(_DASH if point is None else f"{num(point['precision'], 2)}/{num(point['recall'], 2)}")
        rows.append([head, str(m["n"]), str(m["positives"]), num(m["roc_auc"], 3), num(m["pr_auc"], 3), *pr])
    return rows
