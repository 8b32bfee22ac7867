"""The promotion policy: may a challenger replace the champion? Pure: it reads the two models'
numbers on the same held-out test split and the same functional suite, nothing else.

A challenger is promoted only if, for every head, it is not worse on PR-AUC, not worse on
recall at the thresholds routing reads (P2 for every head, P1 for threat only), and not worse at
routing the head's positives where they belong (paged at P1 and at P1/P2 for threat and
self-harm, flagged for bullying), and it passes at least as many cases of every functional
capability. Routing is evidence-first (pipeline/nlp/routing.py): a self-harm or bullying item's
tier comes from its evidence, never from its head's P1 threshold, so that raw recall decides no
page and is not gated. "Not worse" allows for measurement noise only (docs/retraining.md has the
numbers):

- PR-AUC: 0.005. The paired-bootstrap standard deviation of the PR-AUC difference between two
  of our models on the 1,180-post test split is 0.0045-0.0053 per head; a smaller gap says which
  posts happened to be sampled, not which model is better.
- Recall at P1/P2 and routed recall: one positive post of the test split (1/positives, rounded up to the four
  decimals metrics.json keeps: 0.0037 threat, 0.0113 self-harm, 0.0085 bullying). Each model
  picks its thresholds on validation, so one borderline post moving across is expected; the
  paired-bootstrap SD of these differences is 0.01-0.04, so this is far inside the noise.
- Functional capabilities: none. The cases are fixed and scoring is deterministic, so a lost
  case is a real regression on a named behaviour.
- The district's own posts (a shadow run, when the retrain read them): pages per 10,000 may not
  rise materially, more than a quarter and more than one page per 10,000, unless the challenger
  also gains recall (recall at P2 up by more than one post on some head). A district watching
  20,000 posts a day feels one more page per 10,000 as two more pages a day.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Literal

PR_AUC_TOLERANCE = 0.005
SHADOW_RISE = 0.25          # a quarter more pages on the district's own posts is material...
SHADOW_MIN_RISE = 1.0       # ...once it is more than one page per 10,000
RECALL_TIERS = ("P1", "P2")
RAW_P1_HEADS = ("threat",)  # the only head whose P1 tier routing reads (the bare act, P1 severity)
ROUTED_NAMES = {"P1": "paged at P1", "P1/P2": "paged at P1/P2", "flagged": "flagged"}
PromoteMode = Literal["auto", "never", "force"]


@dataclass(frozen=True)
class Check:
    what: str  # e.g. "threat PR-AUC", "self_harm recall at P2", "functional negated (passed of 27)"
    challenger: float | None
    champion: float | None
    allowed_drop: float
    lower_is_better: bool = False  # pages: the allowance is a rise, not a drop

    @property
    def ok(self) -> bool:
        if self.challenger is None or self.champion is None:
            # Undefined on this split (one class only): nothing to compare, nothing lost.
            return self.challenger is not None or self.champion is None
        if self.lower_is_better:
            return self.challenger <= self.champion + self.allowed_drop + 1e-12
        return self.challenger >= self.champion - self.allowed_drop - 1e-12

    def describe(self) -> str:
        def num(x):
            return "–" if x is None else f"{x:g}" if float(x).is_integer() else f"{x:.4f}"
        what = "rise" if self.lower_is_better else "drop"
        slack = f" (allowed {what} {num(self.allowed_drop)})" if self.allowed_drop else ""
        return f"{self.what}: {num(self.challenger)} vs champion {num(self.champion)}{slack}"


@dataclass(frozen=True)
class Decision:
    challenger: str
    champion: str | None
    checks: tuple[Check, ...]
    # What the checks were computed from ({"challenger": ..., "champion": ...} as ``compare`` takes
    # them): the forced-promotion table also shows numbers the policy does not gate on.
    numbers: Mapping | None = field(default=None, compare=False, repr=False)

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def reasons(self) -> list[str]:
        if self.champion is None:
            return ["no champion to compare with: the first model becomes champion"]
        if self.passed:
            return [f"not worse than {self.champion} on any of {len(self.checks)} checks "
                    "(PR-AUC, recall and routed recall per head, every functional capability)"]
        return ["worse: " + c.describe() for c in self.failures]

    def as_dict(self) -> dict:
        return {"challenger": self.challenger, "champion": self.champion, "passed": self.passed,
                "reasons": self.reasons(), "checks": [{**asdict(c), "allowed_drop": None if math.isinf(c.allowed_drop) else c.allowed_drop, "ok": c.ok}
                           for c in self.checks]}


def compare(challenger: Mapping, champion: Mapping) -> list[Check]:
    """``challenger``/``champion``: {"heads": {head: evaluate.head_metrics(...) with "routed"
    (evaluate.routed_recall)}, "functional":
    {capability: {"passed", "total", "rate"}}}, both measured on the same split and cases."""
    checks = []
    for head, mine in challenger["heads"].items():
        theirs = champion["heads"].get(head)
        if theirs is None:
            continue
        checks.append(Check(f"{head} PR-AUC", mine["pr_auc"], theirs["pr_auc"], PR_AUC_TOLERANCE))
        # metrics.json keeps 4 decimals: a one-post drop may read up to 0.0001 bigger
        one_post = math.ceil(1e4 / mine["positives"] + 1) / 1e4 if mine["positives"] else 0.0
        for tier in RECALL_TIERS:
            if tier == "P1" and head not in RAW_P1_HEADS:
                continue
            checks.append(Check(f"{head} recall at {tier}", mine["at_threshold"][tier]["recall"],
                                theirs["at_threshold"][tier]["recall"], one_post))
        routed = mine.get("routed") or {}
        for name, value in (theirs.get("routed") or {}).items():  # both measured now, or neither
            checks.append(Check(f"{head} positives {ROUTED_NAMES.get(name, name)}", routed.get(name), value, one_post))
    for capability, theirs in champion.get("functional", {}).items():
        mine = challenger.get("functional", {}).get(capability)
        checks.append(Check(f"functional {capability} (passed of {theirs['total']})",
                            None if mine is None else mine["passed"], theirs["passed"], 0))
    return checks


def shadow_check(challenger_pages: float, champion_pages: float, checks: list[Check]) -> Check:
    """Pages per 10,000 on the district's own posts; a recall gain on some head (``checks``, the
    recall-at-P2 comparisons) buys the right to page more."""
    gain = any(c.what.endswith("recall at P2") and c.challenger is not None and c.champion is not None
               and c.challenger > c.champion + c.allowed_drop for c in checks)
    allowed = math.inf if gain else max(champion_pages * SHADOW_RISE, SHADOW_MIN_RISE)
    what = "pages per 10,000 of the district's own posts" + (" (a recall gain allows a rise)" if gain else "")
    return Check(what, challenger_pages, champion_pages, allowed, lower_is_better=True)


def decide(challenger_version: str, challenger: Mapping, champion_version: str | None,
           champion: Mapping | None, shadow: Mapping | None = None) -> Decision:
    """``shadow``: {"challenger": pages per 10k, "champion": pages per 10k} on the district's posts."""
    checks = [] if champion is None else compare(challenger, champion)
    if champion is not None and shadow is not None:
        checks.append(shadow_check(shadow["challenger"], shadow["champion"], checks))
    return Decision(challenger_version, champion_version, tuple(checks), {"challenger": challenger, "champion": champion})


@dataclass(frozen=True)
class Loss:
    """One number on which the challenger is worse than the champion."""
    head: str | None  # None: a functional capability or the district's pages
    what: str
    challenger: float | None
    champion: float | None
    policy: Literal["refuses", "within noise", "not checked"]  # "refuses": one of its reasons

    @property
    def zero_recall(self) -> bool:
        return "recall" in self.what and self.challenger == 0


def _worse(mine: float | None, theirs: float | None, lower_is_better: bool = False) -> bool:
    if mine is None or theirs is None:
        return False
    return mine > theirs if lower_is_better else mine < theirs


def losses(decision: Decision) -> list[Loss]:
    """Everything the challenger loses against the champion, for the person about to force it:
    every check of the policy it is worse on (within the noise allowance or not) and, from the
    same measurements, ROC-AUC and precision at P1/P2 per head, which the policy does not gate on.
    Grouped per head, then functional capabilities, then pages."""
    heads = list((decision.numbers or {}).get("challenger", {}).get("heads", {}))
    found = [Loss(next((h for h in heads if c.what.startswith(f"{h} ")), None), c.what, c.challenger, c.champion,
                  "within noise" if c.ok else "refuses")
             for c in decision.checks if not c.ok or _worse(c.challenger, c.champion, c.lower_is_better)]
    theirs_all = (decision.numbers or {}).get("champion") or {"heads": {}}
    for head in heads:
        mine, theirs = decision.numbers["challenger"]["heads"][head], theirs_all["heads"].get(head)
        if theirs is None:
            continue
        extra = [("ROC-AUC", mine.get("roc_auc"), theirs.get("roc_auc"))]
        extra += [(f"precision at {t}", mine["at_threshold"].get(t, {}).get("precision"),
                   theirs["at_threshold"].get(t, {}).get("precision")) for t in RECALL_TIERS]
        found += [Loss(head, f"{head} {what}", a, b, "not checked") for what, a, b in extra if _worse(a, b)]
    order = {h: i for i, h in enumerate(heads)}
    return sorted(found, key=lambda loss: order.get(loss.head, len(heads)))  # stable: checks first per head


def should_promote(decision: Decision, mode: PromoteMode) -> bool:
    """``auto``: when the policy passes; ``never``: evaluate only; ``force``: regardless (the
    caller audits it under a person's name)."""
    return mode == "force" or (mode == "auto" and decision.passed)
