"""Analysts' labels: what the review console stores on a flagged item (``review.label``), how a
labeled case looks as JSON Lines, and how a label becomes training targets for the three heads.
docs/retraining.md has the table and the reasons."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.nlp.corpus import text_rows

LABELS = ("threat_substantive", "threat_transient", "self_harm", "bullying", "not_a_concern")
# A transient threat (said in anger or jest, no lasting intent: the CSTAG distinction an SRO makes
# after looking) still threatens someone, so it must stay in the review queue (P3), but it must
# not page anyone. The heads are binary, so the label becomes a soft target: trained as threat
# with this weight and as no-threat with the rest, the calibrated score is pulled to about here,
# between the shipped models' P3 and P2 thresholds (0.20-0.58) rather than to 1 or 0.
TRANSIENT_THREAT = 0.35
TARGETS: dict[str, dict[str, float]] = {
    "threat_substantive": {"threat": 1.0, "self_harm": 0.0, "bullying": 0.0},
    "threat_transient": {"threat": TRANSIENT_THREAT, "self_harm": 0.0, "bullying": 0.0},
    "self_harm": {"threat": 0.0, "self_harm": 1.0, "bullying": 0.0},
    "bullying": {"threat": 0.0, "self_harm": 0.0, "bullying": 1.0},
    "not_a_concern": {"threat": 0.0, "self_harm": 0.0, "bullying": 0.0},
}


@dataclass(frozen=True)
class LabeledCase:
    text: str
    label: str
    origin: str = "console"  # "console", or the file an analyst brought
    id: str | None = None
    labeled_by: str | None = None
    labeled_at: str | None = None  # ISO 8601, as the store keeps it
    model_version: str | None = None  # the model that scored the item when it was flagged
    source_kind: str | None = None
    kind: str | None = None  # post | tip

    def as_row(self) -> dict:
        """The JSON Lines row `threatline labels export` writes (no origin: the file is the origin)."""
        row = asdict(self)
        del row["origin"]
        return row


def normalised(text: str) -> str:
    """The de-duplication key: same words, whatever the case, Unicode form or spacing."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def case_from_item(item_id: str, doc: dict) -> LabeledCase | None:
    """The labeled case of a flagged-item document, or None when it has no usable label."""
    review, threat, event = doc.get("review") or {}, doc.get("threat") or {}, doc.get("event") or {}
    text = doc.get("message")
    if review.get("label") not in LABELS or not isinstance(text, str) or not text.strip():
        return None
    # The console records who labeled and when apart from the last change (labeled_by/_at);
    # items labeled before it did fall back to the last change.
    return LabeledCase(text=text, label=review["label"], id=item_id,
                       labeled_by=review.get("labeled_by") or review.get("updated_by"),
                       labeled_at=review.get("labeled_at") or review.get("updated"),
                       model_version=threat.get("model_version"),
                       source_kind=event.get("module"), kind=threat.get("kind"))


def read_cases(path: Path) -> list[LabeledCase]:
    """An analyst's labeled JSON Lines (at least ``text`` and ``label``); a bad line is one error
    naming the file and line, never a silent skip: a lost label is a lesson the model misses."""
    fields = set(LabeledCase.__dataclass_fields__) - {"origin"}
    cases = []
    for number, row in text_rows(path):
        if row.get("label") not in LABELS:
            raise ValueError(f"{path}:{number}: label {row.get('label')!r} is not one of {', '.join(LABELS)}")
        known = {k: (None if v is None else str(v)) for k, v in row.items() if k in fields}
        cases.append(LabeledCase(**known, origin=path.name))
    return cases


def write_cases(cases: Iterable[LabeledCase], out) -> int:
    n = 0
    for case in cases:
        out.write(json.dumps(case.as_row(), ensure_ascii=False) + "\n")
        n += 1
    return n
