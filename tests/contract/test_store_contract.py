"""One behavioural contract for both store adapters (DESIGN.md §2): embedded SQLite and
Elasticsearch (served by osmem). Every test runs once per adapter via ``store_factory``."""

from __future__ import annotations

import json
import multiprocessing
import socket
import sqlite3
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders
from elastic_transport._node import NodeApiResponse
from fixtures_search import flagged_item, realistic_documents
from servers_osmem import PlainJsonNode, es_client

from pipeline.schema import Alert, ReviewEvent, alert_document, audit_document
from pipeline.store import (
    ConflictError,
    ItemQuery,
    NotFound,
    Scope,
    StoreError,
    StoreUnavailable,
)
from pipeline.store.elasticsearch import ElasticsearchStore
from pipeline.store.embedded import EmbeddedStore

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def ids(page_or_hits) -> list[str]:
    hits = page_or_hits.hits if hasattr(page_or_hits, "hits") else page_or_hits
    return [h.id for h in hits]


def doc_id(doc) -> str:
    return doc["event"]["id"]


@pytest.fixture
def corpus():
    """A small hand-made corpus whose expected search answers can be read off by eye."""
    return {
        "gun": flagged_item("I'm bringing a gun to school tomorrow", native_id="gun", severity="P1", score=0.95,
                            at=T0, explanation=["weapon mention: gun", "time: tomorrow"]),
        "shoot": flagged_item("gonna shoot everyone in the gym", native_id="shoot", severity="P1", score=0.91,
                              school="Roosevelt Middle", source="mastodon:district.social", at=T0 + timedelta(hours=1)),
        "knife": flagged_item("knife in my locker just in case", native_id="knife", severity="P2", category="weapons",
                              score=0.7, at=T0 + timedelta(hours=2), explanation=["weapon mention: knife"]),
        "sad": flagged_item("i can't do this anymore after school", native_id="sad", severity="P2",
                            category="self_harm", score=0.7, school=None, at=T0 + timedelta(hours=3),
                            explanation=["self-harm cue"]),
        "bully": flagged_item("everyone spam her account until she quits", native_id="bully", severity="P3",
                              category="bullying", score=0.4, source="tipline", kind="tip",
                              at=T0 + timedelta(days=1), explanation=["harassment cue"]),
        "game": flagged_item("we will destroy them at the game, shooting hoops all night", native_id="game",
                             severity="P3", score=0.31, school="Roosevelt Middle", at=T0 + timedelta(days=2),
                             explanation=["hyperbole: sports"]),
    }


@pytest.fixture
def loaded(store_factory, corpus):
    store = store_factory()
    assert store.index_items(list(corpus.values())) == len(corpus)
    return store


def find(store, **query) -> list[str]:
    return ids(store.search_items(ItemQuery(size=100, **query)))


# --- setup and create-only indexing ------------------------------------------------------------


def test_setup_is_idempotent_and_keeps_data(store_factory, corpus):
    store = store_factory()
    store.index_items([corpus["gun"]])
    store.setup()
    again = store_factory()  # a second process setting up the same data
    again.setup()
    assert again.ping()
    assert again.get_item(doc_id(corpus["gun"])).doc == corpus["gun"]


def test_index_counts_only_new_and_replay_keeps_review_state(store_factory, corpus):
    store = store_factory()
    first = [corpus["gun"], corpus["knife"]]
    assert store.index_items(first) == 2
    stored = store.get_item(doc_id(corpus["gun"]))
    store.update_review(stored.id, {"status": "acknowledged", "assignee": "officer.lee"}, stored.version)

    replay = [corpus["gun"], corpus["knife"], corpus["sad"], corpus["sad"]]
    assert store.index_items(replay) == 1  # only "sad" is new, and only once
    assert store.index_items([]) == 0

    kept = store.get_item(doc_id(corpus["gun"]))
    assert kept.doc["review"]["status"] == "acknowledged"
    assert kept.doc["review"]["assignee"] == "officer.lee"
    assert store.search_items(ItemQuery()).total == 3


def test_document_without_event_id_is_refused(store_factory):
    store = store_factory()
    with pytest.raises(StoreError, match="event.id"):
        store.index_items([{"message": "no id"}])


def test_get_returns_document_and_version_or_none(loaded, corpus):
    stored = loaded.get_item(doc_id(corpus["bully"]))
    assert stored.id == doc_id(corpus["bully"])
    assert stored.doc == corpus["bully"]
    assert isinstance(stored.version, str) and stored.version
    assert loaded.get_item("no-such-item") is None


# --- search ----------------------------------------------------------------------------------


def test_full_text_uses_english_stemming_in_message_and_explanation(loaded, corpus):
    shoot, game, gun, knife = (doc_id(corpus[k]) for k in ("shoot", "game", "gun", "knife"))
    assert set(find(loaded, text="shooting")) == {shoot, game}  # "shoot" and "shooting"
    assert set(find(loaded, text="SHOOTS")) == {shoot, game}
    assert find(loaded, text="shooting hoops") == [game]  # every word is required
    assert set(find(loaded, text="weapon")) == {gun, knife}  # only in the explanation
    assert find(loaded, text="knife weapon") == [knife]  # one word per field is enough
    assert find(loaded, text="the gym") == [shoot]  # stop words are not required
    assert find(loaded, text="nothing matches this") == []


@pytest.mark.parametrize(("text", "expected"), [
    ('"shoot', {"shoot", "game"}), ("gun*", {"gun"}), ("gun OR knife", set()), ("-gun", {"gun"}),
    ("gun AND NOT", {"gun"}), ("NEAR(gun", set()), ("knife)", {"knife"}), ("(((", None), ('"', None), ("*", None),
])
def test_search_syntax_in_user_text_is_taken_literally(loaded, corpus, text, expected):
    """Operators are words like any other (OR, AND, NOT are English stop words); a text with no
    word left does not filter at all."""
    found = find(loaded, text=text)  # must not raise
    by_id = {doc_id(d): k for k, d in corpus.items()}
    assert {by_id[i] for i in found} == (set(corpus) if expected is None else expected)


def test_filters_or_within_a_field_and_across_fields(loaded, corpus):
    def names(found):
        by_id = {doc_id(d): k for k, d in corpus.items()}
        return {by_id[i] for i in found}

    assert names(find(loaded, severity=["P1"])) == {"gun", "shoot"}
    assert names(find(loaded, severity=["P1", "P2"])) == {"gun", "shoot", "knife", "sad"}
    assert names(find(loaded, category=["weapons", "bullying"])) == {"knife", "bully"}
    assert names(find(loaded, school=["Roosevelt Middle"])) == {"shoot", "game"}
    assert names(find(loaded, source=["tipline"])) == {"bully"}
    assert names(find(loaded, source=["mastodon:district.social", "tipline"])) == {"shoot", "bully"}
    assert names(find(loaded, status=["open"])) == set(corpus)
    assert names(find(loaded, severity=["P1"], school=["Roosevelt Middle"])) == {"shoot"}
    assert names(find(loaded, severity=["P3"], text="shooting")) == {"game"}
    assert find(loaded, severity=["P1"], category=["bullying"]) == []


def test_status_filter_follows_review_updates(loaded, corpus):
    stored = loaded.get_item(doc_id(corpus["knife"]))
    loaded.update_review(stored.id, {"status": "dismissed", "label": "false_positive"}, stored.version)
    assert find(loaded, status=["dismissed"]) == [stored.id]
    assert stored.id not in find(loaded, status=["open"])
    assert len(find(loaded, status=["open", "dismissed"])) == 6


def test_labeled_filter_follows_review_labels(loaded, corpus):
    assert find(loaded, labeled=True) == []
    assert len(find(loaded, labeled=False)) == len(corpus)
    for name, label in (("knife", "threat_transient"), ("sad", "self_harm"), ("game", "not_a_concern")):
        stored = loaded.get_item(doc_id(corpus[name]))
        loaded.update_review(stored.id, {"label": label, "updated_by": "sro1"}, stored.version)
    cleared = loaded.get_item(doc_id(corpus["game"]))  # a label taken back is no label
    loaded.update_review(cleared.id, {"label": None}, cleared.version)
    labeled = {doc_id(corpus[n]) for n in ("knife", "sad")}
    assert set(find(loaded, labeled=True)) == labeled
    assert set(find(loaded, labeled=False)) == {doc_id(d) for d in corpus.values()} - labeled
    assert find(loaded, labeled=True, severity=["P2"], sort="oldest") == [doc_id(corpus["knife"]), doc_id(corpus["sad"])]
    assert loaded.search_items(ItemQuery(labeled=True, size=0)).total == 2


def test_since_is_inclusive_and_until_exclusive(loaded, corpus):
    knife, sad, bully = (doc_id(corpus[k]) for k in ("knife", "sad", "bully"))
    window = find(loaded, since=T0 + timedelta(hours=2), until=T0 + timedelta(days=2), sort="oldest")
    assert window == [knife, sad, bully]
    assert len(find(loaded, since=T0 + timedelta(days=2))) == 1
    assert len(find(loaded, until=T0)) == 0
    # A naive datetime is UTC, and other offsets compare as instants.
    assert find(loaded, since=datetime(2024, 5, 3, 12), sort="oldest") == [doc_id(corpus["game"])]
    east = datetime(2024, 5, 1, 14, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=5)))
    assert find(loaded, until=east, sort="oldest") == [doc_id(corpus["gun"]), doc_id(corpus["shoot"])]


def test_sorts_newest_oldest_and_score_with_ties_by_id(loaded, corpus):
    by_time = [doc_id(corpus[k]) for k in ("gun", "shoot", "knife", "sad", "bully", "game")]
    assert find(loaded) == by_time[::-1]  # newest is the default
    assert find(loaded, sort="oldest") == by_time
    # knife and sad share score 0.7: the newer one (sad) first
    assert find(loaded, sort="score") == [doc_id(corpus[k]) for k in ("gun", "shoot", "sad", "knife", "bully", "game")]


def test_severity_sort_puts_p1_first_then_newest(loaded, corpus):
    assert find(loaded, sort="severity") == [doc_id(corpus[k]) for k in ("shoot", "gun", "sad", "knife", "game", "bully")]


def test_triage_sort_puts_undecided_items_first_then_p1_then_newest(store_factory, corpus):
    store = store_factory()
    no_status = flagged_item("a document indexed before review.status existed", native_id="legacy", severity="P3",
                             at=T0 - timedelta(days=1))
    del no_status["review"]["status"]
    store.index_items([*corpus.values(), no_status])
    for key, status in (("shoot", "resolved"), ("knife", "dismissed"), ("game", "escalated"), ("bully", "acknowledged"),
                        ("gun", "assigned")):
        stored = store.get_item(doc_id(corpus[key]))
        store.update_review(stored.id, {"status": status}, stored.version)
    order = [doc_id(corpus[k]) for k in ("gun", "sad", "game", "bully")] + [doc_id(no_status)] + \
            [doc_id(corpus[k]) for k in ("shoot", "knife")]
    assert find(store, sort="triage") == order
    # Paged across the boundary between undecided and decided, and with a filter.
    assert ids(store.search_items(ItemQuery(sort="triage", size=3, offset=3))) == order[3:6]
    assert find(store, sort="triage", severity=["P1"]) == [doc_id(corpus["gun"]), doc_id(corpus["shoot"])]
    # Deciding an item moves it down; reopening it moves it back.
    stored = store.get_item(doc_id(corpus["shoot"]))
    store.update_review(stored.id, {"status": "open"}, stored.version)
    assert find(store, sort="triage")[:2] == [doc_id(corpus["shoot"]), doc_id(corpus["gun"])]


def test_filters_by_author_thread_tip_code_and_assignee(store_factory):
    def doc(name, **changes):
        d = flagged_item(f"message {name}", native_id=name, at=T0)
        d["user"] = {"name": changes.get("author", "someone")}
        d["threat"]["thread_id"] = changes.get("thread")
        if "tip_code" in changes:
            d["threat"]["tip"] = {"code": changes["tip_code"]}
        return d

    store = store_factory()
    docs = {"a1": doc("a1", author="ann", thread="t1"), "a2": doc("a2", author="ann", thread="t2"),
            "b1": doc("b1", author="bob", thread="t1"), "tip1": doc("tip1", tip_code="CODE234567"),
            "tip2": doc("tip2", tip_code="CODE234567"), "tip3": doc("tip3", tip_code="OTHER23456")}
    store.index_items(list(docs.values()))
    by_id = {doc_id(d): k for k, d in docs.items()}

    def names(**query):
        return {by_id[i] for i in find(store, **query)}

    assert names(author=["ann"]) == {"a1", "a2"}
    assert names(author=["ann", "bob"], thread=["t1"]) == {"a1", "b1"}
    assert names(tip_code=["CODE234567"]) == {"tip1", "tip2"}
    assert names(assignee=["sro.kim"]) == set()
    stored = store.get_item(doc_id(docs["a2"]))
    store.update_review(stored.id, {"assignee": "sro.kim"}, stored.version)
    assert names(assignee=["sro.kim"]) == {"a2"}


def test_scopes_let_through_items_in_any_one_of_them(loaded, corpus):
    def names(**query):
        by_id = {doc_id(d): k for k, d in corpus.items()}
        return {by_id[i] for i in find(loaded, **query)}

    # Everything but self-harm, plus self-harm at P1 (there is none): what an SRO sees.
    sro = (Scope(category=["violence", "weapons", "bullying", "drugs", "none"]),
           Scope(category=["self_harm"], severity=["P1"]))
    assert names(scopes=sro) == set(corpus) - {"sad"}
    assert names(scopes=(Scope(category=["self_harm", "bullying"]),)) == {"sad", "bully"}
    assert names(scopes=(Scope(category=["weapons"]), Scope(severity=["P3"]))) == {"knife", "bully", "game"}
    assert names(scopes=(Scope(),)) == set(corpus)  # an empty scope holds everything
    # Other filters narrow what the scopes let through.
    assert names(scopes=sro, severity=["P2"]) == {"knife"}
    assert loaded.search_items(ItemQuery(scopes=sro, size=0)).total == 5


def test_equal_timestamps_are_ordered_by_id(store_factory):
    store = store_factory()
    docs = [flagged_item(f"same moment {n}", native_id=f"same-{n}", at=T0) for n in range(5)]
    store.index_items(docs)
    expected = sorted(doc_id(d) for d in docs)
    assert find(store) == expected
    assert find(store, sort="oldest") == expected


def test_pagination_reports_total_before_paging(store_factory):
    store = store_factory()
    docs = realistic_documents(57, seed=3)
    assert store.index_items(docs) == 57
    seen = []
    for offset in range(0, 57, 20):
        page = store.search_items(ItemQuery(size=20, offset=offset, sort="oldest"))
        assert page.total == 57
        seen += ids(page)
    assert len(seen) == 57 and set(seen) == {doc_id(d) for d in docs}
    assert seen == find(store, sort="oldest")
    empty = store.search_items(ItemQuery(size=0, severity=["P1"]))
    assert empty.hits == [] and empty.total == sum(d["threat"]["severity"] == "P1" for d in docs)
    assert store.search_items(ItemQuery(offset=100)).hits == []


def test_search_hits_carry_usable_versions(loaded, corpus):
    hit = loaded.search_items(ItemQuery(text="knife")).hits[0]
    assert hit.doc == corpus["knife"]
    loaded.update_review(hit.id, {"status": "acknowledged"}, hit.version)


def test_concurrent_writers_create_each_item_once(store_factory):
    """Four writers replaying overlapping batches at once: every item is counted new exactly once."""
    docs = realistic_documents(200, seed=5)
    batches = [docs[i:i + 100] for i in (0, 50, 100, 0)]
    stores = [store_factory() for _ in batches]
    with ThreadPoolExecutor(len(batches)) as pool:
        created = list(pool.map(lambda pair: pair[0].index_items(pair[1]), zip(stores, batches, strict=True)))
    assert sum(created) == 200
    assert stores[0].search_items(ItemQuery(size=0)).total == 200


def _index_in_another_process(path: str, docs: list[dict]) -> int:
    with EmbeddedStore(Path(path)) as store:
        return store.index_items(docs)


def test_embedded_store_is_shared_safely_by_processes(tmp_path):
    path = tmp_path / "shared.sqlite3"
    EmbeddedStore(path).setup()
    docs = realistic_documents(300, seed=6)
    chunks = [docs[0:200], docs[100:300], docs[50:250]]
    with ProcessPoolExecutor(3, mp_context=multiprocessing.get_context("spawn")) as pool:
        created = list(pool.map(_index_in_another_process, [str(path)] * 3, chunks))
    assert sum(created) == 300
    with EmbeddedStore(path) as store:
        assert store.search_items(ItemQuery(size=0)).total == 300
        assert store.search_items(ItemQuery(text="locker", size=0)).total == sum(
            "locker" in d["message"] for d in docs)


# --- optimistic concurrency ---------------------------------------------------------------------


def test_review_update_merges_and_bumps_version(loaded, corpus):
    stored = loaded.get_item(doc_id(corpus["gun"]))
    v2 = loaded.update_review(stored.id, {"status": "acknowledged", "updated_by": "sro.kim"}, stored.version)
    assert v2 != stored.version
    v3 = loaded.update_review(stored.id, {"assignee": "counselor.ng"}, v2)
    now = loaded.get_item(stored.id)
    assert now.version == v3 and v3 not in (v2, stored.version)
    assert now.doc["review"] == {"status": "acknowledged", "updated_by": "sro.kim", "assignee": "counselor.ng"}
    assert now.doc["message"] == corpus["gun"]["message"]


def test_stale_version_conflicts_and_writes_nothing(store_factory, corpus):
    alice, bob = store_factory(), store_factory()  # two reviewers, two processes, same data
    alice.index_items([corpus["gun"]])
    read_by_alice = alice.get_item(doc_id(corpus["gun"]))
    read_by_bob = bob.get_item(doc_id(corpus["gun"]))
    bob.update_review(read_by_bob.id, {"status": "escalated"}, read_by_bob.version)
    with pytest.raises(ConflictError):
        alice.update_review(read_by_alice.id, {"status": "dismissed"}, read_by_alice.version)
    assert alice.get_item(read_by_alice.id).doc["review"]["status"] == "escalated"
    with pytest.raises(ConflictError):
        alice.update_review(read_by_alice.id, {"status": "dismissed"}, "not-a-version")


def test_review_update_of_missing_item_is_not_found(loaded, corpus):
    version = loaded.get_item(doc_id(corpus["gun"])).version
    with pytest.raises(NotFound):
        loaded.update_review("no-such-item", {"status": "acknowledged"}, version)


def test_delete_items_counts_what_was_there(loaded, corpus):
    gone = [doc_id(corpus["game"]), doc_id(corpus["bully"])]
    assert loaded.delete_items(gone + ["no-such-item"]) == 2
    assert loaded.delete_items(gone) == 0
    assert loaded.get_item(gone[0]) is None
    assert find(loaded, text="shooting") == [doc_id(corpus["shoot"])]
    assert loaded.search_items(ItemQuery()).total == 4
    assert loaded.index_items([corpus["game"]]) == 1  # a purged item can come back if it is seen again


# --- alerts ----------------------------------------------------------------------------------


def _alert(item_id: str, role: str, minutes: int, status: str = "pending") -> Alert:
    return Alert(item_id=item_id, role=role, severity="P1", category="violence", school="Lincoln High",
                 excerpt="bringing a gun", status=status, created_at=T0 + timedelta(minutes=minutes))


def test_alert_is_created_once_and_updated_with_versions(store_factory):
    alice, bob = store_factory(), store_factory()
    alert = _alert("item-1", "sro", 0)
    assert alice.create_alert(alert.id, alert_document(alert)) is True
    assert bob.create_alert(alert.id, {**alert_document(alert), "status": "sent"}) is False  # a replay
    stored = bob.get_alert(alert.id)
    assert stored.doc == alert_document(alert)

    sent = {**stored.doc, "status": "sent", "attempts": 1, "recipients": ["sro@example.org"]}
    v2 = bob.update_alert(alert.id, sent, stored.version)
    assert alice.get_alert(alert.id).doc == sent and alice.get_alert(alert.id).version == v2
    with pytest.raises(ConflictError):
        alice.update_alert(alert.id, {**stored.doc, "status": "failed"}, stored.version)
    assert alice.get_alert(alert.id).doc["status"] == "sent"
    with pytest.raises(NotFound):
        alice.update_alert("no-such-alert", sent, v2)
    assert alice.get_alert("no-such-alert") is None


def test_search_alerts_by_item_and_status_newest_first(store_factory):
    store = store_factory()
    alerts = [_alert("item-1", "sro", 0, "sent"), _alert("item-1", "counselor", 5, "pending"),
              _alert("item-2", "sro", 10, "pending")]
    for alert in alerts:
        store.create_alert(alert.id, alert_document(alert))
    assert ids(store.search_alerts(item_id="item-1")) == [alerts[1].id, alerts[0].id]
    assert ids(store.search_alerts(status="pending")) == [alerts[2].id, alerts[1].id]
    assert ids(store.search_alerts(item_id="item-1", status="sent")) == [alerts[0].id]
    assert ids(store.search_alerts()) == [a.id for a in alerts[::-1]]
    assert len(store.search_alerts(size=2)) == 2
    stored = store.get_alert(alerts[2].id)
    store.update_alert(stored.id, {**stored.doc, "status": "acknowledged"}, stored.version)
    assert ids(store.search_alerts(status="pending")) == [alerts[1].id]
    assert store.search_alerts(item_id="item-9") == []
    # Several statuses at once: how the pager finds every open alert.
    assert ids(store.search_alerts(status=["sent", "acknowledged"])) == [alerts[2].id, alerts[0].id]
    assert ids(store.search_alerts(item_id="item-1", status=("pending", "sent"))) == [alerts[1].id, alerts[0].id]
    assert store.search_alerts(status=["merged"]) == []


# --- audit -----------------------------------------------------------------------------------


def test_audit_is_appended_once_and_read_oldest_first(store_factory):
    store, other = store_factory(), store_factory()
    events = [ReviewEvent(item_id="item-1", actor="sro.kim", role="sro", action=action,
                          at=T0 + timedelta(microseconds=offset), details={"n": offset})
              for action, offset in (("view", 0), ("acknowledge", 1), ("note", 2), ("dismiss", 3))]
    elsewhere = ReviewEvent(item_id="item-2", actor="analyst.ray", role="analyst", action="label", label="threat", at=T0)
    docs = [audit_document(e) for e in events]
    other.append_audit([docs[2], docs[0], audit_document(elsewhere)])
    store.append_audit([docs[3], docs[1], docs[0]])  # docs[0] again: a replayed write
    store.append_audit([])
    assert store.audit_for("item-1") == docs
    assert other.audit_for("item-2") == [audit_document(elsewhere)]
    assert store.audit_for("item-3") == []


# --- a period of audit records and alerts (the transparency report) --------------------------

US = timedelta(microseconds=1)


def _audit(event_id: str, action: str, at: datetime, item_id: str = "item-1") -> dict:
    return audit_document(ReviewEvent(id=event_id, item_id=item_id, actor="sro.kim", role="sro", action=action, at=at))


def audit_ids(records) -> list[str]:
    return [r["event"]["id"] for r in records]


def _reads(store_factory, store) -> list:
    """Every read request ``store`` sends from now on: osmem searches, or SQLite SELECTs."""
    seen: list = []
    if store_factory.backend == "elasticsearch":
        search = store._client.search

        def counting(**kwargs):
            seen.append(kwargs)
            return search(**kwargs)

        store._client.search = counting
    else:
        store._db.set_trace_callback(lambda sql: sql.lstrip().upper().startswith("SELECT") and seen.append(sql))
    return seen


def test_search_audit_reads_a_period_oldest_first(store_factory):
    store, other = store_factory(), store_factory()
    since, until = T0, T0 + timedelta(hours=1)
    docs = {d["event"]["id"]: d for d in (
        _audit("before", "view", since - US),
        _audit("first", "view", since),  # since is inclusive
        _audit("tie-b", "acknowledge", since + timedelta(minutes=5)),
        _audit("tie-a", "note", since + timedelta(minutes=5), item_id="item-2"),  # same instant: by id
        _audit("last", "dismiss", until - US),
        _audit("at-until", "label", until),  # until is exclusive
    )}
    # Two writers, out of time order, the later id of the tie first: neither insertion nor id order.
    other.append_audit([docs["last"], docs["tie-b"], docs["at-until"]])
    store.append_audit([docs["first"], docs["before"], docs["tie-a"]])
    inside = ["first", "tie-a", "tie-b", "last"]
    assert list(store.search_audit(since, until)) == [docs[i] for i in inside]
    assert audit_ids(store.search_audit()) == ["before", *inside, "at-until"]
    assert audit_ids(store.search_audit(since=since)) == [*inside, "at-until"]
    assert audit_ids(store.search_audit(until=until)) == ["before", *inside]
    assert audit_ids(store.search_audit(since + US, until)) == inside[1:]  # microseconds count
    # A naive datetime is UTC, and other offsets compare as instants.
    east = until.astimezone(timezone(timedelta(hours=5)))
    assert audit_ids(store.search_audit(since.replace(tzinfo=None), east)) == inside
    assert list(store.search_audit(until, until)) == []


def test_search_audit_keeps_only_the_actions_asked_for(store_factory):
    store = store_factory()
    actions = ["view", "dismiss", "label", "view", "export", "dismiss"]
    store.append_audit([_audit(f"a{n}", action, T0 + timedelta(minutes=n)) for n, action in enumerate(actions)][::-1])
    assert audit_ids(store.search_audit(actions=["dismiss"])) == ["a1", "a5"]
    assert audit_ids(store.search_audit(actions=("label", "dismiss"))) == ["a1", "a2", "a5"]
    assert audit_ids(store.search_audit(T0 + timedelta(minutes=2), T0 + timedelta(minutes=5),
                                        actions=["dismiss", "view"])) == ["a3"]
    assert list(store.search_audit(actions=["purge"])) == []
    assert audit_ids(store.search_audit(actions=[])) == [f"a{n}" for n in range(6)]  # none: every action


def test_alerts_between_reads_a_period_oldest_first(store_factory):
    store, other = store_factory(), store_factory()
    since, until = T0, T0 + timedelta(hours=1)

    def alert(item_id: str, at: datetime) -> Alert:
        return Alert(item_id=item_id, role="sro", severity="P1", category="violence", school="Lincoln High",
                     excerpt="bringing a gun", created_at=at)

    before, first, last, at_until = (alert(f"item-{name}", at) for name, at in (
        ("before", since - US), ("first", since), ("last", until - US), ("at-until", until)))
    tie_low, tie_high = sorted((alert("item-tie1", since + timedelta(minutes=5)),
                                alert("item-tie2", since + timedelta(minutes=5))), key=lambda a: a.id)
    for writer, written in ((other, [last, tie_high, at_until]), (store, [first, before, tie_low])):
        for a in written:
            assert writer.create_alert(a.id, alert_document(a))
    inside = [first.id, tie_low.id, tie_high.id, last.id]
    assert ids(store.alerts_between(since, until)) == inside
    assert ids(store.alerts_between()) == [before.id, *inside, at_until.id]
    assert ids(store.alerts_between(since=since)) == [*inside, at_until.id]
    assert ids(store.alerts_between(until=until)) == [before.id, *inside]
    assert ids(store.alerts_between(since + US, until)) == inside[1:]
    east = until.astimezone(timezone(timedelta(hours=5)))
    assert ids(store.alerts_between(since.replace(tzinfo=None), east)) == inside
    assert list(store.alerts_between(until, until)) == []

    hit = next(store.alerts_between(since, until))
    assert hit.doc == alert_document(first)
    store.update_alert(hit.id, {**hit.doc, "status": "acknowledged"}, hit.version)  # a usable version
    again = list(store.alerts_between(since, until))
    assert ids(again) == inside and again[0].doc["status"] == "acknowledged"


def test_period_reads_page_through_everything(store_factory):
    """More records than a page, three on each instant so ties straddle page boundaries: every one
    exactly once, in order, a page per request."""
    store = store_factory()
    store._page_size = 4
    docs = [_audit(f"r{n:02d}", "view" if n % 2 else "export", T0 + US * (n // 3)) for n in range(25)]
    store.append_audit(docs[::-1])
    alerts = [Alert(item_id=f"item-{n:02d}", role="sro", severity="P2", category="weapons", excerpt="knife",
                    created_at=T0 + timedelta(seconds=n // 3)) for n in range(25)]
    for a in alerts[::-1]:
        store.create_alert(a.id, alert_document(a))
    reads = _reads(store_factory, store)

    assert list(store.search_audit()) == docs
    assert len(reads) == 7  # 4+4+4+4+4+4+1
    reads.clear()
    assert audit_ids(store.search_audit(actions=["view"])) == [f"r{n:02d}" for n in range(1, 25, 2)]
    assert len(reads) == 4  # three full pages, then an empty one
    reads.clear()
    assert ids(store.alerts_between()) == [a.id for a in sorted(alerts, key=lambda a: (a.created_at, a.id))]
    assert len(reads) == 7
    reads.clear()
    assert audit_ids(store.search_audit(T0 + US, T0 + US * 3)) == [f"r{n:02d}" for n in range(3, 9)]
    assert len(reads) == 2


def test_period_reads_of_an_empty_store_yield_nothing(store_factory):
    store = store_factory()
    assert list(store.search_audit()) == []
    assert list(store.search_audit(T0, T0 + timedelta(days=1), actions=["view"])) == []
    assert list(store.alerts_between()) == []
    assert list(store.alerts_between(T0, T0 + timedelta(days=1))) == []
    # Audit records are not alerts, nor alerts audit records.
    record = _audit("only-audit", "view", T0)
    store.append_audit([record])
    assert list(store.alerts_between()) == []
    only = _alert("item-1", "sro", 0)
    store.create_alert(only.id, alert_document(only))
    assert list(store.search_audit()) == [record]
    assert ids(store.alerts_between()) == [only.id]


def test_check_writable_passes_once_set_up_and_changes_nothing_a_reader_sees(store_factory, corpus):
    store = store_factory()
    store.check_writable()
    store.index_items([corpus["gun"]])
    store.check_writable()
    store_factory().check_writable()  # another process, the same answer
    assert find(store) == [doc_id(corpus["gun"])]
    assert store.search_alerts() == [] and list(store.search_audit()) == []


@pytest.mark.elasticsearch
def test_elasticsearch_check_writable_names_a_write_blocked_index_and_a_missing_setup(osmem_url):
    client = es_client(osmem_url)
    prefix = f"t{uuid.uuid4().hex[:12]}"
    store = ElasticsearchStore(client, index_prefix=prefix)
    try:
        with pytest.raises(StoreError, match="run `threatline setup`"):
            store.check_writable()
        store.setup()
        store.check_writable()
        # What the flood-stage disk watermark does: ping still answers, every write fails.
        client.indices.put_settings(index=f"{prefix}-alerts", settings={"index.blocks.read_only_allow_delete": True})
        assert store.ping()
        with pytest.raises(StoreUnavailable, match=f"{prefix}-alerts \\(index.blocks.read_only_allow_delete\\)"):
            store.check_writable()
        client.indices.put_settings(index=f"{prefix}-alerts", settings={"index.blocks.read_only_allow_delete": None})
        store.check_writable()
    finally:
        client.options(ignore_status=404).indices.delete(index=f"{prefix}-*")
        for kind in ("flagged", "alerts", "audit"):
            client.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-{kind}")
        store.close()


# --- unavailability ---------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unreachable(store_factory):
    if store_factory.backend == "elasticsearch":
        port = _closed_port()
        store = ElasticsearchStore(es_client(f"http://127.0.0.1:{port}", request_timeout=2), index_prefix="gone",
                                   bulk_max_retries=1, backoff_initial_s=0.01)
        return store, f"127.0.0.1:{port}", None
    # SQLite has no server to lose; its "try later" is another process holding the write lock.
    store = store_factory(busy_timeout_s=0.2)
    holder = sqlite3.connect(store_factory.sqlite_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    return store, "database is busy", holder


def test_unreachable_store_raises_store_unavailable(store_factory, corpus):
    store, names, holder = _unreachable(store_factory)
    try:
        with pytest.raises(StoreUnavailable, match=names) as raised:
            store.index_items([corpus["gun"]])
        assert "\n" not in str(raised.value)
        with pytest.raises(StoreUnavailable):
            store.update_review(doc_id(corpus["gun"]), {"status": "acknowledged"}, "1" if holder else "0:1")
        with pytest.raises(StoreUnavailable):
            store.create_alert("a-1", {"item_id": "x"})
        with pytest.raises(StoreUnavailable):
            store.check_writable()
        with pytest.raises(StoreUnavailable):
            store.append_audit([audit_document(ReviewEvent(item_id="x", actor="a", role="sro", action="view"))])
        if holder is None:  # reads need the server too
            assert store.ping() is False
            with pytest.raises(StoreUnavailable):
                store.search_items(ItemQuery(text="gun"))
            with pytest.raises(StoreUnavailable):
                list(store.search_audit(since=T0))
            with pytest.raises(StoreUnavailable):
                list(store.alerts_between(until=T0))
            with pytest.raises(StoreUnavailable):
                store.setup()
    finally:
        if holder is not None:
            holder.execute("ROLLBACK")
            holder.close()
        store.close()


def test_embedded_readers_are_not_blocked_by_a_writer(tmp_path, corpus):
    store = EmbeddedStore(tmp_path / "s.sqlite3", busy_timeout_s=0.2)
    store.setup()
    store.index_items([corpus["gun"]])
    holder = sqlite3.connect(tmp_path / "s.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert find(store, text="gun") == [doc_id(corpus["gun"])]  # WAL: the review console keeps working
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        store.close()


def test_embedded_store_in_a_missing_directory_is_unavailable(tmp_path):
    with pytest.raises(StoreUnavailable, match="cannot open"):
        EmbeddedStore(tmp_path / "absent" / "store.sqlite3")


# --- Elasticsearch only: bulk per-item failures -------------------------------------------------


def _flaky_client(url: str, fail_ids: set[str], failures: int, status: int = 429):
    """A client whose ``_bulk`` requests lose the actions for ``fail_ids`` ``failures`` times,
    answered with ``status`` for those items (as an overloaded cluster does), the rest forwarded."""
    remaining = {"count": failures, "bulk_calls": 0}

    class FlakyBulkNode(PlainJsonNode):
        def perform_request(self, method, target, body=None, headers=None, **kwargs):
            if not target.startswith("/_bulk"):
                return super().perform_request(method, target, body=body, headers=headers, **kwargs)
            remaining["bulk_calls"] += 1
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            pairs = [(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]  # create actions only
            failing = [p[0]["create"]["_id"] in fail_ids and remaining["count"] > 0 for p in pairs]
            if any(failing):
                remaining["count"] -= 1
            kept = [p for p, fail in zip(pairs, failing, strict=False) if not fail]
            forwarded = []
            if kept:
                payload = "".join(json.dumps(x) + "\n" for p in kept for x in p).encode()
                meta, raw = super().perform_request(method, target, body=payload, headers=headers, **kwargs)
                forwarded = json.loads(raw)["items"]
            answered = iter(forwarded)
            items = [{"create": {"_id": p[0]["create"]["_id"], "status": status,
                                 "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}}
                     if fail else next(answered) for p, fail in zip(pairs, failing, strict=False)]
            raw = json.dumps({"took": 1, "errors": any(failing), "items": items}).encode()
            meta = ApiResponseMeta(status=200, http_version="1.1", duration=0.0, node=self.config,
                                   headers=HttpHeaders({"content-type": "application/json",
                                                        "x-elastic-product": "Elasticsearch"}))
            return NodeApiResponse(meta, raw)

    from elasticsearch import Elasticsearch

    return Elasticsearch(url, node_class=FlakyBulkNode), remaining


@pytest.fixture
def flaky_store(osmem_url):
    """An ElasticsearchStore on osmem whose bulk requests lose chosen items for a while."""
    made = []

    def make(fail_ids, failures, *, status=429, max_retries):
        client, calls = _flaky_client(osmem_url, fail_ids, failures, status)
        store = ElasticsearchStore(client, index_prefix=f"flaky{uuid.uuid4().hex[:8]}", bulk_max_retries=max_retries,
                                   backoff_initial_s=0.01)
        store.setup()
        made.append((store, client))
        return store, calls

    yield make
    for store, client in made:
        client.indices.delete(index=f"{store.index_prefix}-*")
        store.close()


@pytest.mark.elasticsearch
def test_bulk_retries_rejected_items_until_they_land(flaky_store):
    docs = realistic_documents(6, seed=11)
    store, calls = flaky_store({doc_id(docs[1]), doc_id(docs[4])}, failures=2, max_retries=3)
    assert store.index_items(docs) == 6
    assert calls["bulk_calls"] == 3
    assert store.search_items(ItemQuery()).total == 6


@pytest.mark.elasticsearch
def test_bulk_gives_up_after_max_retries_with_store_unavailable(flaky_store):
    docs = realistic_documents(4, seed=12)
    store, calls = flaky_store({doc_id(docs[0])}, failures=10, status=503, max_retries=2)
    with pytest.raises(StoreUnavailable, match="1 of 4 still failing after 2 retries"):
        store.index_items(docs)
    assert calls["bulk_calls"] == 3
    assert store.search_items(ItemQuery()).total == 3  # the others were written and stay written


@pytest.mark.elasticsearch
def test_bulk_item_rejected_for_good_names_the_item(flaky_store, corpus):
    store, _ = flaky_store(set(), failures=0, max_retries=3)
    bad = {**corpus["gun"], "threat": {**corpus["gun"]["threat"], "score": "very high"}}
    with pytest.raises(StoreError, match=doc_id(bad)) as raised:
        store.index_items([corpus["knife"], bad])
    assert not isinstance(raised.value, StoreUnavailable)
    assert store.get_item(doc_id(corpus["knife"])) is not None
