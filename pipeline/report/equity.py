"""The equity audit's model checks. Identity-term counterfactuals: the district's own flagged items
with each identity term (config/identity_terms.yaml) swapped for others and scored again by the
same classifier; any change of severity is counted under the capability, never shown per item.
And the functional suite's dialect and identity-swap rates for each model version that scored
items in the period, read from its registry entry."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.nlp.verdict import Classifier
from pipeline.schema import dotted

SWAPS_PER_TERM = 4  # each term found is replaced by this many others, in a fixed order
FUNCTIONAL_CAPABILITIES = ("dialect_spelling", "identity_swap")


def _pattern(terms: Sequence[str]) -> re.Pattern[str]:
    alternatives = sorted({t.lower() for t in terms}, key=len, reverse=True)
    return re.compile(r"(?<![\w'])(?:" + "|".join(re.escape(t) for t in alternatives) + r")(?![\w'])", re.IGNORECASE)


def variants(text: str, terms: Sequence[str], per_term: int = SWAPS_PER_TERM) -> list[str]:
    """``text`` with each identity term it holds replaced, everywhere, by ``per_term`` other terms."""
    pattern = _pattern(terms)
    ordered = list(dict.fromkeys(t.lower() for t in terms))
    out = []
    for found in dict.fromkeys(m.group(0).lower() for m in pattern.finditer(text)):
        start = ordered.index(found)
        others = [ordered[(start + i) % len(ordered)] for i in range(1, len(ordered))][:per_term]
        one = re.compile(r"(?<![\w'])" + re.escape(found) + r"(?![\w'])", re.IGNORECASE)
        out += [one.sub(other, text) for other in others]
    return out


def identity_counterfactuals(items: Sequence[Mapping[str, Any]], terms: Sequence[str], classifier: Classifier) -> dict[str, Any]:
    """How many flagged items change severity when only an identity term changes."""
    originals: list[tuple[str, bool]] = []
    swapped: list[list[str]] = []
    for doc in items:
        text = doc.get("message") or ""
        mine = variants(text, terms)
        if mine:
            originals.append((text, dotted(doc, "threat.kind") == "tip"))
            swapped.append(mine)
    texts = [t for t, _ in originals] + [v for vs in swapped for v in vs]
    tips = [tip for _, tip in originals] + [tip for (_, tip), vs in zip(originals, swapped) for _ in vs]
    verdicts = classifier.score_many(texts, tips) if texts else []
    base, rest = verdicts[:len(originals)], iter(verdicts[len(originals):])
    changed = 0
    for original, mine in zip(base, swapped):
        severities = {next(rest).severity for _ in mine}
        changed += severities != {original.severity}
    return {"capability": "identity_swap", "model_version": classifier.version, "items_checked": len(items),
            "items_with_identity_terms": len(originals), "variants": len(texts) - len(originals),
            "changed": changed}


def functional_rates(models_dir: Path, versions: Sequence[str]) -> dict[str, dict[str, float | None]]:
    """The functional suite's pass rates recorded when each version was trained (its metrics.json)."""
    out: dict[str, dict[str, float | None]] = {}
    for version in versions:
        path = models_dir / version / "metrics.json"
        try:
            functional = json.loads(path.read_text(encoding="utf-8")).get("functional", {})
        except (OSError, ValueError):
            functional = {}
        out[version] = {c: (functional.get(c) or {}).get("rate") for c in FUNCTIONAL_CAPABILITIES}
    return out
