"""What a model does to a stream of ordinary posts, in the units an officer on duty feels: pages
per 10,000 posts (P1/P2, by category), review-queue items per 10,000 (P3), and the cues most
often behind the pages. Pure: verdicts in, counts out. No post text ever leaves this module:
only our own cue names, which come from config (lexicons, cue lists, evidence forms)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path

from pipeline.nlp.verdict import Verdict

PAGES = ("P1", "P2")
PER = 10_000


def per_10k(count: int, n: int) -> float:
    return round(PER * count / n, 1) if n else 0.0


def cue_name(cue: str, ours: Collection[str]) -> str:
    """`lexicon:violence:kill` stays as it is when "kill" is one of our own phrases; a cue as the
    author spelled it ("k!ll", a name) is cut to the list it came from (`lexicon:violence`), so a
    report never carries a rare string from a post."""
    parts = cue.split(":", 2)
    return cue.lower() if len(parts) == 3 and parts[2].lower() in ours else ":".join(parts[:2])


def stream_report(verdicts: Sequence[Verdict], ours: Collection[str] = (), top: int = 25) -> dict:
    """Pages and review-queue load on a stream that should page nobody. ``ours``: our own cue
    and lexicon phrases (lower case), the only words a report may name."""
    n = len(verdicts)
    pages = [v for v in verdicts if v.severity in PAGES]
    review = [v for v in verdicts if v.severity == "P3"]
    behind = Counter(cue_name(c, ours) for v in pages for c in dict.fromkeys(v.cues))
    return {
        "n": n,
        "pages": len(pages),
        "pages_per_10k": per_10k(len(pages), n),
        "pages_by_category_per_10k": {c: per_10k(k, n) for c, k in sorted(Counter(v.category for v in pages).items())},
        "p1_per_10k": per_10k(sum(v.severity == "P1" for v in pages), n),
        "review_per_10k": per_10k(len(review), n),
        "review_by_category_per_10k": {c: per_10k(k, n) for c, k in sorted(Counter(v.category for v in review).items())},
        "top_cues_behind_pages": behind.most_common(top),
    }


def our_phrases(lexicon_dir: Path, cues_file: Path) -> set[str]:
    """Every phrase of our own lexicons and cue lists, lower case: the words a report may name."""
    from pipeline.nlp.analyzer import lexicon_phrases, read_yaml

    cues = read_yaml(cues_file)
    groups = [*lexicon_phrases(lexicon_dir).values(), *cues.get("context", {}).values(), *cues.get("specificity", {}).values()]
    return {str(p).lower() for group in groups for p in group}
