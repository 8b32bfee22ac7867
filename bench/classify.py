"""Classify throughput on one core, on the path the stages and the CLI run, against a regex scorer.

    .venv/bin/python bench/classify.py [--posts 20000] [--stage-posts 5000] [--record]

Posts: bench/realistic_posts.py (median ~20 words, a tail to 280 characters, a few of 2,000, links,
@mentions, hashtags, emoji, ~5% not English, an open vocabulary). Each scorer runs in its own
process pinned to one CPU, start-up (imports, loading the model) excluded, and reports its peak RSS:

- **cli path**: JSON Lines in, ``pipeline.classify.classify_jsonl`` (normalise, language, spaCy,
  features, heads, routing, explanation), JSON out: exactly what `threatline classify` does;
- **keyword regex**: the same JSON in and out around one compiled regex of 60 violent, weapon and
  self-harm words (a plain keyword monitor): the baseline for the cost ratio; and the regex alone
  on the texts, without JSON, printed too (the harshest comparison);
- **stage**: the classify stage end to end on the embedded bus, posts.raw → items.scored
  (and items.flagged), the consumer committing as in production.

Targets (issue 14): at least 5,000 posts/s on the cli path, at most 20x the regex's per-post cost,
peak RSS at most 600 MB. --record writes the numbers into the champion's metrics.json and card.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # before numpy loads: one core means one BLAS thread too

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from realistic_posts import posts as realistic_posts  # noqa: E402

KEYWORDS = ("kill", "killing", "murder", "shoot", "shooting", "shot", "stab", "bomb", "gun", "guns", "knife", "rifle",
            "pistol", "glock", "ammo", "die", "dead", "dying", "suicide", "hang", "hurt", "attack", "massacre", "blood",
            "weapon", "fight", "beat", "punch", "threat", "revenge", "hate", "destroy", "burn", "explode", "blast",
            "columbine", "shooter", "hit list", "kms", "cut myself", "end it", "overdose", "pills", "goodbye", "noose",
            "rope", "bullet", "bullets", "strap", "choke", "slit", "poison", "stomp", "jump", "smoke", "murk", "torch",
            "execute", "lynch", "war")
TARGETS = {"posts_per_s": 5000, "cost_ratio": 20.0, "peak_rss_mb": 600}


def pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def jsonl(posts: list[str]) -> list[bytes]:
    return [json.dumps({"id": f"p{i}", "text": t}).encode() for i, t in enumerate(posts)]


def run_cli_path(lines: list[bytes]) -> dict:
    from pipeline.bootstrap import build_classifier
    from pipeline.classify import classify_jsonl
    from pipeline.config import DEFAULT_CONFIG, load_settings

    classifier = build_classifier(load_settings(DEFAULT_CONFIG))
    for _ in classify_jsonl(lines[:256], classifier):  # warm up as a running stage would be
        pass
    start = time.perf_counter()
    out = [json.dumps(result) for result in classify_jsonl(lines, classifier)]
    seconds = time.perf_counter() - start
    return {"posts": len(out), "seconds": seconds, "version": classifier.version,
            "flagged": sum('"severity": "none"' not in o for o in out)}


def run_keywords(lines: list[bytes]) -> dict:
    words = re.compile(r"\b(?:" + "|".join(re.escape(k) for k in KEYWORDS) + r")\b", re.IGNORECASE)
    texts = [json.loads(line)["text"] for line in lines]
    start = time.perf_counter()
    bare = sum(bool(words.search(t)) for t in texts)  # the regex alone, no JSON: the harshest baseline
    bare_seconds = time.perf_counter() - start
    start = time.perf_counter()
    out = []
    for line in lines:
        post = json.loads(line)
        found = words.findall(post["text"])
        out.append(json.dumps({"id": post["id"], "flagged": bool(found), "cues": found}))
    seconds = time.perf_counter() - start
    return {"posts": len(out), "seconds": seconds, "flagged": sum('"flagged": true' in o for o in out),
            "bare_posts_per_s": len(texts) / bare_seconds, "bare_flagged": bare}


def run_stage(posts: list[str]) -> dict:
    """posts.raw → items.scored on the embedded bus in a fresh data dir, until the stage is idle."""
    from pipeline.bootstrap import runtime
    from pipeline.bus import OutMessage
    from pipeline.config import DEFAULT_CONFIG, load_settings
    from pipeline.schema import RawPost

    with tempfile.TemporaryDirectory() as data_dir:
        base = load_settings(DEFAULT_CONFIG)
        s = base.model_copy(update={
            "general": base.general.model_copy(update={"data_dir": Path(data_dir)}),
            "bus": base.bus.model_copy(update={"backend": "embedded"}),
            "store": base.store.model_copy(update={"backend": "embedded"}),
            "stages": base.stages.model_copy(update={"poll_timeout_s": 0.05, "idle_polls_before_exit": 2})})
        with runtime(s) as rt:
            rt.setup()
            raw = [RawPost(source="bench", native_id=str(i), text=t) for i, t in enumerate(posts)]
            rt.bus.publish([OutMessage(s.topic("posts.raw"), p.id, p.model_dump_json().encode()) for p in raw])
            runner = rt.runner("classify")
            rt.classifier.score_many(posts[:256])  # load and warm the model outside the timing
            start = time.perf_counter()
            report = runner.run()
            seconds = time.perf_counter() - start
    return {"posts": report.consumed, "seconds": seconds, "produced": report.produced}


CHILDREN = {"cli": run_cli_path, "keywords": run_keywords}


def child(kind: str, n: int) -> None:
    pin_one_core()
    posts = realistic_posts(n)
    result = run_stage(posts) if kind == "stage" else CHILDREN[kind](jsonl(posts))
    print(json.dumps({**result, "peak_rss_mb": round(peak_rss_mb(), 1)}))


def measure(kind: str, n: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", kind, "--posts", str(n)], capture_output=True,
                          text=True, cwd=ROOT, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["posts_per_s"] = result["posts"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--stage-posts", type=int, default=5_000)
    parser.add_argument("--record", action="store_true", help="store the result in the champion's model card")
    parser.add_argument("--child", choices=["cli", "keywords", "stage"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.posts if args.child != "stage" else args.stage_posts)
        return

    keywords, cli = measure("keywords", args.posts), measure("cli", args.posts)
    stage = measure("stage", args.stage_posts)
    ratio = keywords["posts_per_s"] / cli["posts_per_s"]
    print(f"classify: {args.posts} realistic posts (bench/realistic_posts.py), one core each, start-up excluded")
    print(f"  {'scorer':<44}{'posts/s':>10}{'peak RSS MB':>13}")
    print(f"  {'keyword regex, JSON in and out (baseline)':<44}{keywords['posts_per_s']:>10,.0f}{keywords['peak_rss_mb']:>13,.0f}")
    print(f"  {'keyword regex alone, no JSON':<44}{keywords['bare_posts_per_s']:>10,.0f}{'':>13}")
    print(f"  {'cli path, model ' + cli['version']:<44}{cli['posts_per_s']:>10,.0f}{cli['peak_rss_mb']:>13,.0f}")
    print(f"  {'classify stage, embedded bus (' + str(args.stage_posts) + ' posts)':<44}{stage['posts_per_s']:>10,.0f}"
          f"{stage['peak_rss_mb']:>13,.0f}")
    print(f"  per-post cost: model = {ratio:.1f}x the regex (target <= {TARGETS['cost_ratio']:.0f}x); "
          f"cli >= {TARGETS['posts_per_s']:,} posts/s: {'yes' if cli['posts_per_s'] >= TARGETS['posts_per_s'] else 'no'}; "
          f"peak RSS <= {TARGETS['peak_rss_mb']} MB: {'yes' if max(cli['peak_rss_mb'], stage['peak_rss_mb']) <= TARGETS['peak_rss_mb'] else 'no'}")
    print(f"  against the regex alone: {keywords['bare_posts_per_s'] / cli['posts_per_s']:.1f}x")
    print(f"  flagged: model {cli['flagged']} of {cli['posts']}, regex {keywords['flagged']} of {keywords['posts']}")
    if args.record:
        from pipeline.config import DEFAULT_CONFIG, load_settings
        from pipeline.nlp.card import render_card
        from pipeline.nlp.registry import current_version

        settings = load_settings(DEFAULT_CONFIG)
        models_dir = settings.config_path(settings.classify.models_dir)
        version = current_version(models_dir)
        metrics_file = models_dir / version / "metrics.json"
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        metrics["speed"] = {"posts": args.posts, "path": "cli (JSON in, classify_jsonl, JSON out)",
                            "model_posts_per_s": round(cli["posts_per_s"]), "baseline_posts_per_s": round(keywords["posts_per_s"]),
                            "cost_ratio": round(ratio, 2),
                            "bare_regex_posts_per_s": round(keywords["bare_posts_per_s"]), "stage_posts_per_s": round(stage["posts_per_s"]),
                            "peak_rss_mb": round(max(cli["peak_rss_mb"], stage["peak_rss_mb"]))}
        metrics_file.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (models_dir / version / "model_card.md").write_text(render_card(version, metrics), encoding="utf-8")
        print(f"  recorded in {metrics_file}")


if __name__ == "__main__":
    main()
