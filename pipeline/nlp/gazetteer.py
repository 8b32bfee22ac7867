"""Which of the district's schools a text is about, from config/schools.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class SchoolMatch:
    school: str | None  # official name; None when only a generic place matched
    term: str
    relevance: float


class Gazetteer:
    """Names, aliases and mascots point at one school; shared places ("the cafeteria") only say
    that a school setting is likely."""

    def __init__(self, schools: list[dict], shared_places: list[str]):
        self._patterns: list[tuple[re.Pattern[str], str | None, float]] = []
        for school in schools:
            name = school["name"]
            for term in [name, *school.get("aliases", []), *school.get("mascots", [])]:
                self._patterns.append((_term_pattern(term), name, 1.0))
            for place in school.get("places", []):
                self._patterns.append((_term_pattern(place), name, 0.8))
        for place in shared_places:
            self._patterns.append((_term_pattern(place), None, 0.5))
        # Longest terms first so "Lincoln High School" wins over "Lincoln".
        self._patterns.sort(key=lambda p: -len(p[0].pattern))

    @classmethod
    def from_file(cls, path: Path) -> Gazetteer:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls(data.get("schools", []), data.get("shared_places", []))

    def match(self, text: str) -> SchoolMatch | None:
        best: SchoolMatch | None = None
        for pattern, school, relevance in self._patterns:
            found = pattern.search(text)
            if found and (best is None or relevance > best.relevance):
                best = SchoolMatch(school, found.group(0), relevance)
        return best


def school_names(path: Path) -> list[str]:
    """The district's schools as named everywhere else (rosters, rules, the tip form)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [school["name"] for school in data.get("schools", [])]


def _term_pattern(term: str) -> re.Pattern[str]:
    # All-caps abbreviations ("LHS") are matched case-sensitively; everything else is not.
    flags = 0 if term.isupper() and len(term) <= 5 else re.IGNORECASE
    return re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", flags)
