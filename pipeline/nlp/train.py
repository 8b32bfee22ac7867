"""Train, evaluate and register a model version: models/<version>/ with the spaCy pipeline, the
skops classifier, metrics.json, model_card.md, pr_curve.png, confusion.png and manifest.json."""

from __future__ import annotations

import json
import platform
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import skops.io
import sklearn
import spacy
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import GroupKFold

from pipeline.nlp import evaluate
from pipeline.nlp.analyzer import Analyzer, attach_gazetteer, build_nlp
from pipeline.nlp.card import render_card
from pipeline.nlp.corpus import read_jsonl
from pipeline.nlp.features import HEADS, build_pipeline, feature_frame, slim_for_storage
from pipeline.nlp.functional import Case, load_cases, run_suite, score_cases
from pipeline.nlp.lexicon import LexiconClassifier
from pipeline.nlp.model import METRICS_FILE, MODEL_FILE, SPACY_DIR, TrainedClassifier, sha256_file
from pipeline.nlp.verdict import Thresholds, Verdict

# A phase of work with an optional size: the context yields `advance(n)`. The CLI draws rich
# progress bars with it, bench/retrain.py times the phases, everything else passes `quiet`.
Phase = Callable[[str, "int | None"], AbstractContextManager[Callable[[int], None]]]
CHUNK = 250  # texts per progress step: small enough to move the bar, big enough to batch well


@contextmanager
def quiet(name: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    yield lambda n=1: None

CATEGORIES = ("violence", "self_harm", "bullying", "weapons", "drugs", "none")
# Operating points chosen on the validation split. P3 casts the wide net reviewers triage;
# P2 alerts a person, so it must be right most of the time; P1 pages at once, so nearly always.
TARGETS = {"threat": {"P3_recall": 0.92, "P2_precision": 0.85, "P1_precision": 0.95},
           "self_harm": {"P3_recall": 0.92, "P2_precision": 0.80, "P1_precision": 0.95},
           "bullying": {"P3_recall": 0.90, "P2_precision": 0.85, "P1_precision": 0.95}}


@dataclass(frozen=True)
class ConfigFiles:
    lexicon_dir: Path
    cues_file: Path
    identity_file: Path
    schools_file: Path


def true_category(row: dict) -> str:
    return "self_harm" if row["self_harm"] else "violence" if row["threat"] else "bullying" if row["bullying"] else "none"


def choose_thresholds(y: np.ndarray, p: np.ndarray, targets: dict[str, float]) -> Thresholds:
    precision, recall, cut = precision_recall_curve(y, p)
    precision, recall = precision[:-1], recall[:-1]  # align with `cut`

    def lowest_cut_with_precision(goal: float, floor: float) -> float:
        ok = np.flatnonzero((precision >= goal) & (cut >= floor))
        return float(cut[ok[0]]) if ok.size else max(floor, 0.9)

    reach = np.flatnonzero(recall >= targets["P3_recall"])
    p3 = float(cut[reach[-1]]) if reach.size else 0.3
    p3 = min(max(p3, 0.05), 0.5)
    p2 = lowest_cut_with_precision(targets["P2_precision"], p3)
    p2 = max(p2, p3)
    # Keep the tiers distinct: when validation cannot separate them (tiny or very clean data),
    # P1 still asks for clearly more certainty than P2.
    p1 = max(lowest_cut_with_precision(targets["P1_precision"], max(p2, 0.5)), min(p2 + 0.1, 0.99))
    return Thresholds(p1=round(p1, 4), p2=round(p2, 4), p3=round(p3, 4))


def train(corpus_file: Path, files: ConfigFiles, out_dir: Path, version: str, *,
          functional_dir: Path | None = None, external: Path | None = None, everyday: Path | None = None,
          baseline: LexiconClassifier | None = None, log: Callable[[str], None] = print,
          phase: Phase = quiet) -> dict:
    rows = read_jsonl(corpus_file)
    log(f"corpus: {len(rows)} rows from {corpus_file}")
    return train_rows(rows, corpus_file, files, out_dir, version, functional_dir=functional_dir,
                      external=external, everyday=everyday, baseline=baseline, log=log, phase=phase)


def train_rows(rows: list[dict], corpus_file: Path, files: ConfigFiles, out_dir: Path, version: str, *,
               functional_dir: Path | None = None, external: Path | None = None, everyday: Path | None = None,
               baseline: LexiconClassifier | None = None, log: Callable[[str], None] = print,
               phase: Phase = quiet) -> dict:
    """Train on corpus-shaped rows (0/1 per head, ``split``, ``family``; optional ``weight``, and
    ``origin`` on rows that came from analysts' labels rather than ``corpus_file``)."""
    nlp = attach_gazetteer(build_nlp(files.lexicon_dir, files.cues_file, files.identity_file), files.schools_file)
    analyzer = Analyzer(nlp)
    with phase("analyse posts", len(rows)) as advance:
        analyses = in_chunks(analyzer.analyze, [r["text"] for r in rows], advance)
    split = np.array([r["split"] for r in rows])
    Y = np.array([[r[h] for h in HEADS] for r in rows])
    frame = feature_frame(analyses)
    train_idx = np.flatnonzero(split == "train")
    families = np.array([r["family"] for r in rows])[train_idx]
    folds = list(GroupKFold(n_splits=5).split(train_idx, groups=families))
    pipeline = build_pipeline(folds)
    weights = np.array([float(r.get("weight", 1.0)) for r in rows])[train_idx]
    # Unweighted data is fitted exactly as before weights existed (same numbers as the shipped models).
    fit_params = {"heads__sample_weight": weights} if (weights != 1.0).any() else {}
    log(f"fitting on {train_idx.size} training rows ({len(set(families))} families)")
    with phase("fit model", None):
        pipeline.fit(frame.iloc[train_idx], Y[train_idx], **fit_params)

    out_dir.mkdir(parents=True)
    # A fresh pipeline, not the one that read the corpus: spaCy's string store keeps every token it
    # has seen (names included) and would write them all into the model directory. The district's
    # gazetteer is attached at load time.
    build_nlp(files.lexicon_dir, files.cues_file, files.identity_file).to_disk(out_dir / SPACY_DIR)
    # deflated: the schema is mostly vocabulary JSON, ~10x smaller in the repository
    skops.io.dump(slim_for_storage(pipeline), out_dir / MODEL_FILE, compression=zipfile.ZIP_DEFLATED)
    thresholds = _validation_thresholds(pipeline, frame, Y, split)
    _write_json(out_dir / METRICS_FILE, {"thresholds": {h: t.points() for h, t in thresholds.items()}})
    _write_json(out_dir / "manifest.json", {"version": version, "sha256": {MODEL_FILE: sha256_file(out_dir / MODEL_FILE)}})

    model = TrainedClassifier.load(out_dir, files.schools_file)
    metrics = _evaluate(model, rows, split, functional_dir, external, baseline, out_dir, log, phase)
    if everyday is not None and everyday.is_file():
        metrics["real_world"] = real_world(model, baseline, everyday, files, phase)
        log(f"real world: {metrics['real_world']['model']}")
    metrics["thresholds"] = {h: t.points() for h, t in thresholds.items()}
    corpus = [(r, s) for r, s in zip(rows, split) if "origin" not in r]
    # The fingerprint tells a later retrain whether this model's test split is still today's.
    metrics["corpus"] = {"file": corpus_file.name, "sha256": sha256_file(corpus_file), "rows": len(corpus),
                         "per_split": {s: sum(1 for _, x in corpus if x == s) for s in ("train", "validation", "test")},
                         "families": len({r["family"] for r, _ in corpus})}
    save_metrics(out_dir, version, metrics)
    _write_json(out_dir / "manifest.json", {
        "version": version, "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "sha256": {MODEL_FILE: sha256_file(out_dir / MODEL_FILE)},
        "trained_with": {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                         "spacy": spacy.__version__, "skops": skops.__version__},
        "config_files": [p.name for p in (files.cues_file, files.identity_file)] + ["lexicons/"],
    })
    return metrics


def save_metrics(out_dir: Path, version: str, metrics: dict) -> None:
    """metrics.json and the card rendered from it (again when a retrain adds its comparison)."""
    _write_json(out_dir / METRICS_FILE, metrics)
    (out_dir / "model_card.md").write_text(render_card(version, metrics), encoding="utf-8")


def in_chunks(score: Callable[[Sequence[str]], list], texts: Sequence[str], advance: Callable[[int], None]) -> list:
    out: list = []
    for start in range(0, len(texts), CHUNK):
        chunk = texts[start:start + CHUNK]
        out += score(chunk)
        advance(len(chunk))
    return out


def _validation_thresholds(pipeline, frame, Y, split) -> dict[str, Thresholds]:
    val = np.flatnonzero(split == "validation")
    features = pipeline.named_steps["features"].transform(frame.iloc[val])
    heads = pipeline.named_steps["heads"].estimators_
    return {h: choose_thresholds(Y[val, i], est.predict_proba(features)[:, 1], TARGETS[h])
            for i, (h, est) in enumerate(zip(HEADS, heads))}


def _evaluate(model: TrainedClassifier, rows, split, functional_dir, external, baseline, out_dir, log,
              phase: Phase = quiet) -> dict:
    test = [r for r, s in zip(rows, split) if s == "test"]
    with phase("score test split", len(test)) as advance:
        scored = in_chunks(model.score_detailed, [r["text"] for r in test], advance)
    probs = {h: [s.scores[h] for s in scored] for h in HEADS}
    points = {h: model.thresholds[h].points() for h in HEADS}
    truth = [true_category(r) for r in test]
    predicted = [s.verdict.category for s in scored]
    matrix = evaluate.category_confusion(truth, predicted, CATEGORIES)
    evaluate.plot_confusion(matrix, CATEGORIES, out_dir / "confusion.png", f"{model.version}: category on the test split")
    evaluate.plot_pr_curves({h: ([r[h] for r in test], probs[h]) for h in HEADS},
                            points, out_dir / "pr_curve.png")
    metrics = {"test": {"n": len(test), "heads": head_report(model, test, scored),
                        "confusion": {"labels": list(CATEGORIES), "matrix": matrix},
                        "triage": _triage(test, [s.verdict for s in scored])}}
    if baseline is not None:
        metrics["baseline"] = _baseline(baseline, test)
    if functional_dir is not None and functional_dir.is_dir():
        cases = load_cases(functional_dir)
        metrics["functional"] = functional_rates(model, cases, phase)
        if baseline is not None:
            metrics["baseline"]["functional"] = _rates(run_suite(cases, score_cases(baseline, cases)))
        log("functional suite: " + ", ".join(f"{c} {r['passed']}/{r['total']}" for c, r in metrics["functional"].items()))
    if external is not None and external.is_file():
        metrics["external_validation"] = external_validation(model, external)
        log(f"external validation: {metrics['external_validation']}")
    return metrics


def head_report(model: TrainedClassifier, test: Sequence[dict], scored: Sequence) -> dict:
    """ROC-AUC, PR-AUC and precision/recall at the model's own P1/P2/P3 thresholds, per head, and
    the share of its positives the verdicts route where they belong (``routed``)."""
    verdicts = [s.verdict for s in scored]
    return {h: {**evaluate.head_metrics([r[h] for r in test], [s.scores[h] for s in scored], model.thresholds[h].points()),
                "routed": evaluate.routed_recall(h, [r[h] for r in test], verdicts)}
            for h in HEADS}


def score_test(model: TrainedClassifier, test: Sequence[dict], phase: Phase = quiet, name: str = "score test split") -> dict:
    with phase(name, len(test)) as advance:
        return head_report(model, test, in_chunks(model.score_detailed, [r["text"] for r in test], advance))


def functional_rates(model: TrainedClassifier, cases: Sequence[Case], phase: Phase = quiet,
                     name: str = "functional suite") -> dict:
    with phase(name, len(cases)) as advance:
        return _rates(run_suite(cases, in_chunks(lambda chunk: score_cases(model, chunk), cases, advance)))


def _rates(results: dict) -> dict:
    return {c: {"passed": r.passed, "total": r.total, "rate": round(r.rate, 4), "failed": r.failed_texts}
            for c, r in results.items()}


def _triage(test: Sequence[dict], verdicts: Sequence[Verdict]) -> dict:
    """What an SRO would see: concerning posts caught (flagged at all, alerted at P1/P2) and
    posts that are none of threat, self-harm or bullying that still got flagged or alerted."""
    concerning = [bool(r["threat"] or r["self_harm"] or r["bullying"]) for r in test]
    flagged = [v.severity != "none" for v in verdicts]
    alerted = [v.severity in ("P1", "P2") for v in verdicts]

    def count(flags, want):
        return sum(1 for c, f in zip(concerning, flags) if f and c == want)

    return {"concerning": sum(concerning), "concerning_flagged": count(flagged, True),
            "concerning_alerted": count(alerted, True), "negatives": len(test) - sum(concerning),
            "negatives_flagged": count(flagged, False), "negatives_alerted": count(alerted, False)}


def _baseline(baseline: LexiconClassifier, test: Sequence[dict]) -> dict:
    verdicts = baseline.score_many([r["text"] for r in test])
    y = [r["threat"] for r in test]
    return {"version": baseline.version,
            "threat": evaluate.head_metrics(y, [v.threat_score for v in verdicts], baseline.thresholds.points()),
            "triage": _triage(test, verdicts)}


def external_validation(model: TrainedClassifier, path: Path, positive_label: int = 2) -> dict:
    """ROC-AUC of threat_score on a third-party set (never committed, never needed by tests)."""
    rows = read_jsonl(path)
    scores = [v.threat_score for v in model.score_many([r["text"] for r in rows])]
    result = evaluate.head_metrics([int(r["label"] == positive_label) for r in rows], scores,
                                   model.thresholds["threat"].points())
    return {"dataset": path.name, "n": result["n"], "positives": result["positives"],
            "roc_auc": result["roc_auc"], "pr_auc": result["pr_auc"], "at_threshold": result["at_threshold"]}


def real_world(model: TrainedClassifier, baseline: LexiconClassifier | None, path: Path, files: ConfigFiles,
               phase: Phase = quiet) -> dict:
    """Pages and review-queue load on ordinary posts that should page nobody (a third-party set
    or the district's own stream), through the classify stage's path; counts and our own cue
    names only, never post text."""
    from pipeline.classify import score_stream
    from pipeline.nlp.corpus import text_rows
    from pipeline.nlp.realworld import our_phrases, stream_report

    texts = [row["text"] for _, row in text_rows(path)]
    ours = our_phrases(files.lexicon_dir, files.cues_file)
    report = {"dataset": path.name}
    for name, classifier in (("model", model), ("baseline", baseline)):
        if classifier is not None:
            with phase(f"ordinary posts: {name}", len(texts)) as advance:
                verdicts = score_stream(texts, classifier, advance)
            report[name] = stream_report(verdicts, ours, top=10)
    return report


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
