"""Classify throughput on one core: the trained champion against the keyword-lexicon baseline.

    .venv/bin/python bench/classify.py [--posts 20000] [--batch 256] [--record]

Mixed posts: the bundled samples plus the corpus (threats, self-harm, bullying, hard negatives,
chatter), cycled to --posts. Both classifiers see the same posts in the same process, pinned to
one CPU; start-up (loading models, building matchers) is excluded. --record writes the numbers
into the champion's metrics.json and re-renders its model card.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # before numpy loads: one core means one BLAS thread too

from pipeline.bootstrap import build_classifier  # noqa: E402
from pipeline.config import DEFAULT_CONFIG, load_settings  # noqa: E402
from pipeline.nlp.card import render_card  # noqa: E402
from pipeline.nlp.registry import current_version  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def mixed_posts(n: int) -> list[str]:
    texts = [json.loads(line)["text"] for line in (ROOT / "pipeline/samples/posts.jsonl").open(encoding="utf-8")]
    texts += [json.loads(line)["text"] for line in (ROOT / "models/data/corpus.jsonl").open(encoding="utf-8")]
    return [texts[i % len(texts)] for i in range(n)]


def rate(classifier, posts: list[str], batch: int) -> float:
    classifier.score_many(posts[:batch])  # warm caches the way a running stage would be
    start = time.perf_counter()
    for i in range(0, len(posts), batch):
        classifier.score_many(posts[i:i + batch])
    return len(posts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--record", action="store_true", help="store the result in the champion's model card")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    settings = load_settings(DEFAULT_CONFIG)
    model = build_classifier(settings)
    baseline = build_classifier(settings.model_copy(update={"classify": settings.classify.model_copy(update={"model": "lexicon"})}))
    posts = mixed_posts(args.posts)
    base_rate = rate(baseline, posts, args.batch)
    model_rate = rate(model, posts, args.batch)
    ratio = base_rate / model_rate
    print(f"classify: {args.posts} mixed posts, batches of {args.batch}, one core")
    print(f"  {'keyword baseline (' + baseline.version + ')':<40} {base_rate:>10,.0f} posts/s")
    print(f"  {'trained model (' + model.version + ')':<40} {model_rate:>10,.0f} posts/s")
    print(f"  per-post cost: model = {ratio:.1f}x baseline (target <= 8x); model >= 5,000 posts/s: "
          f"{'yes' if model_rate >= 5000 else 'no'}")
    if args.record:
        models_dir = settings.config_path(settings.classify.models_dir)
        version = current_version(models_dir)
        metrics_file = models_dir / version / "metrics.json"
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        metrics["speed"] = {"posts": args.posts, "batch": args.batch, "model_posts_per_s": round(model_rate),
                            "baseline_posts_per_s": round(base_rate), "cost_ratio": round(ratio, 2)}
        metrics_file.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (models_dir / version / "model_card.md").write_text(render_card(version, metrics), encoding="utf-8")
        print(f"  recorded in {metrics_file}")


if __name__ == "__main__":
    main()
