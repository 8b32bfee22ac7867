"""Which roles hear about a flagged item, from ``config/alert_rules.yaml`` (docs/alerts.md).

Rules are read top to bottom and the first one that matches decides; an item no rule matches
goes nowhere. The roster (roster.py) then says which person holds each role right now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from pipeline.alerts.roster import Role, describe_validation_error
from pipeline.config import ConfigError, read_yaml
from pipeline.schema import Category, Severity

CATEGORIES: tuple[str, ...] = get_args(Category)
SEVERITIES: tuple[str, ...] = get_args(Severity)
ANY = "any"


def _listed(value: Any) -> Any:
    if value == ANY:
        return None  # None: any value matches
    if value is None or value == []:
        raise ValueError("give a list, or any")
    return (value,) if isinstance(value, str) else value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Model):
    category: Annotated[tuple[Category, ...] | None, BeforeValidator(_listed)] = None
    severity: Annotated[tuple[Severity, ...] | None, BeforeValidator(_listed)] = None
    schools: Annotated[tuple[str, ...] | None, BeforeValidator(_listed)] = None
    notify: tuple[Role, ...] = ()
    digest: bool = False
    note: str = ""

    def matches(self, category: str, severity: str, school: str | None) -> bool:
        return ((self.category is None or category in self.category)
                and (self.severity is None or severity in self.severity)
                and (self.schools is None or school in self.schools))


@dataclass(frozen=True)
class Decision:
    roles: tuple[str, ...]  # notify whoever is on duty in each role (roster.chain)
    digest: bool            # list the item in the daily digest
    page: bool              # expect an acknowledgement; escalate when none comes in time


NOTHING = Decision((), False, False)


class RulesFile(_Model):
    # Seconds without an acknowledgement before the next person in the chain is paged.
    # A severity missing here never pages: its roles get a one-off notice.
    escalate_after: dict[Literal["P1", "P2", "P3"], Annotated[int, Field(gt=0)]] = Field(
        default_factory=lambda: {"P1": 300, "P2": 1800})
    rules: tuple[Rule, ...] = Field(min_length=1)


class RoutingRules:
    """Validated rules. Build them with ``load_rules`` or ``parse_rules``."""

    def __init__(self, data: RulesFile, known_schools: Iterable[str]):
        self.data = data
        self.schools = frozenset(known_schools)

    def __repr__(self) -> str:
        return f"RoutingRules(rules={len(self.data.rules)}, escalate_after={self.data.escalate_after})"

    def route(self, category: str, severity: str, school: str | None) -> Decision:
        """The first matching rule's roles; ``school`` None (no school matched) only meets ``any``."""
        if category not in CATEGORIES:
            raise ValueError(f"unknown category {category!r} (categories: {', '.join(CATEGORIES)})")
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r} (severities: {', '.join(SEVERITIES)})")
        if school is not None and school not in self.schools:
            raise ValueError(f"unknown school {school!r} (the rules know: {', '.join(sorted(self.schools))})")
        rule = next((r for r in self.data.rules if r.matches(category, severity, school)), None)
        if rule is None:
            return NOTHING
        roles = tuple(dict.fromkeys(rule.notify))
        return Decision(roles, rule.digest, page=bool(roles) and severity in self.data.escalate_after)

    def escalation_timeout(self, severity: str) -> timedelta | None:
        """How long a page at this severity waits for an acknowledgement; None: it never escalates."""
        seconds = self.data.escalate_after.get(severity)  # type: ignore[call-overload]
        return None if seconds is None else timedelta(seconds=seconds)


def load_rules(path: str | Path, known_schools: Iterable[str]) -> RoutingRules:
    """Read and check a rules file; raise ConfigError naming the file, the rule and the problem."""
    path = Path(path)
    return parse_rules(read_yaml(path), known_schools, source=str(path))


def parse_rules(raw: Any, known_schools: Iterable[str], *, source: str = "alert rules") -> RoutingRules:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level must be a mapping (escalate_after, rules)")
    known = frozenset(known_schools)
    try:
        data = RulesFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(source, raw, exc, {"rules": lambda e: e.get("note")})) from None
    problems = []
    for i, rule in enumerate(data.rules):
        key = f"rules[{i}]" + (f" ({rule.note})" if rule.note else "")
        for school in rule.schools or ():
            if school not in known:
                problems.append(f"{key}: unknown school {school!r} (known: {', '.join(sorted(known))})")
        # DESIGN.md §4: self-harm goes to a counselor, never to police alone as a threat.
        if ((rule.category is None or "self_harm" in rule.category)
                and "sro" in rule.notify and "counselor" not in rule.notify):
            problems.append(f"{key}: self_harm would reach sro without counselor; "
                            f"add counselor or list categories without self_harm")
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return RoutingRules(data, known)
