"""``config/sources.yaml``: which public sources to crawl and how politely.

Search terms default to the district's gazetteer so a district only edits ``schools.yaml``.
Unknown keys are errors, as in the main config: a typo must not silently widen a crawl.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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


# Which optional fields make sense for which kind: anything else is a config mistake.
KIND_FIELDS: dict[str, set[str]] = {
    "rss": {"url", "terms", "require_terms"},
    "page": {"url", "selectors", "terms", "require_terms"},
    "reddit": {"base_url", "subreddit", "search", "terms"},
    "mastodon": {"base_url", "tags", "accounts", "terms"},
    "bluesky": {"base_url", "authors", "search", "terms"},
}
NEEDS: dict[str, list[str]] = {
    "rss": ["url"], "page": ["url", "selectors"], "reddit": ["base_url", "subreddit"],
    "mastodon": ["base_url"], "bluesky": ["base_url"],
}
_TAG = re.compile(r"^#?\w+$")
_ACCT = re.compile(r"^@?[A-Za-z0-9_]+(@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)?$")
_HANDLE = re.compile(r"^@?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$")
_DID = re.compile(r"^did:(plc|web):[A-Za-z0-9._:%-]+$")
_SUBREDDIT = re.compile(r"^[A-Za-z0-9_]{2,21}$")
_HTTP = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)


class Source(Politeness):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9:._\-]+$")
    kind: Kind
    enabled: bool = True
    url: str | None = None  # rss, page
    base_url: str | None = None  # reddit, bluesky (AppView), mastodon instance
    subreddit: str | None = None
    # reddit: search the subreddit for the terms instead of listing /new (default false).
    # bluesky: search posts for the terms (default: true unless `authors` is set).
    search: bool | None = None
    tags: list[str] = Field(default_factory=list)  # mastodon hashtags (without '#')
    accounts: list[str] = Field(default_factory=list)  # mastodon accounts: user or user@domain
    authors: list[str] = Field(default_factory=list)  # bluesky author feeds: handle or DID
    terms: list[str] = Field(default_factory=list)  # default: from the gazetteer
    require_terms: bool = False  # rss/page: drop items that mention none of the terms
    selectors: PageSelectors | None = None

    @field_validator("url", "base_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not _HTTP.match(value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("subreddit")
    @classmethod
    def _subreddit(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.removeprefix("r/").removeprefix("/r/")
            if not _SUBREDDIT.match(value):
                raise ValueError(f"{value!r} is not a subreddit name")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, values: list[str]) -> list[str]:
        bad = [v for v in values if not _TAG.match(v)]
        if bad:
            raise ValueError(f"not hashtags: {bad} (letters, digits and _ only)")
        return [v.lstrip("#") for v in values]

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, values: list[str]) -> list[str]:
        bad = [v for v in values if not _ACCT.match(v)]
        if bad:
            raise ValueError(f"not Mastodon accounts: {bad} (user or user@instance.domain)")
        return [v.lstrip("@") for v in values]

    @field_validator("authors")
    @classmethod
    def _authors(cls, values: list[str]) -> list[str]:
        bad = [v for v in values if not (_HANDLE.match(v) or _DID.match(v))]
        if bad:
            raise ValueError(f"not Bluesky handles or DIDs: {bad}")
        return [v.lstrip("@") for v in values]

    @model_validator(mode="after")
    def _fits_kind(self) -> Source:
        allowed = KIND_FIELDS[self.kind] | set(Politeness.model_fields) | {"name", "kind", "enabled"}
        stray = sorted(self.model_fields_set - allowed)
        if stray:
            raise ValueError(f"{', '.join(stray)} not used by kind {self.kind}")
        missing = [k for k in NEEDS[self.kind] if not getattr(self, k)]
        if missing:
            raise ValueError(f"kind {self.kind} needs {', '.join(missing)}")
        return self

    @property
    def searches(self) -> bool:
        """Whether this source runs keyword searches (reddit search.json, bluesky searchPosts)."""
        if self.search is not None:
            return self.search
        return self.kind == "bluesky" and not self.authors


def _one_line(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        reason = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        problems.append(f"{key}: {reason}" if key else reason)
    return "; ".join(problems)


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
    try:
        Politeness(**defaults)
    except ValidationError as exc:
        raise ConfigError(f"{path}: defaults: {_one_line(exc)}") from None
    except TypeError:
        raise ConfigError(f"{path}: defaults must be a mapping of keys") from None
    default_terms: list[str] | None = None
    sources: list[Source] = []
    for i, entry in enumerate(raw["sources"]):
        where = f"sources[{i}]" + (f" ({entry['name']})" if isinstance(entry, dict) and entry.get("name") else "")
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: {where}: each source must be a mapping of keys")
        try:
            source = Source(**{**defaults, **entry})
        except ValidationError as exc:
            raise ConfigError(f"{path}: {where}: {_one_line(exc)}") from None
        if not source.terms:
            if default_terms is None:
                default_terms = gazetteer_terms(schools_file)
            source = source.model_copy(update={"terms": list(default_terms)})
        if source.kind == "mastodon" and not source.tags and not source.accounts:
            source = source.model_copy(update={"tags": sorted({hashtag(t) for t in source.terms})})
        if source.kind == "bluesky" and not source.searches and not source.authors:
            raise ConfigError(f"{path}: {where}: search is off and no authors are listed: nothing to crawl")
        if source.searches and not source.terms:
            raise ConfigError(f"{path}: {where}: searches but has no terms (and the gazetteer gave none)")
        sources.append(source)
    names = [s.name for s in sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{path}: duplicate source name(s) {dupes}")
    return sources


def configured_sources(settings, sources_file: Path | None = None) -> list[Source]:
    """The sources of ``sources_file`` (default: ``ingest.sources_file``), terms from the gazetteer."""
    return load_sources(sources_file or settings.config_path(settings.ingest.sources_file),
                        settings.config_path(settings.classify.schools_file))
