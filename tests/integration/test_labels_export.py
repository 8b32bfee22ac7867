"""`threatline labels export` on both store adapters: every labeled item, paged past any window,
with who/when/model version, `--since` on the labeling time, and the export audited."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

from fixtures_search import flagged_item

from pipeline.retraining import export_labels, labeled_items, store_cases
from pipeline.store.elasticsearch import ElasticsearchStore

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
LABELS = ["threat_substantive", "threat_transient", "self_harm", "bullying", "not_a_concern"]


def seed(store):
    """12 items: 9 labeled (four of them on one millisecond, to page across it), 2 unlabeled, 1
    with a label the console does not give."""
    docs = [flagged_item(f"post number {i} about the game", native_id=f"n{i}",
                         at=T0 + timedelta(minutes=0 if 3 <= i <= 6 else i), source="rss:news" if i % 2 else "tipline",
                         kind="post" if i % 2 else "tip")
            for i in range(12)]
    store.index_items(docs)
    labeled = {}
    for i, doc in enumerate(docs):
        if i in (9, 10):
            continue
        label = "false_positive" if i == 11 else LABELS[i % 5]
        stored = store.get_item(doc["event"]["id"])
        store.update_review(stored.id, {"label": label, "updated_by": f"sro{i}",
                                        "updated": (T0 + timedelta(days=i)).isoformat()}, stored.version)
        if i != 11:
            labeled[stored.id] = (doc["message"], label, i)
    return labeled


def exported_audit(store):
    if isinstance(store, ElasticsearchStore):
        store._client.indices.refresh(index=store.audit_alias)
        hits = store._client.search(index=store.audit_alias, query={"term": {"event.action": "export"}}).body["hits"]["hits"]
        return [h["_source"] for h in hits]
    import sqlite3

    with sqlite3.connect(store.path) as db:
        docs = [json.loads(d) for (d,) in db.execute("SELECT doc FROM audit")]
    return [d for d in docs if d["event"]["action"] == "export"]


def test_every_labeled_item_is_read_in_pages_smaller_than_the_result(store_factory):
    store = store_factory()
    labeled = seed(store)
    seen = [item_id for item_id, _ in labeled_items(store, page_size=3)]
    assert len(seen) == len(set(seen)) == 10  # nine console labels and the unknown one, each once
    assert set(labeled) < set(seen)


def test_export_writes_one_row_per_labeled_case_and_is_audited(store_factory):
    store = store_factory()
    labeled = seed(store)
    out = io.StringIO()
    n = export_labels(store, out, since=None, by="cli:dana", output="labels.jsonl")
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert n == len(rows) == 9
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == set(labeled)
    for item_id, (text, label, i) in labeled.items():
        row = by_id[item_id]
        assert (row["text"], row["label"], row["labeled_by"]) == (text, label, f"sro{i}")
        assert datetime.fromisoformat(row["labeled_at"]) == T0 + timedelta(days=i)
        assert row["model_version"] == "lexicon-2024.05"
        assert (row["source_kind"], row["kind"]) == (("rss", "post") if i % 2 else ("tipline", "tip"))
    [record] = exported_audit(store)
    assert record["user"]["name"] == "cli:dana" and record["details"]["cases"] == 9


def test_since_keeps_labels_given_at_or_after_it(store_factory):
    store = store_factory()
    seed(store)
    recent = store_cases(store, since=T0 + timedelta(days=6))
    assert sorted(c.labeled_by for c in recent) == ["sro6", "sro7", "sro8"]
    out = io.StringIO()
    assert export_labels(store, out, since=T0 + timedelta(days=8), by="x", output="-") == 1
    assert json.loads(out.getvalue())["labeled_by"] == "sro8"
