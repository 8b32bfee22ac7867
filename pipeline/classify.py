"""Turning texts into verdicts: the `threatline classify` JSON Lines contract and the items the
classify stage publishes. Pure: no I/O beyond the iterables handed in. Texts are scored in
batches, because the trained model vectorises a batch at once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from itertools import islice
from typing import Any

from pipeline.nlp.language import guess_language
from pipeline.nlp.verdict import Classifier, Verdict
from pipeline.schema import RawPost, ScoredItem, Tip

# Long posts are scored on a bounded window (and say so): threats are short, and a 100k-character
# paste must not stall the stage.
WINDOW_CHARS = 5_000
BATCH = 256


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
        "lang": verdict.lang,
        "confidence": verdict.confidence,
        "model_version": version,
    }


def score_texts(texts: Sequence[str], classifier: Classifier, tips: Sequence[bool] = ()) -> list[Verdict]:
    """Score with the caveats a reviewer must see: the window, and non-English text."""
    windows = [t[:WINDOW_CHARS] for t in texts]
    verdicts = classifier.score_many(windows, tips) if any(tips) else classifier.score_many(windows)
    out = []
    for text, verdict in zip(texts, verdicts):
        notes, changes = [], {}
        if len(text) > WINDOW_CHARS:
            notes.append(f"Scored the first {WINDOW_CHARS:,} of {len(text):,} characters.")
        lang = guess_language(text)
        if lang != "en":
            notes.append(f"Not English ({lang}): scores are less reliable; a person should read it.")
            changes["confidence"] = "low"
        out.append(replace(verdict, lang=lang, explanation=[*verdict.explanation, *notes], **changes))
    return out


def score_stream(texts: Sequence[str], classifier: Classifier,
                 advance: Callable[[int], None] = lambda n: None) -> list[Verdict]:
    """``score_texts`` over a long stream of posts (a dry run, a shadow run, a benchmark), in
    batches the stage itself would take, reporting progress after each."""
    out: list[Verdict] = []
    for start in range(0, len(texts), BATCH):
        batch = texts[start:start + BATCH]
        out += score_texts(batch, classifier)
        advance(len(batch))
    return out


def classify_jsonl(lines: Iterable[bytes | str], classifier: Classifier) -> Iterator[dict[str, Any]]:
    """One output object per input line, in order. A bad line yields ``{"error": ...}`` (with the
    line number and the id when one could be read) and the stream goes on."""
    numbered = enumerate(lines, start=1)
    while chunk := list(islice(numbered, BATCH)):
        parsed = [_parse(number, line) for number, line in chunk]
        good = [p for p in parsed if "error" not in p]
        verdicts = iter(score_texts([p["text"] for p in good], classifier))
        for p in parsed:
            if "error" in p:
                yield p
            else:
                yield {"id": p["id"], **verdict_fields(next(verdicts), classifier.version)}


def _parse(number: int, line: bytes | str) -> dict[str, Any]:
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return {"line": number, "error": f"invalid UTF-8 at byte {exc.start}"}
    if not line.strip():
        return {"line": number, "error": "empty line"}
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"line": number, "error": f"not valid JSON: {exc.msg} at column {exc.colno}"}
    except ValueError:  # an integer past Python's int-string conversion limit (4,300 digits)
        return {"line": number, "error": "holds a number too long to read"}
    if not isinstance(obj, dict):
        return {"line": number, "error": "expected a JSON object"}
    if "id" not in obj or not isinstance(obj["id"], (str, int)) or obj["id"] == "":
        bad_id = obj.get("id")
        return {"line": number, **({"id": bad_id} if _utf8(bad_id) else {}), "error": "missing 'id' (string or integer)"}
    # JSON can escape a lone surrogate ("\ud800"): a str that is not Unicode text. The tokenizer
    # fails on it (taking its whole batch along) and it cannot be written out as UTF-8.
    if not _utf8(obj["id"]):
        return {"line": number, "error": "'id' holds a lone surrogate (not valid Unicode)"}
    if not isinstance(obj.get("text"), str):
        return {"line": number, "id": obj["id"], "error": "missing 'text' (string)"}
    if not _utf8(obj["text"]):
        return {"line": number, "id": obj["id"], "error": "'text' holds a lone surrogate (not valid Unicode)"}
    if not obj["text"].strip():
        return {"line": number, "id": obj["id"], "error": "empty 'text': nothing to score"}
    return {"id": obj["id"], "text": obj["text"]}


def _utf8(value: object) -> bool:
    try:
        if isinstance(value, str):
            value.encode("utf-8")  # what fails on a lone surrogate, without writing the JSON out
        else:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, TypeError, ValueError):
        return False
    return True


def tip_text(tip: Tip) -> str:
    # The tipster's own words about where and when carry specificity, so they are scored too.
    return tip.message if not tip.when_where else f"{tip.message}\n\nWhen/where: {tip.when_where}"


def scored_items(inputs: Sequence[RawPost | Tip], classifier: Classifier) -> list[ScoredItem]:
    texts = [tip_text(x) if isinstance(x, Tip) else x.text for x in inputs]
    verdicts = score_texts(texts, classifier, [isinstance(x, Tip) for x in inputs])
    legacy = not getattr(classifier, "evidence_first", False)
    return [_tip_item(x, t, v, classifier.version, legacy) if isinstance(x, Tip) else _post_item(x, v, classifier.version)
            for x, t, v in zip(inputs, texts, verdicts)]


def score_post(post: RawPost, classifier: Classifier) -> ScoredItem:
    return scored_items([post], classifier)[0]


def score_tip(tip: Tip, classifier: Classifier) -> ScoredItem:
    return scored_items([tip], classifier)[0]


def _post_item(post: RawPost, verdict: Verdict, version: str) -> ScoredItem:
    return ScoredItem(
        id=post.id, kind="post", text=post.text, source=post.source, source_kind=post.source_kind,
        url=post.url, author=post.author, thread_id=post.thread_id, created_at=post.created_at,
        **verdict_fields(verdict, version),
    )


def _legacy_tip_report(verdict: Verdict, severity: str) -> bool:
    """Models from before evidence-first paging (and the keyword baseline) cannot read a report as
    evidence: a tip whose words report a threat is judged by its specifics instead."""
    reported = any(c.startswith("cue:quote_report") for c in verdict.cues)
    return verdict.category == "violence" and reported and severity in ("P3", "P2")


def _tip_item(tip: Tip, text: str, verdict: Verdict, version: str, legacy: bool = False) -> ScoredItem:
    fields = verdict_fields(verdict, version)
    if tip.school and not verdict.school:
        fields.update(school=tip.school, school_relevance=1.0)
    # A tip is a person asking for help: it always reaches the review queue. A threat it reports
    # about someone else was already read as evidence by the classifier (score_many's ``tips``).
    if fields["severity"] == "none":
        fields.update(severity="P3", explanation=[*fields["explanation"], "Tip-line submission (always reviewed)."])
    elif legacy and _legacy_tip_report(verdict, fields["severity"]):
        specifics = set(verdict.specifics) | ({"place"} if tip.school else set())
        severity = "P1" if len(specifics) >= 2 else "P2"
        detail = f" with {len(specifics)} specifics ({', '.join(sorted(specifics))})" if severity == "P1" else ""
        fields.update(severity=severity, explanation=[*fields["explanation"], f"A tip reporting a threat{detail}: alert ({severity})."])
    if tip.urgent:
        fields["explanation"] = [*fields["explanation"], "Tipster marked it urgent."]
    return ScoredItem(
        id=tip.id, kind="tip", text=text, source="tipline", source_kind="tipline",
        created_at=tip.received_at, tip_code=tip.code, tip_contact=tip.contact, **fields,
    )
