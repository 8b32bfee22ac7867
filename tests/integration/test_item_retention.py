"""Retention of flagged items by class, on both store adapters (embedded SQLite and osmem for
Elasticsearch), with an injected clock: the boundaries, the audit records, alerts stripped of the
item's words, dry runs, repeated runs, paging, erasure on disk, the flow and its daily deployment.
Also ``purge_all``'s other steps (embedded bus messages, tip threads) and ``threatline purge``.

(Named apart from tests/tipline/test_retention.py: test directories are not packages.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from fixtures_search import flagged_item, realistic_documents
from typer.testing import CliRunner

from pipeline.bus import TOPICS, OutMessage
from pipeline.bus.embedded import EmbeddedBus
from pipeline.cli import app
from pipeline.config import DEFAULT_CONFIG, REPO_ROOT
from pipeline.retention import (
    ACTOR,
    REDACTED_EXCERPT,
    ROLE,
    purge_all,
    purge_bus,
    purge_items,
    retention_class,
)
from pipeline.schema import Alert, alert_document
from pipeline.store import ConflictError, ItemQuery, StoreError
from pipeline.store.embedded import EmbeddedStore
from pipeline.tipline.threads import SqliteThreadStore

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def decide(store, name: str, status: str | None, days: float | None, *, outcome: str | None = None,
           posted_days: float | None = None, updated: str | int | None = None) -> str:
    """Index an item as the index stage does, then review it as a person would.

    ``days``: how long ago the review changed it; ``posted_days``: the post's age (default: a
    week before the review); ``updated`` overrides the stored review time verbatim."""
    posted = posted_days if posted_days is not None else (days or 0) + 7
    doc = flagged_item(f"retention case {name}", native_id=name, at=NOW - timedelta(days=posted))
    store.index_items([doc])
    item_id = doc["event"]["id"]
    if status is not None:
        review = {"status": status, "updated_by": "officer.lee"}
        review["updated"] = updated if updated is not None else (at(days) if days is not None else None)
        if outcome is not None:
            review["outcome"] = outcome
        stored = store.get_item(item_id)
        store.update_review(item_id, review, stored.version)
    return item_id


def page(store, item_id: str, role: str, *, acknowledged: bool = True) -> str:
    """The alert the alert stage would have stored for an item, acknowledged 4 minutes later."""
    doc = store.get_item(item_id).doc
    alert = Alert(item_id=item_id, role=role, severity="P1", category="violence", excerpt=doc["message"],
                  explanation=["weapon mention: gun"], status="acknowledged" if acknowledged else "sent",
                  recipients=["officer.lee"], created_at=NOW - timedelta(days=400))
    body = alert_document(alert) | ({"acknowledged_by": "officer.lee", "time_to_ack_s": 240.0} if acknowledged else {})
    assert store.create_alert(alert.id, body)
    return alert.id


def remaining(store) -> set[str]:
    return {h.id for h in store.search_items(ItemQuery(size=1000)).hits}


def purges(store, item_id: str) -> list[dict]:
    return [r for r in store.audit_for(item_id) if r["event"]["action"] == "purge"]


# --- the rules, without a store -------------------------------------------------------------------


@pytest.mark.parametrize(("review", "expected"), [
    ({"status": "dismissed"}, "dismissed"),
    ({"status": "resolved", "outcome": "no action"}, "dismissed"),
    ({"status": "resolved", "outcome": "No-Action"}, "dismissed"),
    ({"status": "resolved", "outcome": "parent contacted"}, "actioned"),
    ({"status": "resolved"}, "actioned"),  # no outcome recorded: the longer class
    ({"status": "escalated"}, "actioned"),
    ({"status": "open"}, "open"),
    ({"status": "acknowledged"}, "open"),
    ({"status": "assigned"}, "open"),
    ({"status": "something-new"}, "open"),
    ({}, "open"),
])
def test_retention_class(review, expected):
    assert retention_class({"review": review}) == expected


# --- both adapters -------------------------------------------------------------------------------


@pytest.fixture
def cases(store_factory):
    store = store_factory()
    purged, kept = {}, {}
    kept["dismissed 29d"] = decide(store, "d29", "dismissed", 29)
    kept["dismissed exactly 30d"] = decide(store, "d30", "dismissed", 30)
    purged["dismissed 30d+1ms"] = decide(store, "d30+", "dismissed", 30 + 1 / 86_400_000)
    purged["dismissed 31d"] = decide(store, "d31", "dismissed", 31)
    kept["no action 29d"] = decide(store, "n29", "resolved", 29, outcome="no action")
    purged["no action 31d"] = decide(store, "n31", "resolved", 31, outcome="no action")
    kept["actioned 31d"] = decide(store, "a31", "resolved", 31, outcome="parent contacted")
    kept["actioned 364d"] = decide(store, "a364", "resolved", 364, outcome="parent contacted")
    purged["actioned 366d"] = decide(store, "a366", "resolved", 366, outcome="parent contacted")
    kept["resolved, no outcome, 200d"] = decide(store, "r200", "resolved", 200)
    purged["resolved, no outcome, 366d"] = decide(store, "r366", "resolved", 366)
    kept["escalated 364d"] = decide(store, "e364", "escalated", 364)
    purged["escalated 366d"] = decide(store, "e366", "escalated", 366)
    kept["open 2y"] = decide(store, "o730", None, None, posted_days=730)
    kept["acknowledged 2y"] = decide(store, "k730", "acknowledged", 730)
    # The clock runs from the review, not from the post.
    kept["old post dismissed yesterday"] = decide(store, "late", "dismissed", 1, posted_days=400)
    # No review time recorded: the post's timestamp counts.
    purged["dismissed, no review time, posted 31d"] = decide(store, "nt31", "dismissed", None, posted_days=31)
    kept["dismissed, no review time, posted 29d"] = decide(store, "nt29", "dismissed", None, posted_days=29)
    # A source that dates its post ten years ahead must not keep it from its retention.
    purged["future-dated post dismissed 31d"] = decide(store, "future", "dismissed", 31, posted_days=-3650)
    alerts = {"purged": [page(store, purged["dismissed 31d"], role) for role in ("sro", "admin")],
              "kept": [page(store, kept["escalated 364d"], "sro")]}
    return store, purged, kept, alerts


def test_purge_deletes_by_class_and_age_and_audits_each_item(cases, settings):
    store, purged, kept, _ = cases
    assert (settings.store.dismissed_retention_days, settings.store.actioned_retention_days) == (30, 365)

    report = purge_items(store, settings, NOW)

    assert remaining(store) == set(kept.values())
    assert report.purged == {"dismissed": 5, "actioned": 3}
    assert report.total == len(purged)
    assert report.unreadable == []
    for name, item_id in purged.items():
        records = purges(store, item_id)
        assert len(records) == 1, name
        record = records[0]
        cls = "dismissed" if "dismissed" in name or "no action" in name else "actioned"
        days = 30 if cls == "dismissed" else 365
        assert record["user"] == {"name": ACTOR, "roles": [ROLE]}
        assert record["threat"]["item_id"] == item_id
        assert record["review"]["reason"] == f"retention: {cls} item, kept {days} days after its last review change"
        assert record["details"]["retention_class"] == cls and record["details"]["retention_days"] == days
        assert datetime.fromisoformat(record["@timestamp"]) == NOW
        assert "retention case" not in json.dumps(record)  # the audit trail keeps no purged text
    for name, item_id in kept.items():
        assert purges(store, item_id) == [], name


def test_alerts_of_purged_items_keep_their_record_but_lose_the_words(cases, settings):
    store, purged, kept, alerts = cases
    before = {a: store.get_alert(a).doc for group in alerts.values() for a in group}

    report = purge_items(store, settings, NOW)

    assert report.alerts_redacted == 2
    assert purges(store, purged["dismissed 31d"])[0]["details"]["alerts_redacted"] == 2
    for alert_id in alerts["purged"]:
        doc = store.get_alert(alert_id).doc
        assert doc["excerpt"] == REDACTED_EXCERPT and doc["explanation"] == []
        assert "retention case" not in json.dumps(doc)
        untouched = {k: v for k, v in before[alert_id].items() if k not in ("excerpt", "explanation")}
        assert {k: doc[k] for k in untouched} == untouched  # who, when, time to ack: still there
    [kept_alert] = alerts["kept"]
    assert store.get_alert(kept_alert).doc == before[kept_alert]


def test_an_alert_changed_during_the_purge_is_redacted_on_its_new_version(store_factory, settings):
    store = store_factory()
    item_id = decide(store, "race", "dismissed", 31)
    alert_id = page(store, item_id, "sro", acknowledged=False)

    class SweepInBetween:
        """An escalation sweep updates the alert between the purge's read and its write."""

        def __init__(self, sweeps: int):
            self.sweeps = sweeps

        def __getattr__(self, name):
            return getattr(store, name)

        def update_alert(self, alert_id, doc, version):
            if self.sweeps:
                self.sweeps -= 1
                current = store.get_alert(alert_id)
                store.update_alert(alert_id, current.doc | {"escalation_level": 1}, current.version)
            return store.update_alert(alert_id, doc, version)

    with pytest.raises(ConflictError, match="kept changing"):
        purge_items(SweepInBetween(sweeps=3), settings, NOW)
    assert store.get_item(item_id) is not None  # the item waits for its alert

    assert purge_items(SweepInBetween(sweeps=1), settings, NOW).total == 1
    doc = store.get_alert(alert_id).doc
    assert doc["excerpt"] == REDACTED_EXCERPT and doc["escalation_level"] == 1
    assert store.get_item(item_id) is None and len(purges(store, item_id)) == 1


def test_dry_run_counts_and_changes_nothing(cases, settings):
    store, purged, kept, alerts = cases
    before = remaining(store)
    alerts_before = {a: store.get_alert(a) for group in alerts.values() for a in group}

    dry = purge_items(store, settings, NOW, dry_run=True)

    assert dry.dry_run and dry.purged == {"dismissed": 5, "actioned": 3} and dry.alerts_redacted == 2
    assert remaining(store) == before
    assert all(purges(store, i) == [] for i in before)
    assert {a: store.get_alert(a) for a in alerts_before} == alerts_before  # same documents, same versions
    real = purge_items(store, settings, NOW)
    assert real.purged == dry.purged and remaining(store) == set(kept.values())


def test_second_run_purges_nothing_and_writes_no_second_record(cases, settings):
    store, purged, kept, alerts = cases
    purge_items(store, settings, NOW)
    versions = {a: store.get_alert(a).version for a in alerts["purged"]}

    again = purge_items(store, settings, NOW)

    assert again.total == 0 and again.alerts_redacted == 0
    assert {a: store.get_alert(a).version for a in alerts["purged"]} == versions
    assert remaining(store) == set(kept.values())
    assert all(len(purges(store, i)) == 1 for i in purged.values())


def test_a_crash_between_audit_and_delete_leaves_one_record(store_factory, settings):
    """Audit first: the retried purge deletes the item and its record stays single."""
    store = store_factory()
    item_id = decide(store, "crash", "dismissed", 31)

    class DeleteFails:
        def __getattr__(self, name):
            return getattr(store, name)

        def delete_items(self, ids):
            raise StoreError("disk gone")

    with pytest.raises(StoreError, match="disk gone"):
        purge_items(DeleteFails(), settings, NOW)
    assert store.get_item(item_id) is not None and len(purges(store, item_id)) == 1

    assert purge_items(store, settings, NOW + timedelta(minutes=5)).total == 1
    assert store.get_item(item_id) is None and len(purges(store, item_id)) == 1


def test_time_moves_items_across_their_boundary(store_factory, settings):
    store = store_factory()
    dismissed = decide(store, "d", "dismissed", 0)
    actioned = decide(store, "a", "escalated", 0)
    assert purge_items(store, settings, NOW + timedelta(days=29)).total == 0
    assert purge_items(store, settings, NOW + timedelta(days=31)).purged == {"dismissed": 1, "actioned": 0}
    assert purge_items(store, settings, NOW + timedelta(days=364)).total == 0
    assert purge_items(store, settings, NOW + timedelta(days=366)).purged == {"dismissed": 0, "actioned": 1}
    assert store.get_item(dismissed) is None and store.get_item(actioned) is None


def test_retention_days_come_from_config(store_factory, settings):
    store = store_factory()
    item_id = decide(store, "d10", "dismissed", 10)
    assert purge_items(store, settings, NOW).total == 0
    short = settings.model_copy(update={"store": settings.store.model_copy(update={"dismissed_retention_days": 7})})
    assert purge_items(store, short, NOW).total == 1
    assert purges(store, item_id)[0]["details"]["retention_days"] == 7


def test_unreadable_review_time_keeps_the_item_and_is_reported(tmp_path, settings):
    """Elasticsearch refuses such a value (``review.updated`` is a date); SQLite keeps it. The
    post's timestamp must not stand in for it: the dismissal may have been yesterday."""
    store = EmbeddedStore(tmp_path / "store.sqlite3")
    try:
        store.setup()
        item_id = decide(store, "bad", "dismissed", None, posted_days=400, updated="last tuesday")
        report = purge_items(store, settings, NOW)
        assert report.unreadable == [item_id] and report.total == 0
        assert store.get_item(item_id) is not None
    finally:
        store.close()


def test_review_time_in_epoch_milliseconds_counts(store_factory, settings):
    """Elasticsearch's default date format also takes epoch milliseconds."""
    store = store_factory()
    millis = int((NOW - timedelta(days=31)).timestamp() * 1000)
    item_id = decide(store, "millis", "dismissed", None, updated=millis, posted_days=40)
    assert purge_items(store, settings, NOW).purged["dismissed"] == 1
    assert store.get_item(item_id) is None


def test_purged_text_is_gone_from_the_embedded_store_files(tmp_path, settings):
    """Deleted, not just unlinked: neither the row, nor the full-text index, nor the WAL keeps
    the words of a purged item (SQLite would otherwise leave them in free pages and segments)."""
    path = tmp_path / "store.sqlite3"
    store = EmbeddedStore(path)
    store.setup()
    others = realistic_documents(3000, start=NOW - timedelta(days=80))  # all open: kept
    secret = flagged_item("ZQXVBRT will bring it to the KWPFDLM gym", native_id="secret",
                          at=NOW - timedelta(days=50))
    store.index_items(others[:1500])
    store.index_items([secret])  # its words in a full-text segment of their own
    store.index_items(others[1500:])
    stored = store.get_item(secret["event"]["id"])
    store.update_review(stored.id, {"status": "dismissed", "updated": at(31)}, stored.version)
    try:
        assert purge_items(store, settings, NOW).total == 1
        for file in tmp_path.glob("store.sqlite3*"):  # while the store is still open, WAL and all
            data = file.read_bytes().lower()
            assert b"zqxvbrt" not in data and b"kwpfdlm" not in data, file.name
        assert store.search_items(ItemQuery(text="game")).total == sum("game" in d["message"] for d in others)
    finally:
        store.close()
    for file in tmp_path.glob("store.sqlite3*"):
        assert b"zqxvbrt" not in file.read_bytes().lower(), file.name


class QueryLog:
    """A store that records the queries the purge makes."""

    def __init__(self, store):
        self.store, self.queries = store, []

    def __getattr__(self, name):
        return getattr(self.store, name)

    def search_items(self, query):
        self.queries.append(query)
        return self.store.search_items(query)


def test_paging_over_kept_items_and_timestamp_ties(store_factory, settings):
    """Small pages, kept and expired items interleaved, nine items on one millisecond: every
    expired item goes, every kept one stays, and offsets grow only within one millisecond."""
    store = store_factory()
    kept, expired = set(), set()
    posted = NOW - timedelta(days=100)
    ties = 9
    for n in range(40):
        doc = flagged_item(f"paging case {n}", native_id=f"p{n}",
                           at=posted if n < ties else posted + timedelta(minutes=n))
        store.index_items([doc])
        stored = store.get_item(doc["event"]["id"])
        old = n % 3 != 0
        store.update_review(stored.id, {"status": "dismissed", "updated": at(31 if old else 2)}, stored.version)
        (expired if old else kept).add(stored.id)

    logged = QueryLog(store)
    dry = purge_items(logged, settings, NOW, dry_run=True, page_size=4)
    assert dry.total == len(expired)
    # Nothing is deleted in a dry run, so a plain offset would have reached 36.
    assert max(q.offset for q in logged.queries) < ties

    logged.queries.clear()
    real = purge_items(logged, settings, NOW, page_size=4)
    assert real.total == len(expired)
    assert remaining(store) == kept
    assert max(q.offset for q in logged.queries) < ties


# --- purge_all, the flow and the deployment ---------------------------------------------------------


def thread_store(settings, when: datetime) -> SqliteThreadStore:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteThreadStore(settings.data_dir / settings.tipline.threads_file, clock=lambda: when)


def seed_embedded(settings) -> tuple[str, str]:
    """An expired dismissed item in the configured embedded store and an expired tip thread."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = EmbeddedStore(settings.data_dir / settings.store.sqlite_file)
    try:
        store.setup()
        item_id = decide(store, "all", "dismissed", 31)
        kept_id = decide(store, "all-open", None, None, posted_days=400)
    finally:
        store.close()
    threads = thread_store(settings, NOW - timedelta(days=91))
    threads.create("AAAAAAAAAA", "tip-a", b"s" * 16, b"h" * 32, None, "an old tip")
    threads.close()
    return item_id, kept_id


def test_purge_all_purges_items_and_tip_threads(settings):
    item_id, kept_id = seed_embedded(settings)

    dry = purge_all(settings, NOW, dry_run=True)
    assert dry.items.total == 1 and dry.threads is None
    threads = thread_store(settings, NOW)
    assert threads.count() == 1
    threads.close()

    report = purge_all(settings, NOW)
    assert report.as_dict()["items"]["total"] == 1 and report.threads == 1
    store = EmbeddedStore(settings.data_dir / settings.store.sqlite_file)
    try:
        assert store.get_item(item_id) is None and store.get_item(kept_id) is not None
        assert len(purges(store, item_id)) == 1
    finally:
        store.close()
    threads = thread_store(settings, NOW)
    assert threads.count() == 0
    threads.close()


def test_purge_all_still_purges_threads_when_the_store_is_down(settings):
    threads = thread_store(settings, NOW - timedelta(days=91))
    threads.create("BBBBBBBBBB", "tip-b", b"s" * 16, b"h" * 32, None, "an old tip")
    threads.close()
    down = settings.model_copy(update={"store": settings.store.model_copy(update={
        "backend": "elasticsearch", "elasticsearch_hosts": ["http://127.0.0.1:9"], "elasticsearch_timeout_s": 2})})
    with pytest.raises(StoreError):
        purge_all(down, NOW)
    threads = thread_store(settings, NOW)
    assert threads.count() == 0
    threads.close()


def bus_file(settings):
    return settings.data_dir / settings.bus.sqlite_file


def seed_bus(settings, monkeypatch) -> dict[str, int]:
    """Messages on the embedded bus from 8 days before NOW (past the 7 days' retention) and from
    the real clock (kept); the classify group has read one of the old posts. Returns how many
    old messages each topic has."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    posts, scored = settings.topic("posts.raw"), settings.topic("items.scored")
    with EmbeddedBus(bus_file(settings)) as bus:
        bus.setup([settings.topic(t) for t in TOPICS])
        with monkeypatch.context() as patch:
            patch.setattr(time, "time", lambda: (NOW - timedelta(days=8)).timestamp())
            bus.publish([OutMessage(posts, f"p{n}", f"HJKWQZ old post {n}".encode()) for n in range(3)]
                        + [OutMessage(scored, "p0", b"HJKWQZ old post 0, scored")])
        bus.publish([OutMessage(posts, "recent", b"a recent post")])
        with bus.consumer("classify", [posts]) as consumer:
            consumer.poll(1, 0.1)
            consumer.commit()
    return {posts: 3, scored: 1}


def bus_messages(settings) -> dict[str, int]:
    with EmbeddedBus(bus_file(settings)) as bus:
        return {t: bus.lag("nobody", [t]) for t in (settings.topic(t) for t in TOPICS)}


def test_purge_all_trims_every_bus_topic_read_or_not(settings, monkeypatch, caplog):
    seed_embedded(settings)
    old = seed_bus(settings, monkeypatch)
    before = bus_messages(settings)
    expected = {settings.topic(t): 0 for t in TOPICS} | old

    dry = purge_all(settings, NOW, dry_run=True)
    assert (dry.bus.messages, dry.bus.unconsumed) == (expected, 2)
    assert bus_messages(settings) == before

    caplog.set_level("INFO", logger="threatline.retention")
    report = purge_all(settings, NOW).as_dict()["bus"]
    assert report == {"backend": "embedded", "retention_days": 7, "messages": expected, "unconsumed": 2, "total": 4}
    assert "deleted 2 message(s) older than 7 days that a consumer group had not read yet" in caplog.text
    assert bus_messages(settings) == {t: n - expected[t] for t, n in before.items()}  # the recent post stays
    for file in settings.data_dir.glob(f"{settings.bus.sqlite_file}*"):
        assert b"hjkwqz" not in file.read_bytes().lower(), file.name
    assert purge_all(settings, NOW).bus.total == 0


def test_purge_bus_leaves_kafka_to_the_broker(settings):
    kafka = settings.model_copy(update={"bus": settings.bus.model_copy(update={
        "backend": "kafka", "kafka_bootstrap_servers": "127.0.0.1:9"})})
    report = purge_bus(kafka, NOW)  # nothing to connect to: setup gave the topics retention.ms
    assert (report.backend, report.messages, report.total) == ("kafka", {}, 0)


# --- threatline purge -------------------------------------------------------------------------------


def purge_cli(*args: str):
    return CliRunner().invoke(app, ["purge", *args, "--config", str(DEFAULT_CONFIG)])


def cell(output: str, row: str) -> str:
    """The last column of a row of the rich table."""
    [line] = [line for line in output.splitlines() if row in line]
    return [c.strip() for c in line.split("│") if c.strip()][-1]


def counts(output: str) -> dict[str, str]:
    return {row: cell(output, row) for row in ("dismissed items", "actioned items", "alert excerpts",
                                               "bus messages", "tip threads")}


def test_purge_cli_dry_run_reports_and_real_run_deletes(settings, monkeypatch):
    """On the real clock: NOW and eight days before it are long past today too."""
    item_id, kept_id = seed_embedded(settings)
    seed_bus(settings, monkeypatch)
    before = bus_messages(settings)

    dry = purge_cli("--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing deleted" in dry.stdout and "would go" in dry.stdout
    assert counts(dry.stdout) == {"dismissed items": "1", "actioned items": "0", "alert excerpts": "0",
                                  "bus messages": "4", "tip threads": "not counted"}
    assert "2 bus message(s) would go before every consumer had read them" in dry.stdout
    store = EmbeddedStore(settings.data_dir / settings.store.sqlite_file)
    try:
        assert store.get_item(item_id) is not None and not purges(store, item_id)
    finally:
        store.close()
    threads = thread_store(settings, NOW)
    assert threads.count() == 1
    threads.close()
    assert bus_messages(settings) == before

    real = purge_cli()
    assert real.exit_code == 0, real.output
    assert "dry run" not in real.stdout and "deleted" in real.stdout
    assert counts(real.stdout) == {"dismissed items": "1", "actioned items": "0", "alert excerpts": "0",
                                   "bus messages": "4", "tip threads": "1"}
    store = EmbeddedStore(settings.data_dir / settings.store.sqlite_file)
    try:
        assert store.get_item(item_id) is None and store.get_item(kept_id) is not None
    finally:
        store.close()
    threads = thread_store(settings, NOW)
    assert threads.count() == 0
    threads.close()
    assert sum(bus_messages(settings).values()) == 1


def assert_one_line_exit_1(result, *needles: str) -> None:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("purge failed: ")
    for needle in needles:
        assert needle in line, line


def test_purge_cli_store_down_is_one_line_exit_1_and_threads_still_go(settings, monkeypatch):
    seed_embedded(settings)
    monkeypatch.setenv("THREATLINE_STORE__BACKEND", "elasticsearch")
    monkeypatch.setenv("THREATLINE_STORE__ELASTICSEARCH_HOSTS", '["http://127.0.0.1:9"]')
    monkeypatch.setenv("THREATLINE_STORE__ELASTICSEARCH_TIMEOUT_S", "2")
    assert_one_line_exit_1(purge_cli(), "127.0.0.1:9")
    threads = thread_store(settings, NOW)
    assert threads.count() == 0
    threads.close()


def test_purge_cli_unreadable_thread_store_is_one_line_exit_1_and_items_still_go(settings):
    item_id, _ = seed_embedded(settings)
    (settings.data_dir / settings.tipline.threads_file).write_bytes(b"this is not a database" * 100)
    assert_one_line_exit_1(purge_cli(), "tip threads", settings.tipline.threads_file)
    store = EmbeddedStore(settings.data_dir / settings.store.sqlite_file)
    try:
        assert store.get_item(item_id) is None
    finally:
        store.close()


def prefect_env(settings, tmp_path) -> dict[str, str]:
    # Importing Prefect writes to its home: a child process with its own keeps tests off ~/.prefect.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "THREATLINE_"))}
    return env | {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                  "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
                  "THREATLINE_GENERAL__DATA_DIR": str(settings.data_dir), "PYTHONPATH": str(REPO_ROOT)}


_DEPLOYMENTS = r"""
import json, sys
import flows.deployments as d
from pipeline.config import load_settings
served = d.served_deployments(load_settings(sys.argv[1]))
[purge] = [x for x in served if x.flow_name == "purge-expired"]
print(json.dumps({"names": [x.name for x in served],
                  "schedules": [s.schedule.model_dump(mode="json") for s in purge.schedules],
                  "limit": purge.concurrency_limit,
                  "strategy": purge.concurrency_options.collision_strategy.value,
                  "parameters": purge.parameters, "entrypoint": purge.entrypoint}))
"""


@pytest.mark.slow
def test_serve_all_serves_a_daily_purge_deployment(settings, tmp_path):
    done = subprocess.run([sys.executable, "-c", _DEPLOYMENTS, str(DEFAULT_CONFIG)],
                          env=prefect_env(settings, tmp_path), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert "purge-expired-daily" in seen["names"] and "stage-health" in seen["names"]
    assert seen["schedules"] == [{"cron": "15 3 * * *", "timezone": settings.general.timezone, "day_or": True}]
    assert (seen["limit"], seen["strategy"]) == (1, "CANCEL_NEW")
    assert seen["parameters"] == {"config_path": str(DEFAULT_CONFIG), "dry_run": False}
    assert seen["entrypoint"] == "flows/purge.py:purge_expired"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_purge_flow_runs_under_prefect(settings, tmp_path):
    """The flow on Prefect's ephemeral server, on the real clock: a dismissal 31 days before NOW
    is long past today too."""
    item_id, kept_id = seed_embedded(settings)
    code = ("import json, sys\nfrom flows.purge import purge_expired\n"
            "runs = [purge_expired(config_path=sys.argv[1], dry_run=True), purge_expired(config_path=sys.argv[1])]\n"
            "print(json.dumps(runs))")
    done = subprocess.run([sys.executable, "-c", code, str(DEFAULT_CONFIG)], env=prefect_env(settings, tmp_path),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    dry_run, real = runs
    assert dry_run["items"]["dry_run"] and dry_run["items"]["total"] == 1 and dry_run["threads"] is None
    assert real["items"]["purged"] == {"dismissed": 1, "actioned": 0} and real["threads"] == 1
    assert real["bus"]["backend"] == "embedded" and real["bus"]["total"] == 0  # no bus file here
    store = EmbeddedStore(settings.data_dir / settings.store.sqlite_file)
    try:
        assert store.get_item(item_id) is None and store.get_item(kept_id) is not None
    finally:
        store.close()
