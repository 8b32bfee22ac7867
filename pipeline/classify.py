"""Turning texts into verdicts: the `threatline classify` JSON Lines contract and the items the
classify stage publishes. Pure: no I/O beyond the iterables handed in."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from pipeline.nlp.verdict import Classifier, Verdict
from pipeline.schema import RawPost, ScoredItem, Tip


def verdict_fields(verdict: Verdict, version: str) -> dict[str, Any]:
    return {
        "threat_score": verdict.threat_score,
        "self_harm_score": verdict.self_harm_score,
        "severity": verdict.severity,
        "category": verdict.category,
        "school_relevance": verdict.school_relevance,
        "school": verdict.school,
        "explanation": verdict.explanation,
        "cues": verdict.cues,
        "model_version": version,
    }


def classify_jsonl(lines: Iterable[str], classifier: Classifier) -> Iterator[dict[str, Any]]:
    """One output object per input line, in order. A bad line yields ``{"error": ...}`` (with the
    line number and the id when one could be read) and the stream goes on."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            yield {"line": number, "error": "empty line"}
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield {"line": number, "error": f"not valid JSON: {exc.msg} at column {exc.colno}"}
            continue
        if not isinstance(obj, dict):
            yield {"line": number, "error": "expected a JSON object"}
            continue
        problem = _contract_problem(obj)
        if problem:
            yield {"line": number, "id": obj.get("id"), "error": problem}
            continue
        yield {"id": obj["id"], **verdict_fields(classifier.score(obj["text"]), classifier.version)}


def _contract_problem(obj: dict[str, Any]) -> str | None:
    if "id" not in obj or not isinstance(obj["id"], (str, int)) or obj["id"] == "":
        return "missing 'id' (string or integer)"
    if not isinstance(obj.get("text"), str):
        return "missing 'text' (string)"
    return None


def score_post(post: RawPost, classifier: Classifier) -> ScoredItem:
    verdict = classifier.score(post.text)
    return ScoredItem(
        id=post.id, kind="post", text=post.text, source=post.source, source_kind=post.source_kind,
        url=post.url, author=post.author, thread_id=post.thread_id, created_at=post.created_at,
        **verdict_fields(verdict, classifier.version),
    )


def score_tip(tip: Tip, classifier: Classifier) -> ScoredItem:
    # The tipster's own words about where and when carry specificity, so they are scored too.
    text = tip.message if not tip.when_where else f"{tip.message}\n\nWhen/where: {tip.when_where}"
    verdict = classifier.score(text)
    fields = verdict_fields(verdict, classifier.version)
    if tip.school and not verdict.school:
        fields.update(school=tip.school, school_relevance=1.0)
    # A tip is a person asking for help: it always reaches the review queue.
    if fields["severity"] == "none":
        fields.update(severity="P3", explanation=[*fields["explanation"], "tip-line submission (always reviewed)"])
    if tip.urgent:
        fields["explanation"] = [*fields["explanation"], "tipster marked it urgent"]
    return ScoredItem(
        id=tip.id, kind="tip", text=text, source="tipline", source_kind="tipline",
        created_at=tip.received_at, tip_code=tip.code, tip_contact=tip.contact, **fields,
    )

