"""The champion on the bundled sample posts, judged by what their author says they are
(pipeline/samples/README.md): every concerning post surfaces, no listed hard negative alerts."""

import json

import pytest

from pipeline.bootstrap import build_classifier
from pipeline.config import DEFAULT_CONFIG, load_settings
from sample_tables import README, table_rows


@pytest.fixture(scope="module")
def verdicts():
    posts = [json.loads(line) for line in (README.parent / "posts.jsonl").read_text(encoding="utf-8").splitlines()]
    scored = build_classifier(load_settings(DEFAULT_CONFIG)).score_many([p["text"] for p in posts])
    return {(p["source"], p["native_id"]): v for p, v in zip(posts, scored)}


def test_every_concerning_sample_is_flagged_and_threats_of_violence_alert(verdicts):
    rows = table_rows(README.read_text(encoding="utf-8"), "### The concerning posts")
    missed = [(native_id, category) for source, native_id, category, *_ in rows if verdicts[(source, native_id)].severity == "none"]
    assert not missed
    quiet = [native_id for source, native_id, category, severity, _ in rows
             if category == "violence" and severity == "P1" and verdicts[(source, native_id)].severity not in ("P1", "P2")]
    assert not quiet, f"P1 threats that would not alert: {quiet}"


def test_listed_hard_negatives_never_alert(verdicts):
    rows = table_rows(README.read_text(encoding="utf-8"), "### Hard negatives worth checking")
    alerted = [why for source, native_id, why in rows if verdicts[(source, native_id)].severity in ("P1", "P2")]
    assert not alerted
