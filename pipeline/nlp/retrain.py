"""Retraining with analysts' labels: merge them into the shipped corpus, train a challenger with
the ordinary training code, measure it and the champion on the same fixed test split and
functional suite, and record the comparison and the policy's decision in the challenger's
metrics.json and model card. Changing the champion is the caller's step (pipeline.retraining)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.district_stream import DistrictStream, background_sample
from pipeline.nlp.corpus import read_jsonl
from pipeline.nlp.functional import load_cases
from pipeline.nlp.labels import TARGETS, LabeledCase, normalised
from pipeline.nlp.lexicon import LexiconClassifier
from pipeline.nlp.model import METRICS_FILE, TrainedClassifier, sha256_file
from pipeline.nlp.model_errors import ModelError
from pipeline.nlp.promotion import Decision, PromoteMode, decide
from pipeline.nlp.registry import champion_or_none, next_version
from pipeline.nlp.train import ConfigFiles, Phase, functional_rates, quiet, save_metrics, score_test, train_rows


@dataclass(frozen=True)
class Retrained:
    version: str
    path: Path
    metrics: dict
    decision: Decision


def _when(case: LabeledCase) -> datetime:
    try:
        moment = datetime.fromisoformat(case.labeled_at or "")
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def merge(corpus: Sequence[dict], cases: Sequence[LabeledCase]) -> tuple[list[dict], dict]:
    """Training rows: the corpus with the labeled cases folded in, one label per normalised text,
    and what happened to the labels (for the card).

    - Several labels for one text: the console beats a file (it is the record), then the latest.
    - A label for a corpus text in the training split replaces the corpus's label (people who
      read the post beat our templates) and keeps the corpus family, so calibration folds still
      group it with its near-duplicates.
    - A label for a corpus text in validation or test is not trained on: the held-out split stays
      fixed and unseen, so every challenger is compared with the champion on the same posts.
      Disagreements with its corpus label are counted: they point at a template to fix."""
    chosen: dict[str, LabeledCase] = {}
    conflicts = 0
    for case in cases:
        key = normalised(case.text)
        old = chosen.get(key)
        if old is not None and old.label != case.label:
            conflicts += 1
        if old is None or (case.origin == "console", _when(case)) > (old.origin == "console", _when(old)):
            chosen[key] = case
    by_key: dict[str, list[int]] = {}
    for i, row in enumerate(corpus):
        by_key.setdefault(normalised(row["text"]), []).append(i)

    replaced: set[int] = set()
    added: list[dict] = []
    trained: list[LabeledCase] = []
    stats = Counter()
    for key, case in chosen.items():
        matches = by_key.get(key, [])
        if any(corpus[i]["split"] != "train" for i in matches):
            stats["held_out"] += 1
            stats["held_out_disagreements"] += any(_disagrees(corpus[i], case) for i in matches)
            continue
        if matches:
            stats["relabeled_corpus"] += 1
            stats["changed_corpus_labels"] += any(_disagrees(corpus[i], case) for i in matches)
            replaced.update(matches)
            family = corpus[matches[0]]["family"]
        else:
            stats["new"] += 1
            family = "labeled-" + hashlib.sha256(key.encode()).hexdigest()[:12]
        added += training_rows(case, family)
        trained.append(case)
    rows = [r for i, r in enumerate(corpus) if i not in replaced] + added
    summary = {
        "cases": len(cases), "unique_texts": len(chosen), "duplicates": len(cases) - len(chosen),
        "conflicting_duplicates": conflicts, "trained_on": len(trained),
        "by_label": dict(sorted(Counter(c.label for c in trained).items())),
        "by_origin": dict(sorted(Counter(c.origin for c in trained).items())),
        "new_texts": stats["new"], "relabeled_corpus_texts": stats["relabeled_corpus"],
        "changed_corpus_labels": stats["changed_corpus_labels"], "held_out_skipped": stats["held_out"],
        "held_out_disagreements": stats["held_out_disagreements"],
    }
    return rows, summary


def _disagrees(row: dict, case: LabeledCase) -> bool:
    # A soft target (a transient threat) agrees with either corpus label of its head.
    return any(t in (0.0, 1.0) and int(t) != row[h] for h, t in TARGETS[case.label].items())


def training_rows(case: LabeledCase, family: str) -> list[dict]:
    """One row per case; a soft target (a transient threat) becomes a positive and a negative
    row whose weights are the target and its complement."""
    base = {"id": case.id or hashlib.sha256(case.text.encode()).hexdigest()[:16], "family": family,
            "kind": f"label:{case.label}", "split": "train", "text": case.text, "origin": case.origin}
    targets = TARGETS[case.label]
    hard = {h: int(t) for h, t in targets.items() if t in (0.0, 1.0)}
    soft = {h: t for h, t in targets.items() if h not in hard}
    if not soft:
        return [{**base, **hard}]
    (head, p), = soft.items()
    return [{**base, **hard, head: 1, "weight": p}, {**base, **hard, head: 0, "weight": 1 - p}]


def corpus_shape(corpus: Sequence[dict], corpus_file: Path) -> dict:
    """What a model's metrics.json records of the corpus file it was trained on (before labels)."""
    return {"sha256": sha256_file(corpus_file), "rows": len(corpus),
            "per_split": {s: sum(r["split"] == s for r in corpus) for s in ("train", "validation", "test")},
            "families": len({r["family"] for r in corpus})}


def _stale_champion(models_dir: Path, champion: str | None, corpus: dict) -> list[str]:
    """A champion trained on another version of the corpus may have trained on texts that are in
    today's test split (families are re-dealt when templates change): its numbers are flattered."""
    if champion is None:
        return []
    try:
        theirs = json.loads((models_dir / champion / METRICS_FILE).read_text(encoding="utf-8")).get("corpus", {})
    except (OSError, ValueError):
        theirs = {}
    if "sha256" in theirs:
        same = theirs["sha256"] == corpus["sha256"]
    else:  # versions before the fingerprint: the shape of the corpus is what they recorded
        same = all(theirs.get(k) == corpus[k] for k in ("rows", "per_split", "families"))
    return [] if same else [
        f"{champion} was trained on another version of the corpus ({theirs.get('rows', '?')} rows, "
        f"{theirs.get('families', '?')} families; now {corpus['rows']}, {corpus['families']}): it may have trained on "
        "texts in today's test split, which flatters its numbers. If the policy refuses for that reason, "
        "a forced promotion (audited) is the honest way forward."]


def regressions(challenger: dict, champion: dict) -> dict[str, list[str]]:
    """Functional cases the champion passes and the challenger fails, per capability: what an
    analyst reads before forcing a promotion the policy refused."""
    lost = {c: sorted(set(r.get("failed", [])) - set(champion.get(c, {}).get("failed", [])))
            for c, r in challenger.items()}
    return {c: texts for c, texts in lost.items() if texts}


def measure(model: TrainedClassifier, test: Sequence[dict], cases, phase: Phase = quiet) -> dict:
    """What the promotion policy compares: per-head test metrics and functional pass counts."""
    return {"heads": score_test(model, test, phase, f"score test split ({model.version})"),
            "functional": functional_rates(model, cases, phase, f"functional suite ({model.version})")}


def district_rows(district: DistrictStream, taken: Sequence[dict], n: int, weight: float) -> list[dict]:
    """The district's unflagged posts as low-weight background negatives: texts the corpus or the
    labels already hold are left out (a held-out test text must stay unseen)."""
    known = {normalised(r["text"]) for r in taken}
    rows = []
    for text in background_sample(district.unflagged, len(district.unflagged)):
        key = normalised(text)
        if key in known:
            continue
        if len(rows) == n:
            break
        known.add(key)
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        rows.append({"id": f"district-{digest}", "family": f"district-{digest}", "kind": "district", "split": "train",
                     "text": text, "threat": 0, "self_harm": 0, "bullying": 0, "weight": weight, "origin": "district"})
    return rows


def shadow_run(model: TrainedClassifier, posts: Sequence[str], advance: Callable[[int], None] = lambda n: None) -> dict:
    """What ``model`` would have paged on the district's own posts (the classify stage's path)."""
    from pipeline.classify import score_stream
    from pipeline.nlp.realworld import stream_report

    report = stream_report(score_stream(posts, model, advance))
    report.pop("top_cues_behind_pages")  # cue spellings come from the district's posts: not in the card
    return report


def retrain(cases: Sequence[LabeledCase], *, corpus_file: Path, files: ConfigFiles, models_dir: Path,
            functional_dir: Path, mode: PromoteMode, by: str | None, version: str | None = None,
            baseline: LexiconClassifier | None = None, district: DistrictStream | None = None,
            district_sample: int = 2000, district_weight: float = 0.2, log: Callable[[str], None] = print,
            phase: Phase = quiet) -> Retrained:
    """``district``: the district's own posts from the bus; the unflagged ones train as background
    negatives and all of them make the shadow run the promotion policy reads."""
    if not functional_dir.is_dir():
        raise ModelError(f"functional suite {functional_dir} not found: the promotion policy needs it")
    corpus = read_jsonl(corpus_file)
    rows, labels = merge(corpus, cases)
    log(f"labels: {labels['trained_on']} trained on of {labels['cases']} "
        f"({labels['held_out_skipped']} held-out texts skipped, {labels['duplicates']} duplicates)")
    background = district_rows(district, rows, district_sample, district_weight) if district else []
    if district is not None:
        log(f"district stream: {len(district.posts)} posts of the last {district.days} days, "
            f"{len(background)} unflagged ones as background negatives")
    rows += background
    champion = champion_or_none(models_dir)
    version = version or next_version(models_dir)
    if (models_dir / version).exists():
        raise ModelError(f"{models_dir / version} already exists; a released version is never overwritten")
    # Built beside the registry and renamed into place when complete: a crash or Ctrl-C never
    # leaves a half-written version that could be listed or promoted.
    partial = models_dir / f".partial-{version}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        metrics = train_rows(rows, corpus_file, files, partial, version, functional_dir=functional_dir,
                             baseline=baseline, log=log, phase=phase)
        champion_numbers = champion_model = None
        if champion is not None:
            test = [r for r in corpus if r["split"] == "test"]  # the rows train_rows tested on
            champion_model = TrainedClassifier.load(models_dir / champion, files.schools_file)
            champion_numbers = measure(champion_model, test, load_cases(functional_dir), phase)
        shadow = pages = None
        if district is not None and district.posts:
            models = [("challenger", TrainedClassifier.load(partial, files.schools_file)), ("champion", champion_model)]
            with phase("shadow run on the district's posts", len(district.posts) * 2) as advance:
                runs = {name: model and shadow_run(model, district.posts, advance) for name, model in models}
            shadow = {"days": district.days, "posts": len(district.posts), "background": len(background),
                      "weight": district_weight, **runs}
            if champion_model is not None:
                pages = {name: run["pages_per_10k"] for name, run in runs.items()}
        decision = decide(version, {"heads": metrics["test"]["heads"], "functional": metrics["functional"]},
                          champion, champion_numbers, pages)
        metrics["retrain"] = {"labels": labels, "champion": champion_numbers and {"version": champion, **champion_numbers},
                              "shadow": shadow,
                              "warnings": _stale_champion(models_dir, champion, corpus_shape(corpus, corpus_file)),
                              "decision": decision.as_dict(), "promote": mode, "by": by,
                              "functional_regressions": champion_numbers and regressions(metrics["functional"],
                                                                                         champion_numbers["functional"])}
        save_metrics(partial, version, metrics)
        partial.rename(models_dir / version)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return Retrained(version, models_dir / version, metrics, decision)
