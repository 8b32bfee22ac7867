"""Retraining wall time with 10,000 analysts' labels, against a 3-minute target on this 2-core
machine, and against retraining on the corpus alone.

    .venv/bin/python bench/retrain.py [--labels 10000] [--no-baseline]

The labeled posts are new instantiations of our own training-split template families (another
seed, five per template, so different slot fillers and register variation; no held-out family,
so the test split stays unseen), labeled the way the console labels: threat -> threat_substantive
(every tenth threat_transient, which trains as two weighted rows), self-harm, bullying, else
not_a_concern. Each run is a whole `threatline retrain --promote never` in a temporary registry
holding a copy of the shipped champion: merge, train the challenger, measure it and the champion
on the same test split and functional suite, write the version. Wall time per phase is printed.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.config import DEFAULT_CONFIG, REPO_ROOT, load_settings
from pipeline.nlp.corpus import generate, load_families, read_jsonl, slot_values
from pipeline.nlp.labels import LabeledCase
from pipeline.nlp.registry import current_version, promote
from pipeline.nlp.retrain import retrain
from pipeline.retraining import FUNCTIONAL, config_files

TARGET_S = 180.0
MODELS = REPO_ROOT / "models"


def labeled_posts(n: int, seed: int = 7) -> list[LabeledCase]:
    settings = load_settings(DEFAULT_CONFIG)
    templates = MODELS / "data" / "templates"
    train_families = {r["family"] for r in read_jsonl(MODELS / "data" / "corpus.jsonl") if r["split"] == "train"}
    families = [f for f in load_families(templates) if f.family in train_families]
    values = slot_values(templates.parent / "slots.yaml", settings.config_path(settings.classify.schools_file))
    rows = generate(families, values, per_text=5, seed=seed)
    if len(rows) < n:
        raise SystemExit(f"only {len(rows)} distinct posts from the training families; ask for fewer")
    step = len(rows) / n  # spread over every family rather than the first files
    cases = []
    for k in range(n):
        r = rows[int(k * step)]
        label = ("threat_transient" if k % 10 == 0 else "threat_substantive") if r["threat"] else \
            "self_harm" if r["self_harm"] else "bullying" if r["bullying"] else "not_a_concern"
        cases.append(LabeledCase(text=r["text"], label=label, origin="bench", labeled_by="bench"))
    return cases


class Timer:
    """A Phase (pipeline.nlp.train) that adds up wall and CPU time per phase name. CPU time is
    printed too because wall time on a shared 2-core machine moves with everyone else's load."""

    def __init__(self):
        self.seconds: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])

    @contextmanager
    def __call__(self, name: str, total: int | None = None) -> Iterator:
        wall, cpu = time.perf_counter(), time.process_time()
        yield lambda n=1: None
        spent = self.seconds[name.split(" (")[0]]
        spent[0] += time.perf_counter() - wall
        spent[1] += time.process_time() - cpu


def run(cases: list[LabeledCase]) -> tuple[list[float], dict[str, list[float]], dict]:
    settings = load_settings(DEFAULT_CONFIG)
    champion = current_version(MODELS)
    with tempfile.TemporaryDirectory(prefix="bench-retrain-") as tmp:
        models = Path(tmp) / "models"
        shutil.copytree(MODELS / champion, models / champion)
        promote(models, champion)
        timer = Timer()
        wall, cpu = time.perf_counter(), time.process_time()
        result = retrain(cases, corpus_file=MODELS / "data" / "corpus.jsonl", files=config_files(settings),
                         models_dir=models, functional_dir=FUNCTIONAL, mode="never", by="bench",
                         log=lambda _: None, phase=timer)
        total = [time.perf_counter() - wall, time.process_time() - cpu]
    phases = dict(timer.seconds)
    phases["other (merge, thresholds, save, plots, load)"] = [t - sum(p[i] for p in phases.values())
                                                              for i, t in enumerate(total)]
    return total, phases, result.metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=10_000)
    parser.add_argument("--no-baseline", action="store_true", help="skip the corpus-only run")
    args = parser.parse_args()

    start = time.perf_counter()
    cases = labeled_posts(args.labels)
    made = time.perf_counter() - start
    total, phases, metrics = run(cases)
    labels = metrics["retrain"]["labels"]
    print(f"retrain: {args.labels} labeled posts (made in {made:.1f}s, not counted), "
          f"{labels['trained_on']} trained on ({labels['new_texts']} new texts, {labels['relabeled_corpus_texts']} "
          f"corpus texts relabeled), {labels['held_out_skipped']} held-out texts skipped; "
          f"{metrics['corpus']['rows']} corpus rows besides them")
    print(f"  {'phase':<46} {'wall':>8} {'cpu':>8}")
    for name, (wall, cpu) in phases.items():
        print(f"  {name:<46} {wall:7.1f}s {cpu:7.1f}s")
    verdict = "within" if total[0] <= TARGET_S else "OVER"
    print(f"  {'total':<46} {total[0]:7.1f}s {total[1]:7.1f}s  ({verdict} the {TARGET_S:.0f}s target: "
          f"{total[0] / TARGET_S:.2f}x)")
    decision = metrics["retrain"]["decision"]
    print(f"  policy vs {decision['champion']}: {'passes' if decision['passed'] else 'refuses'}: "
          + "; ".join(decision["reasons"]))
    if not args.no_baseline:
        base_total, base_phases, _ = run([])
        print(f"baseline, corpus alone: wall {base_total[0]:.1f}s, cpu {base_total[1]:.1f}s "
              f"(fit {base_phases['fit model'][0]:.1f}s / {base_phases['fit model'][1]:.1f}s); with {args.labels} "
              f"labels: {total[0] / base_total[0]:.2f}x the wall time, {total[1] / base_total[1]:.2f}x the cpu time "
              f"(fit {phases['fit model'][1] / base_phases['fit model'][1]:.2f}x cpu)")


if __name__ == "__main__":
    main()
