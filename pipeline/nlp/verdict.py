"""What every classifier returns, and the one rule that turns scores into a severity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pipeline.schema import Category, Severity


@dataclass(frozen=True)
class Verdict:
    threat_score: float
    self_harm_score: float
    severity: Severity
    category: Category
    school: str | None
    school_relevance: float
    explanation: list[str] = field(default_factory=list)
    cues: list[str] = field(default_factory=list)
    specifics: tuple[str, ...] = ()  # kinds of concrete detail found: target, time, place, weapon, ...
    evidence: tuple[str, ...] = ()   # the located statements behind a flag, as the author wrote them
    lang: str = "en"
    confidence: str = "normal"  # "low" when the text is outside what the model was built for


class Classifier(Protocol):
    version: str

    def score(self, text: str) -> Verdict: ...

    def score_many(self, texts: Sequence[str], tips: Sequence[bool] = ()) -> list[Verdict]: ...


@dataclass(frozen=True)
class Thresholds:
    p1: float
    p2: float
    p3: float

    def points(self) -> dict[str, float]:
        return {"P1": self.p1, "P2": self.p2, "P3": self.p3}

    def tier(self, score: float) -> Severity:
        if score >= self.p1:
            return "P1"
        if score >= self.p2:
            return "P2"
        if score >= self.p3:
            return "P3"
        return "none"


# Bullying and drugs never page anyone: they go to the review queue and the digest.
REVIEW_ONLY: frozenset[str] = frozenset({"bullying", "drugs"})


def cap_review_only(category: str, severity: Severity) -> Severity:
    return "P3" if category in REVIEW_ONLY and severity != "none" else severity
