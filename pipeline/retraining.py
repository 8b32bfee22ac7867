"""The analysts' retraining loop as a deployment runs it (docs/retraining.md): labels out of the
store, a challenger trained and compared with the champion (pipeline.nlp.retrain), and changes of
champion that are audited in the store and logged in models/promotions.jsonl. The CLI
(`threatline labels | retrain | model`) and the `retrain-classifier` flow call these."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from pipeline.actors import cli_actor
from pipeline.config import REPO_ROOT, Settings
from pipeline.nlp.labels import LabeledCase, case_from_item, read_cases
from pipeline.nlp.model_errors import ModelError
from pipeline.nlp.promotion import Decision, PromoteMode, decide, should_promote
from pipeline.nlp.train import ConfigFiles, Phase, quiet
from pipeline.schema import ReviewEvent, audit_document
from pipeline.store import ItemQuery, Store
from pipeline.store.paging import every_item

FUNCTIONAL = REPO_ROOT / "tests" / "functional" / "cases"
ROLE = "analyst"
PAGE = 500


def models_dir(settings: Settings) -> Path:
    return settings.config_path(settings.classify.models_dir)


def default_corpus(settings: Settings) -> Path:
    return models_dir(settings) / "data" / "corpus.jsonl"


def config_files(settings: Settings) -> ConfigFiles:
    c = settings.classify
    return ConfigFiles(settings.config_path(c.lexicon_dir), settings.config_path(c.cues_file),
                       settings.config_path(c.identity_file), settings.config_path(c.schools_file))


# --- labels out of the store -------------------------------------------------------------------


def labeled_items(store: Store, page_size: int = PAGE) -> Iterator[tuple[str, dict]]:
    """Every labeled flagged item, oldest first."""
    return ((h.id, h.doc) for h in every_item(store, ItemQuery(labeled=True), page_size))


def store_cases(store: Store, since: datetime | None = None) -> list[LabeledCase]:
    """Labeled cases from the console; ``since`` keeps labels given at or after it."""
    cases = []
    for item_id, doc in labeled_items(store):
        case = case_from_item(item_id, doc)
        if case is None:
            continue
        if since is not None:
            try:
                when = datetime.fromisoformat(case.labeled_at or "")
            except ValueError:
                continue  # no readable labeling time: cannot say it is recent
            if (when if when.tzinfo else when.replace(tzinfo=UTC)) < since:
                continue
        cases.append(case)
    return cases


def export_labels(store: Store, out: IO[str], *, since: datetime | None, by: str, output: str) -> int:
    """Write labeled cases as JSON Lines and audit the export: the texts are students' posts
    leaving the system."""
    cases = store_cases(store, since)
    for case in cases:
        out.write(json.dumps(case.as_row(), ensure_ascii=False) + "\n")
    store.append_audit([audit_document(ReviewEvent(
        actor=by, role=ROLE, action="export", reason="labels export",
        details={"cases": len(cases), "since": since.isoformat() if since else None, "output": output}))])
    return len(cases)


def collect_cases(store: Store | None, label_files: Sequence[Path]) -> list[LabeledCase]:
    cases = store_cases(store) if store is not None else []
    for path in label_files:
        cases += read_cases(path)
    return cases


# --- changes of champion ----------------------------------------------------------------------


def change_champion(store: Store, models: Path, version: str, *, action: str, by: str, reasons: list[str],
                    forced: bool = False, role: str = ROLE) -> dict:
    """Audit first, then switch: a change of champion that cannot be audited does not happen."""
    from pipeline.nlp.registry import champion_or_none, change_champion as switch

    store.append_audit([audit_document(ReviewEvent(
        actor=by, role=role, action=action, reason=("forced: " if forced else "") + "; ".join(reasons),
        details={"version": version, "previous": champion_or_none(models), "forced": forced}))])
    return switch(models, version, action=action, by=by, reasons=reasons, forced=forced)


class ForceRefused(ValueError):
    """``--by`` may not force a promotion; the message is fit to show."""


def forcing_admin(settings: Settings, by: str | None) -> str:
    """``by`` if it names an enabled admin of the review console's users file, else ForceRefused.
    Overriding the policy puts a worse model on students' posts: the name must be a person who
    answers for it, not any string."""
    from pipeline.review.users import UsersFile

    path = settings.users_path
    if not by:
        raise ForceRefused("a forced promotion needs --by USERNAME, an enabled admin of the console's users file")
    user = UsersFile(path).get(by)
    if user is None:
        raise ForceRefused(f"--by {by!r}: no such user in {path}; a forced promotion needs an enabled admin")
    if user.disabled:
        raise ForceRefused(f"--by {by!r}: that user is disabled in {path}; a forced promotion needs an enabled admin")
    if user.role != "admin":
        raise ForceRefused(f"--by {by!r}: role {user.role}, not admin; a forced promotion needs an enabled admin")
    return user.username


def apply_decision(store: Store, settings: Settings, decision: Decision, mode: PromoteMode, by: str | None,
                   confirm: Callable[[Decision], bool] | None = None) -> dict | None:
    """Change the champion if ``mode`` says so; None if not. Overriding a refusal needs an admin
    (checked again here: a retrain takes minutes, in which the user may have been disabled) and
    ``confirm(decision)`` to say yes, when given."""
    if not should_promote(decision, mode):
        return None
    forced = not decision.passed
    if forced:
        by = forcing_admin(settings, by)
        if confirm is not None and not confirm(decision):
            return None
    return change_champion(store, models_dir(settings), decision.challenger, action="promote", by=by or cli_actor(),
                           reasons=decision.reasons(), forced=forced, role="admin" if forced else ROLE)


def compare_with_champion(settings: Settings, version: str, *, corpus_file: Path | None = None,
                          functional_dir: Path = FUNCTIONAL, phase: Phase = quiet) -> Decision:
    """The policy for an existing version against the current champion, both measured now on the
    corpus's test split and the functional suite."""
    from pipeline.nlp.corpus import read_jsonl
    from pipeline.nlp.functional import load_cases
    from pipeline.nlp.model import TrainedClassifier
    from pipeline.nlp.registry import champion_or_none
    from pipeline.nlp.retrain import measure

    models, schools = models_dir(settings), config_files(settings).schools_file
    if not (models / version / "manifest.json").is_file():
        raise ModelError(f"no complete model {version!r} in {models}")
    champion = champion_or_none(models)
    if champion == version:
        raise ModelError(f"{version} is already the champion")
    test = [r for r in read_jsonl(corpus_file or default_corpus(settings)) if r["split"] == "test"]
    cases = load_cases(functional_dir)
    mine = measure(TrainedClassifier.load(models / version, schools), test, cases, phase)
    theirs = None if champion is None else measure(TrainedClassifier.load(models / champion, schools), test, cases, phase)
    return decide(version, mine, champion, theirs)


def rollback(store: Store, settings: Settings, *, by: str) -> dict:
    from pipeline.nlp.registry import current_version, previous_champion

    models = models_dir(settings)
    target = previous_champion(models)
    return change_champion(store, models, target, action="rollback", by=by,
                           reasons=[f"rolled back from {current_version(models)}"])


# --- the whole loop ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrainReport:
    version: str
    champion_before: str | None
    decision: Decision
    promoted: bool
    labels: dict
    warnings: list[str]

    def as_dict(self) -> dict:
        return {"version": self.version, "champion_before": self.champion_before, "promoted": self.promoted,
                "policy_passed": self.decision.passed, "reasons": self.decision.reasons(), "labels": self.labels,
                "warnings": self.warnings}


def run_retrain(settings: Settings, *, label_files: Sequence[Path] = (), from_store: bool = False,
                mode: PromoteMode = "auto", by: str | None = None, corpus_file: Path | None = None,
                functional_dir: Path = FUNCTIONAL, district_stream: bool = False,
                log: Callable[[str], None] = print, phase: Phase = quiet,
                confirm: Callable[[Decision], bool] | None = None) -> RetrainReport:
    """``district_stream``: read the district's own posts back from the bus (items.scored, within
    retention) for background negatives and a shadow run the promotion policy reads. ``confirm``:
    asked before a forced promotion overrides a refusal (``apply_decision``)."""
    from pipeline.bootstrap import build_store
    from pipeline.nlp.lexicon import LexiconClassifier
    from pipeline.nlp.retrain import retrain
    from pipeline.nlp.verdict import Thresholds

    if mode == "force":
        forcing_admin(settings, by)  # before minutes of training, not after
    c = settings.classify
    files, models = config_files(settings), models_dir(settings)
    # The store is opened only when needed: labels from the console, or a change of champion to audit.
    store = build_store(settings) if from_store or mode != "never" else None
    try:
        if store is not None:
            store.audit_for("")  # unreachable or not set up: say so now, not after minutes of training
        cases = collect_cases(store if from_store else None, label_files)
        if not cases:
            log("no labeled cases: the challenger is trained on the corpus alone")
        baseline = LexiconClassifier.from_dirs(files.lexicon_dir, files.schools_file,
                                               Thresholds(c.p1_threshold, c.p2_threshold, c.p3_threshold))
        district = read_district(settings) if district_stream else None
        r = settings.retrain
        result = retrain(cases, corpus_file=corpus_file or default_corpus(settings), files=files, models_dir=models,
                         functional_dir=functional_dir, mode=mode, by=by, baseline=baseline, district=district,
                         district_sample=r.district_sample, district_weight=r.district_weight, log=log, phase=phase)
        champion = result.decision.champion
        entry = apply_decision(store, settings, result.decision, mode, by, confirm) if store is not None else None
    finally:
        if store is not None:
            store.close()
    r = result.metrics["retrain"]
    return RetrainReport(result.version, champion, result.decision, entry is not None, r["labels"], r["warnings"])


def read_district(settings: Settings):
    """The district's own posts of the last retrain.district_days, from the bus."""
    from pipeline.bootstrap import build_bus
    from pipeline.district_stream import read_district_stream

    r = settings.retrain
    bus = build_bus(settings)
    try:
        days = min(r.district_days, settings.bus.raw_retention_days)  # the bus holds nothing older anyway
        return read_district_stream(bus, settings.topic("items.scored"), days=days, max_posts=r.district_max_posts)
    finally:
        bus.close()


def describe_versions(models: Path) -> list[dict]:
    """One row per version for `threatline model list`."""
    from pipeline.nlp.registry import champion_or_none, versions

    champion = champion_or_none(models)
    rows = []
    for version in versions(models):
        def read(name: str) -> dict:
            try:
                return json.loads((models / version / name).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return {}
        metrics, manifest = read("metrics.json"), read("manifest.json")
        heads = metrics.get("test", {}).get("heads", {})
        retrain = metrics.get("retrain")
        rows.append({"version": version, "champion": version == champion, "created": manifest.get("created"),
                     "pr_auc": {h: m.get("pr_auc") for h, m in heads.items()},
                     "threat_recall": {t: heads.get("threat", {}).get("at_threshold", {}).get(t, {}).get("recall")
                                       for t in ("P1", "P2")},
                     "labels": retrain["labels"]["trained_on"] if retrain else None,
                     "policy": None if not retrain else "pass" if retrain["decision"]["passed"] else "refuse"})
    return rows
