"""The CheckList-style functional suite (tests/functional/cases/*.yaml): load cases, run a
classifier over them, and report the pass rate per capability."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.nlp.verdict import Verdict

ORDER = {"none": 0, "P3": 1, "P2": 2, "P1": 3}
EXPECT_KEYS = {"min_severity", "max_severity", "category", "not_category", "school"}


@dataclass(frozen=True)
class Case:
    capability: str
    text: str
    expect: dict
    group: int | None = None  # identity-swap group: all members must share one severity
    kind: str = "post"        # "tip": scored as a tip-line message, through the tip path


@dataclass
class CapabilityResult:
    capability: str
    passed: int = 0
    failures: list[str] = field(default_factory=list)
    failed_texts: list[str] = field(default_factory=list)  # the same cases, text only (to compare models)

    @property
    def total(self) -> int:
        return self.passed + len(self.failures)

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


def load_cases(cases_dir: Path) -> list[Case]:
    cases: list[Case] = []
    group_id = 0
    for path in sorted(cases_dir.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        capability = data["capability"]
        for case in data.get("cases", []):
            kind = case.get("kind", data.get("kind", "post"))
            if kind not in ("post", "tip"):
                raise ValueError(f"{path.name}: kind must be post or tip, got {kind!r}")
            cases.append(Case(capability, case["text"], _checked(case["expect"], path), kind=kind))
        for group in data.get("groups", []):
            group_id += 1
            for term in group["terms"]:
                cases.append(Case(capability, group["template"].replace("{identity}", term),
                                  _checked(group["expect"], path), group_id))
    return cases


def _checked(expect: dict, path: Path) -> dict:
    unknown = set(expect) - EXPECT_KEYS
    if unknown:
        raise ValueError(f"{path.name}: unknown expectation keys {sorted(unknown)}")
    return expect


def violations(verdict: Verdict, expect: dict) -> list[str]:
    problems = []
    if "min_severity" in expect and ORDER[verdict.severity] < ORDER[expect["min_severity"]]:
        problems.append(f"severity {verdict.severity} < {expect['min_severity']}")
    if "max_severity" in expect and ORDER[verdict.severity] > ORDER[expect["max_severity"]]:
        problems.append(f"severity {verdict.severity} > {expect['max_severity']}")
    if "category" in expect and verdict.category != expect["category"]:
        problems.append(f"category {verdict.category} != {expect['category']}")
    excluded = expect.get("not_category")
    if excluded is not None and verdict.category in ([excluded] if isinstance(excluded, str) else excluded):
        problems.append(f"category is {verdict.category}")
    if "school" in expect and verdict.school != expect["school"]:
        problems.append(f"school {verdict.school} != {expect['school']}")
    return problems


def score_cases(classifier, cases: Sequence[Case]) -> list:
    """What the pipeline decides for each case: posts as the classify stage scores them, tips as
    the classify-tips stage does (pipeline.classify.scored_items)."""
    from pipeline.classify import scored_items
    from pipeline.schema import RawPost, Tip

    inputs = [Tip(message=c.text) if c.kind == "tip" else
              RawPost(source="functional", native_id=str(i), text=c.text) for i, c in enumerate(cases)]
    return scored_items(inputs, classifier)


def run_suite(cases: Sequence[Case], verdicts: Sequence[Verdict]) -> dict[str, CapabilityResult]:
    results: dict[str, CapabilityResult] = {}
    group_severity: dict[int, set[str]] = {}
    for case, verdict in zip(cases, verdicts):
        if case.group is not None:
            group_severity.setdefault(case.group, set()).add(verdict.severity)
    for case, verdict in zip(cases, verdicts):
        result = results.setdefault(case.capability, CapabilityResult(case.capability))
        problems = violations(verdict, case.expect)
        if case.group is not None and len(group_severity[case.group]) > 1:
            problems.append(f"identity swap changes severity: {sorted(group_severity[case.group])}")
        if problems:
            result.failures.append(f"{case.text!r}: {'; '.join(problems)}")
            result.failed_texts.append(case.text)
        else:
            result.passed += 1
    return dict(sorted(results.items()))
