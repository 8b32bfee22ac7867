"""``config/sources.yaml``: which public sources to crawl and how politely.

Search terms default to the district's gazetteer so a district only edits ``schools.yaml``.
Unknown keys are errors, as in the main config: a typo must not silently widen a crawl.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.config import ConfigError

Kind = Literal["rss", "reddit", "mastodon", "bluesky", "page"]


class Politeness(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval_s: int = Field(default=900, ge=30)
    delay_s: float = Field(default=2.0, ge=0)
    concurrency: int = Field(default=1, ge=1, le=8)
    max_pages: int = Field(default=5, ge=1)
    page_size: int = Field(default=50, ge=1, le=100)
    timeout_s: float = Field(default=20.0, gt=0)
    retry_times: int = Field(default=3, ge=0)
    retry_backoff_s: float = Field(default=2.0, ge=0)
    # A Retry-After longer than this ends the run for that request; the next interval tries again.
    max_retry_after_s: float = Field(default=300.0, ge=0)


class PageSelectors(BaseModel):
    """CSS selectors (``::text`` / ``::attr(x)`` allowed) or XPath when prefixed with ``xpath:``."""

    model_config = ConfigDict(extra="forbid")

    item: str
    id: str
    text: str
    author: str | None = None
    created_at: str | None = None
    url: str | None = None
    next: str | None = None


class Source(Politeness):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9:._\-]+$")
    kind: Kind
    enabled: bool = True
    url: str | None = None  # rss, page
    base_url: str | None = None  # reddit, bluesky (AppView), mastodon instance
    subreddit: str | None = None
    search: bool = False  # reddit: search within the subreddit for the terms instead of /new
    tags: list[str] = Field(default_factory=list)  # mastodon hashtags; default: from terms
    terms: list[str] = Field(default_factory=list)  # default: from the gazetteer
    require_terms: bool = False  # rss/page: drop items that mention none of the terms
    selectors: PageSelectors | None = None

    @model_validator(mode="after")
    def _needs(self) -> Source:
        needed = {
            "rss": ["url"], "page": ["url", "selectors"], "reddit": ["base_url", "subreddit"],
            "mastodon": ["base_url"], "bluesky": ["base_url"],
        }[self.kind]
        missing = [k for k in needed if not getattr(self, k)]
        if missing:
            raise ValueError(f"kind {self.kind} needs {', '.join(missing)}")
        return self


def gazetteer_terms(schools_file: Path) -> list[str]:
    """Official names plus multi-word aliases and mascots: specific enough to search for.

    Single words ("Lincoln", "Central") are left out on purpose: as search queries they return
    mostly presidents and time zones, which costs rate limit and reviewers' time.
    """
    data = yaml.safe_load(schools_file.read_text(encoding="utf-8")) or {}
    terms: list[str] = []
    for school in data.get("schools", []):
        for term in [school["name"], *school.get("aliases", []), *school.get("mascots", [])]:
            if " " in term and not term.lower().startswith("the ") and term not in terms:
                terms.append(term)
    return terms


def hashtag(term: str) -> str:
    return re.sub(r"\W", "", term).lower()


def load_sources(path: Path, schools_file: Path) -> list[Source]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("sources"), list):
        raise ConfigError(f"{path}: needs a top-level 'sources' list")
    unknown = set(raw) - {"defaults", "sources"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}")
    defaults = raw.get("defaults") or {}
    default_terms: list[str] | None = None
    sources: list[Source] = []
    for i, entry in enumerate(raw["sources"]):
        try:
            Politeness(**defaults)
            source = Source(**{**defaults, **(entry or {})})
        except (ValidationError, TypeError) as exc:
            raise ConfigError(f"{path}: sources[{i}]: {exc}".replace("\n", " ")) from None
        if not source.terms:
            if default_terms is None:
                default_terms = gazetteer_terms(schools_file)
            source = source.model_copy(update={"terms": list(default_terms)})
        if source.kind == "mastodon" and not source.tags:
            source = source.model_copy(update={"tags": sorted({hashtag(t) for t in source.terms})})
        sources.append(source)
    names = [s.name for s in sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: duplicate source name(s) {dupes}")
    return sources
