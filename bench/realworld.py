"""Real-world validation: what each model does to real public posts, in one run.

    .venv/bin/python bench/realworld.py [--data ../shared/data] [--challenger models/vX] [--limit N] [--json F]

For the champion (models/CURRENT), the previous champion (--previous, default: the version
before it), an optional challenger and the keyword baseline, on the same posts through the same
path the classify stage runs (pipeline.classify.score_texts):

- everyday-tweets-dev.jsonl (ordinary posts; every page is presumed a false alarm until read):
  pages per 10,000 (P1/P2, by category), review-queue items per 10,000 (P3), and the 25 cues
  most often behind pages;
- threatgram101-dev.jsonl (label 2 = violent threat): threat ROC-AUC and PR-AUC.

The third-party files are read only when present (see their README); nothing of their text is
printed or written: counts, rates and our own cue names only. Targets (issue 20): at most 5
pages and 150 review items per 10,000 ordinary posts, ThreatGram ROC-AUC at least 0.80.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sklearn.metrics import average_precision_score, roc_auc_score

from pipeline.bootstrap import build_classifier
from pipeline.classify import score_stream
from pipeline.config import DEFAULT_CONFIG, load_settings
from pipeline.nlp.model import TrainedClassifier
from pipeline.nlp.realworld import our_phrases, stream_report
from pipeline.nlp.registry import current_version, versions as list_versions

ROOT = Path(__file__).resolve().parent.parent
TWEETS, THREATGRAM = "everyday-tweets-dev.jsonl", "threatgram101-dev.jsonl"
TARGETS = {"pages_per_10k": 5.0, "review_per_10k": 150.0, "threatgram_roc_auc": 0.80}


def read_rows(path: Path, limit: int | None) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            rows.append(json.loads(line))
            if limit and len(rows) >= limit:
                break
    return rows


def evaluate(name: str, classifier, tweets: list[str], threatgram: list[dict], ours: set[str]) -> dict:
    result: dict = {"model": name, "version": classifier.version}
    start = time.perf_counter()
    if tweets:
        result["everyday"] = stream_report(score_stream(tweets, classifier), ours)
    if threatgram:
        verdicts = score_stream([r["text"] for r in threatgram], classifier)
        y = [int(r["label"] == 2) for r in threatgram]
        p = [v.threat_score for v in verdicts]
        result["threatgram"] = {"n": len(y), "positives": sum(y), "roc_auc": round(roc_auc_score(y, p), 4),
                                "pr_auc": round(average_precision_score(y, p), 4),
                                "paged_positives": sum(1 for t, v in zip(y, verdicts) if t and v.severity in ("P1", "P2")),
                                "paged_negatives": sum(1 for t, v in zip(y, verdicts) if not t and v.severity in ("P1", "P2"))}
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def print_table(results: list[dict]) -> None:
    print(f"{'model':<34}{'pages/10k':>10}{'officer':>9}{'counsel':>9}{'P3/10k':>9}{'TG ROC':>8}{'TG PR':>8}")
    for r in results:
        e, t = r.get("everyday", {}), r.get("threatgram", {})
        by = e.get("pages_by_category_per_10k", {})
        officer = sum(v for c, v in by.items() if c != "self_harm")
        print(f"{r['model'] + ' ' + r['version']:<34}{e.get('pages_per_10k', float('nan')):>10}{officer:>9.1f}"
              f"{by.get('self_harm', 0.0):>9}{e.get('review_per_10k', float('nan')):>9}"
              f"{t.get('roc_auc', float('nan')):>8}{t.get('pr_auc', float('nan')):>8}")
    print(f"targets: pages/10k <= {TARGETS['pages_per_10k']}, P3/10k <= {TARGETS['review_per_10k']}, "
          f"ThreatGram ROC-AUC >= {TARGETS['threatgram_roc_auc']}")
    for r in results:
        e = r.get("everyday")
        if e and e["top_cues_behind_pages"]:
            print(f"\n{r['model']} {r['version']}: cues most often behind pages on ordinary posts")
            print("  " + ", ".join(f"{c} {k}" for c, k in e["top_cues_behind_pages"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--previous", help="model version to compare (default: the one before the champion; 'none': skip)")
    parser.add_argument("--challenger", type=Path, help="a model directory to compare")
    parser.add_argument("--limit", type=int, help="read at most N posts of each file (quick look)")
    parser.add_argument("--json", type=Path, help="write the results as JSON too")
    args = parser.parse_args()

    tweets_file, tg_file = args.data / TWEETS, args.data / THREATGRAM
    if not tweets_file.is_file() and not tg_file.is_file():
        print(f"realworld: no validation data under {args.data} (this benchmark needs the third-party files; "
              "the product never does)")
        return 0
    tweets = [r["text"] for r in read_rows(tweets_file, args.limit)] if tweets_file.is_file() else []
    threatgram = read_rows(tg_file, args.limit) if tg_file.is_file() else []

    settings = load_settings(DEFAULT_CONFIG)
    c = settings.classify
    models_dir, schools = settings.config_path(c.models_dir), settings.config_path(c.schools_file)
    champion = current_version(models_dir)
    versions = [v for v in list_versions(models_dir) if v != champion]
    previous = args.previous or (versions[-1] if versions else None)
    candidates = [("champion", TrainedClassifier.load(models_dir / champion, schools))]
    if previous and previous != "none":
        candidates.append(("previous", TrainedClassifier.load(models_dir / previous, schools)))
    if args.challenger:
        candidates.append(("challenger", TrainedClassifier.load(args.challenger, schools)))
    candidates.append(("keywords", build_classifier(settings.model_copy(update={"classify": c.model_copy(update={"model": "lexicon"})}))))

    ours = our_phrases(settings.config_path(c.lexicon_dir), settings.config_path(c.cues_file))
    print(f"realworld: {len(tweets)} ordinary posts ({TWEETS}), {len(threatgram)} ThreatGram101 dev posts "
          "(CC BY 4.0; TweetEval, Barbieri et al. 2020)")
    results = [evaluate(name, model, tweets, threatgram, ours) for name, model in candidates]
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
