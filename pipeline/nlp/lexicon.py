"""The transparent keyword baseline: lexicon hits combined by noisy-OR.

It is what the criticised commercial monitors do, kept on purpose as the benchmark baseline the
trained models must beat. Every point of every score traces back to a listed term.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.nlp.gazetteer import Gazetteer
from pipeline.nlp.verdict import Thresholds, Verdict, cap_review_only

SIGNALS = ("threat", "self_harm", "bullying", "drugs")


@dataclass(frozen=True)
class Term:
    text: str
    weight: float
    category: str
    signal: str
    pattern: re.Pattern[str]


def load_terms(lexicon_dir: Path) -> list[Term]:
    terms: list[Term] = []
    for path in sorted(lexicon_dir.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for text, weight in (data.get("terms") or {}).items():
            if not 0 < float(weight) <= 1:
                raise ValueError(f"{path}: term {text!r}: weight must be in (0, 1], got {weight!r}")
            terms.append(Term(str(text), float(weight), data["category"], data["signal"], _pattern(str(text))))
    if not terms:
        raise ValueError(f"{lexicon_dir}: no lexicon terms found")
    return terms


def _pattern(text: str) -> re.Pattern[str]:
    if not text[0].isalnum():  # emoji and symbols have no word boundaries
        return re.compile(re.escape(text))
    return re.compile(rf"(?<!\w){re.escape(text)}(?!\w)", re.IGNORECASE)


def lexicon_version(lexicon_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(lexicon_dir.glob("*.yaml")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return "lexicon-" + digest.hexdigest()[:10]


def noisy_or(weights: list[float]) -> float:
    miss = 1.0
    for w in weights:
        miss *= 1.0 - w
    return round(1.0 - miss, 4)


class LexiconClassifier:
    def __init__(self, terms: list[Term], gazetteer: Gazetteer, thresholds: Thresholds, version: str):
        self.terms = terms
        self.gazetteer = gazetteer
        self.thresholds = thresholds
        self.version = version

    @classmethod
    def from_dirs(cls, lexicon_dir: Path, schools_file: Path, thresholds: Thresholds) -> LexiconClassifier:
        return cls(load_terms(lexicon_dir), Gazetteer.from_file(schools_file), thresholds, lexicon_version(lexicon_dir))

    def score_many(self, texts: Sequence[str], tips: Sequence[bool] = ()) -> list[Verdict]:
        return [self.score(t) for t in texts]  # keywords read a tip like any post

    def score(self, text: str) -> Verdict:
        hits = [t for t in self.terms if t.pattern.search(text)]
        by_signal = {s: noisy_or([t.weight for t in hits if t.signal == s]) for s in SIGNALS}
        by_category: dict[str, list[float]] = {}
        for t in hits:
            by_category.setdefault(t.category, []).append(t.weight)
        category_scores = {c: noisy_or(ws) for c, ws in by_category.items()}

        school = self.gazetteer.match(text)
        top_score = max(by_signal.values())
        severity = self.thresholds.tier(top_score)
        category = max(category_scores, key=category_scores.get) if severity != "none" else "none"
        severity = cap_review_only(category, severity)

        explanation = [f"keyword '{t.text}' ({t.category} lexicon, weight {t.weight:.2f})" for t in hits]
        if school:
            where = school.school or "a school setting"
            explanation.append(f"mentions {where} ('{school.term}')")
        return Verdict(
            threat_score=by_signal["threat"],
            self_harm_score=by_signal["self_harm"],
            severity=severity,
            category=category,  # type: ignore[arg-type]
            school=school.school if school else None,
            school_relevance=school.relevance if school else 0.0,
            explanation=explanation,
            cues=[f"lexicon:{t.category}:{t.text}" for t in hits],
        )
