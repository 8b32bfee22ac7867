"""One behavioural contract for both bus adapters (DESIGN.md §2): embedded SQLite and Kafka
(served by Tansu). Every contract test runs once per adapter via ``bus_factory``; a new ``Bus``
object from the factory stands for a restarted process on the same backing log."""

from __future__ import annotations

import json
import logging
import multiprocessing
import sqlite3
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
from fixtures_kafka import unique_group, unique_topic
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType
from pydantic import SecretStr
from servers_tansu import free_port

from pipeline.bus import BusError, Message, OutMessage
from pipeline.bus.embedded import EmbeddedBus
from pipeline.bus.kafka import KafkaBus
from pipeline.config import BusConfig

# Long enough for a Kafka group join on a loaded machine; the loops end as soon as all is in.
DRAIN_TIMEOUT_S = 30


def drain(consumer, expected: int, *, max_records: int = 100, timeout_s: float = DRAIN_TIMEOUT_S) -> list[Message]:
    """Poll until ``expected`` messages arrived (or the deadline): what the consumer delivered."""
    got: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < expected and time.monotonic() < deadline:
        got += consumer.poll(max_records, 0.5)
    return got


def payload(message: Message) -> dict:
    return json.loads(message.value)


def numbered(topic: str, keys: int, per_key: int, tag: str = "") -> list[OutMessage]:
    """``per_key`` messages for each of ``keys`` keys, keys interleaved, numbered per key."""
    return [OutMessage(topic, f"item-{k}", json.dumps({"key": f"item-{k}", "n": n, "tag": tag}).encode())
            for n in range(per_key) for k in range(keys)]


# --- delivery and order -------------------------------------------------------------------------


def test_every_message_is_delivered_once_in_per_key_order(bus_factory):
    bus = bus_factory()
    first, second = unique_topic("posts.raw"), unique_topic("tips.raw")
    bus.setup([first, second])
    outgoing = numbered(first, keys=10, per_key=30) + numbered(second, keys=4, per_key=20)
    for start in range(0, len(outgoing), 50):
        bus.publish(outgoing[start:start + 50])

    with bus.consumer(unique_group(), [first, second]) as consumer:
        got = drain(consumer, len(outgoing), max_records=37)
        assert consumer.poll(100, 0.5) == []  # and nothing beyond

    assert len(got) == len(outgoing)
    assert len({(m.topic, m.partition, m.offset) for m in got}) == len(got)
    assert {(m.topic, m.key, m.value) for m in got} == {(m.topic, m.key, m.value) for m in outgoing}
    per_key = defaultdict(list)
    for m in got:
        assert m.key == payload(m)["key"]
        per_key[(m.topic, m.key)].append(payload(m)["n"])
    assert per_key == {(t, k): list(range(30 if t == first else 20))
                       for t, k in {(m.topic, m.key) for m in outgoing}}


def test_headers_and_binary_values_round_trip(bus_factory):
    bus = bus_factory()
    topic = unique_topic()
    bus.setup([topic])
    binary = bytes(range(256)) * 4
    sent = [
        OutMessage(topic, "bin", binary, {"content-type": "application/octet-stream", "note": "naïve ✓ 🔫"}),
        OutMessage(topic, "empty", b"", {}),
        OutMessage(topic, "ключ-✓", b"\x00\xff\x00", {"dlq.reason": "bad json: line 1", "dlq.offset": "41"}),
    ]
    bus.publish(sent)
    with bus.consumer(unique_group(), [topic]) as consumer:
        got = drain(consumer, len(sent))
    by_key = {m.key: m for m in got}
    assert len(got) == 3
    for m in sent:
        assert by_key[m.key].value == m.value
        assert by_key[m.key].headers == m.headers
        assert by_key[m.key].topic == topic


# --- offsets, restarts, groups ------------------------------------------------------------------


def test_committed_group_resumes_after_restart_with_only_new_messages(bus_factory):
    topic, group = unique_topic(), unique_group()
    bus = bus_factory()
    bus.setup([topic])
    old = numbered(topic, keys=5, per_key=4, tag="old")
    bus.publish(old)
    with bus.consumer(group, [topic]) as consumer:
        assert len(drain(consumer, len(old))) == len(old)
        consumer.commit()
    bus.close()

    restarted = bus_factory()
    new = numbered(topic, keys=3, per_key=2, tag="new")
    restarted.publish(new)
    with restarted.consumer(group, [topic]) as consumer:
        got = drain(consumer, len(new))
        assert consumer.poll(100, 0.5) == []
    assert sorted(m.value for m in got) == sorted(m.value for m in new)


def test_uncommitted_messages_are_delivered_again_to_the_next_consumer(bus_factory):
    topic, group = unique_topic(), unique_group()
    bus = bus_factory()
    bus.setup([topic])
    sent = numbered(topic, keys=4, per_key=10)
    bus.publish(sent[:20])
    with bus.consumer(group, [topic]) as consumer:
        committed = drain(consumer, 20)
        consumer.commit()
        bus.publish(sent[20:])
        polled = drain(consumer, 20)  # polled, "processed", then the process dies before committing
    assert len(committed) == 20 and len(polled) == 20

    with bus_factory().consumer(group, [topic]) as again:
        redelivered = drain(again, 20)
        assert again.poll(100, 0.5) == []
    assert sorted(m.value for m in redelivered) == sorted(m.value for m in polled)
    assert sorted(m.value for m in redelivered) == sorted(m.value for m in sent[20:])


def test_groups_are_independent(bus_factory):
    topic = unique_topic()
    bus = bus_factory()
    bus.setup([topic])
    sent = numbered(topic, keys=6, per_key=5)
    bus.publish(sent)
    done, other = unique_group("index"), unique_group("alert")
    with bus.consumer(done, [topic]) as consumer:
        assert len(drain(consumer, len(sent))) == len(sent)
        consumer.commit()
    assert bus.lag(done, [topic]) == 0
    assert bus.lag(other, [topic]) == len(sent)
    with bus.consumer(other, [topic]) as consumer:
        assert sorted(m.value for m in drain(consumer, len(sent))) == sorted(m.value for m in sent)


def test_lag_counts_messages_not_yet_committed(bus_factory):
    first, second = unique_topic(), unique_topic()
    bus = bus_factory()
    bus.setup([first, second])
    group = unique_group()
    assert bus.lag(group, [first, second]) == 0
    bus.publish(numbered(first, keys=5, per_key=2) + numbered(second, keys=2, per_key=2))
    assert bus.lag(group, [first, second]) == 14
    assert bus.lag(group, [second]) == 4

    with bus.consumer(group, [first, second]) as consumer:
        some = drain(consumer, 1, max_records=4)
        assert 1 <= len(some) <= 4
        assert bus.lag(group, [first, second]) == 14  # polled is not committed
        consumer.commit()
        assert bus.lag(group, [first, second]) == 14 - len(some)
        rest = drain(consumer, 14 - len(some))
        assert len(rest) == 14 - len(some)
        consumer.commit()
    assert bus_factory().lag(group, [first, second]) == 0


def test_setup_is_idempotent(bus_factory):
    topics = [unique_topic("items.scored"), unique_topic("dlq")]
    bus = bus_factory()
    bus.setup(topics)
    bus.setup(topics)
    bus_factory().setup(topics + [unique_topic("alerts")])
    bus.publish([OutMessage(topics[1], "x", b"still works")])
    bus.publish([])  # nothing to do is not an error
    with bus.consumer(unique_group(), topics) as consumer:
        assert [m.value for m in drain(consumer, 1)] == [b"still works"]


def test_publish_returns_only_once_another_process_can_read_it(bus_factory):
    topic = unique_topic()
    writer, reader = bus_factory(), bus_factory()
    writer.setup([topic])
    sent = numbered(topic, keys=20, per_key=10)
    writer.publish(sent)
    # No waiting: a fresh Bus (another process) already counts every message...
    assert reader.lag(unique_group(), [topic]) == len(sent)
    with reader.consumer(unique_group(), [topic]) as consumer:  # ...and reads them
        assert sorted(m.value for m in drain(consumer, len(sent))) == sorted(m.value for m in sent)


def test_check_writable_passes_on_set_up_topics_and_publishes_nothing(bus_factory):
    topics = [unique_topic("tips.raw"), unique_topic("dlq")]
    bus = bus_factory()
    bus.setup(topics)
    group = unique_group()
    bus.check_writable(topics)
    bus_factory().check_writable(topics)  # another process, the same answer
    assert bus.lag(group, topics) == 0 and list(bus.scan(topics[0])) == []
    bus.publish([OutMessage(topics[0], "k", b"after the probe")])
    with bus.consumer(group, topics) as consumer:
        assert [m.value for m in drain(consumer, 1)] == [b"after the probe"]


def test_embedded_check_writable_fails_while_another_process_holds_the_log(tmp_path):
    bus = EmbeddedBus(tmp_path / "bus.sqlite3", busy_timeout_s=0.1)
    holder = sqlite3.connect(tmp_path / "bus.sqlite3", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(BusError, match="locked"):
            bus.check_writable(["tips.raw"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    bus.check_writable(["tips.raw"])
    bus.close()
    with pytest.raises(BusError, match="closed"):
        bus.check_writable(["tips.raw"])


# --- scan: reading a topic without a consumer group ----------------------------------------------


def test_scan_reads_everything_retained_from_the_start_without_touching_any_group(bus_factory):
    bus = bus_factory()
    topic, other, group = unique_topic("dlq"), unique_topic(), unique_group()
    bus.setup([topic, other])
    before = time.time()
    sent = numbered(topic, keys=6, per_key=5) + [
        OutMessage(topic, "bin", bytes(range(256)), {"dlq.reason": "bad json ✓", "dlq.offset": "17"})]
    bus.publish(sent)
    bus.publish(numbered(other, keys=2, per_key=2))
    after = time.time()
    with bus.consumer(group, [topic]) as consumer:
        assert len(drain(consumer, 10, max_records=10)) == 10
        consumer.commit()
    lag = bus.lag(group, [topic])

    for reader in (bus, bus_factory()):  # twice, the second from another process: a scan moves nothing
        got = list(reader.scan(topic))
        assert sorted((m.key, m.value) for m in got) == sorted((m.key, m.value) for m in sent)
        assert all(m.topic == topic for m in got)
        assert len({(m.partition, m.offset) for m in got}) == len(got)
        for partition in {m.partition for m in got}:
            offsets = [m.offset for m in got if m.partition == partition]
            assert offsets == sorted(offsets)
        per_key = defaultdict(list)
        for m in got:
            if m.key != "bin":
                per_key[m.key].append(payload(m)["n"])
        assert all(ns == list(range(5)) for ns in per_key.values()) and len(per_key) == 6
        [binary] = [m for m in got if m.key == "bin"]
        assert binary.headers == {"dlq.reason": "bad json ✓", "dlq.offset": "17"}
        assert all(before - 1 <= m.timestamp <= after + 1 for m in got)
    assert bus.lag(group, [topic]) == lag  # the group's committed offsets are where they were
    with bus.consumer(group, [topic]) as consumer:  # and it resumes where it committed
        assert len(drain(consumer, len(sent) - 10)) == len(sent) - 10
        assert consumer.poll(100, 0.5) == []


def test_scan_since_and_limit(bus_factory):
    bus = bus_factory()
    topic = unique_topic()
    bus.setup([topic])
    old = numbered(topic, keys=3, per_key=2, tag="old")
    bus.publish(old)
    time.sleep(0.05)
    between = time.time()
    time.sleep(0.05)
    new = numbered(topic, keys=2, per_key=2, tag="new")
    bus.publish(new)

    recent = list(bus.scan(topic, since_ts=between))
    assert sorted(m.value for m in recent) == sorted(m.value for m in new)
    assert all(m.timestamp >= between for m in recent)
    assert list(bus.scan(topic, since_ts=time.time() + 60)) == []
    some = list(bus.scan(topic, limit=3))
    assert len(some) == 3 and {m.value for m in some} <= {m.value for m in old + new}
    assert [m.value for m in bus.scan(topic, since_ts=between, limit=1)][0] in {m.value for m in new}
    assert list(bus.scan(topic, limit=0)) == []


def test_scan_stops_at_the_end_the_topic_had_when_it_began(bus_factory):
    bus = bus_factory()
    topic, empty = unique_topic(), unique_topic()
    bus.setup([topic, empty])
    sent = numbered(topic, keys=4, per_key=3, tag="first")
    bus.publish(sent)
    scan = bus.scan(topic)
    first = next(scan)
    bus.publish(numbered(topic, keys=4, per_key=1, tag="later"))
    got = [first, *scan]
    assert sorted(m.value for m in got) == sorted(m.value for m in sent)
    assert list(bus.scan(empty)) == []
    assert list(bus.scan(unique_topic("never-created"))) == []


def test_messages_polled_by_a_group_carry_their_publish_time(bus_factory):
    bus = bus_factory()
    topic = unique_topic()
    bus.setup([topic])
    before = time.time()
    bus.publish(numbered(topic, keys=2, per_key=2))
    after = time.time()
    with bus.consumer(unique_group(), [topic]) as consumer:
        got = drain(consumer, 4)
    assert len(got) == 4 and all(before - 1 <= m.timestamp <= after + 1 for m in got)


# --- waiting and threads ------------------------------------------------------------------------


def test_poll_on_an_empty_topic_returns_nothing_after_about_the_timeout(bus_factory):
    topic = unique_topic()
    bus = bus_factory()
    bus.setup([topic])
    with bus.consumer(unique_group(), [topic]) as consumer:
        assert consumer.poll(10, 0.2) == []  # Kafka: includes joining the group
        started = time.monotonic()
        assert consumer.poll(10, 1.0) == []
        elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 2.5


def test_publisher_and_consumer_of_one_bus_on_different_threads(bus_factory):
    topic = unique_topic()
    bus = bus_factory()
    bus.setup([topic])
    sent = numbered(topic, keys=5, per_key=40)
    errors: list[BaseException] = []

    def publish_slowly():
        try:
            time.sleep(0.3)
            for start in range(0, len(sent), 10):
                bus.publish(sent[start:start + 10])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    with bus.consumer(unique_group(), [topic]) as consumer:
        consumer.poll(10, 0.1)  # Kafka: join before the clock starts
        publisher = threading.Thread(target=publish_slowly)
        publisher.start()
        started = time.monotonic()
        first = consumer.poll(500, 20.0)
        waited = time.monotonic() - started
        got = first + drain(consumer, len(sent) - len(first))
        publisher.join()
    assert not errors
    assert first and waited < 5  # a poll returns when messages arrive, not at its timeout
    assert sorted(m.value for m in got) == sorted(m.value for m in sent)


# --- embedded only ------------------------------------------------------------------------------

WRITER_BATCHES, WRITER_BATCH_SIZE = 40, 25


def _publish_from_another_process(path: str, topic: str, writer: str, start) -> None:
    """A separate OS process (spawned) appending to the same SQLite bus file."""
    if not start.wait(60):
        raise SystemExit("never told to start")
    with EmbeddedBus(Path(path)) as bus:
        for b in range(WRITER_BATCHES):
            bus.publish([OutMessage(topic, f"{writer}-{b * WRITER_BATCH_SIZE + i}",
                                    json.dumps({"writer": writer, "n": b * WRITER_BATCH_SIZE + i}).encode())
                         for i in range(WRITER_BATCH_SIZE)])


def test_embedded_two_processes_publishing_at_once_lose_nothing(tmp_path):
    path, topic = tmp_path / "bus.sqlite3", unique_topic()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    total = 2 * WRITER_BATCHES * WRITER_BATCH_SIZE
    writers = [ctx.Process(target=_publish_from_another_process, args=(str(path), topic, w, start)) for w in "ab"]
    with EmbeddedBus(path) as bus:
        for process in writers:
            process.start()
        with bus.consumer("reader", [topic]) as consumer:
            start.set()
            got = drain(consumer, total, max_records=60)  # reads while both write
            for process in writers:
                process.join(60)
            got += consumer.poll(1000, 0.2)
    assert [p.exitcode for p in writers] == [0, 0]
    assert len(got) == total
    offsets = [m.offset for m in got]
    assert offsets == sorted(offsets) and len(set(offsets)) == total
    for writer in "ab":
        assert [payload(m)["n"] for m in got if payload(m)["writer"] == writer] == list(range(total // 2))


def test_embedded_retention_deletes_old_messages_and_offsets_keep_growing(tmp_path, monkeypatch):
    path, raw, scored = tmp_path / "bus.sqlite3", unique_topic("posts.raw"), unique_topic("items.scored")
    with EmbeddedBus(path) as bus:
        monkeypatch.setattr(time, "time", lambda: 1_000.0)
        bus.publish(numbered(raw, keys=3, per_key=2, tag="old") + numbered(scored, keys=2, per_key=1))
        monkeypatch.setattr(time, "time", lambda: 2_000.0)
        bus.publish(numbered(raw, keys=1, per_key=1, tag="recent"))
        monkeypatch.undo()
        assert bus.lag("nobody", [raw]) == 7

        assert bus.delete_before(raw, 1_500.0) == 6
        assert bus.delete_before(raw, 1_500.0) == 0
        assert bus.lag("nobody", [raw]) == 1
        assert bus.lag("nobody", [scored]) == 2  # other topics untouched
        with bus.consumer("late", [raw]) as consumer:
            got = drain(consumer, 1)
            assert [payload(m)["tag"] for m in got] == ["recent"]
            consumer.commit()
        # Deleting the newest rows must not let a later message reuse an offset a group is past.
        assert bus.delete_before(raw, 3e9) == 1
        bus.publish([OutMessage(raw, "after", b"after")])
        with bus.consumer("late", [raw]) as consumer:
            assert [m.value for m in drain(consumer, 1)] == [b"after"]


def test_embedded_retention_counts_unread_messages_and_erases_them_from_the_files(tmp_path, monkeypatch):
    """Old messages go whether or not a group read them (the unread ones are counted), and their
    words leave the file and the WAL, not only the table."""
    path, raw = tmp_path / "bus.sqlite3", unique_topic("posts.raw")
    with EmbeddedBus(path) as bus:
        monkeypatch.setattr(time, "time", lambda: 1_000.0)
        bus.publish([OutMessage(raw, f"old-{n}", f"QWXZPLK old post {n}".encode()) for n in range(4)])
        monkeypatch.setattr(time, "time", lambda: 2_000.0)
        bus.publish([OutMessage(raw, "new", b"a recent post")])
        monkeypatch.undo()
        assert bus.count_before(raw, 1_500.0) == (4, 0)  # no group reads the topic: nothing unread
        with bus.consumer("classify", [raw]) as consumer:
            consumer.poll(1, 0.1)
            consumer.commit()  # read one of the four
        with bus.consumer("replay", [raw]) as consumer:
            drain(consumer, 5)
            consumer.commit()  # read all
        assert bus.count_before(raw, 1_500.0) == (4, 3)  # past the slowest group's position

        assert bus.delete_before(raw, 1_500.0) == 4
        assert bus.count_before(raw, 1_500.0) == (0, 0)
        for file in tmp_path.glob("bus.sqlite3*"):
            assert b"qwxzplk" not in file.read_bytes().lower(), file.name
        with bus.consumer("classify", [raw]) as consumer:
            assert [m.value for m in drain(consumer, 1)] == [b"a recent post"]
    for file in tmp_path.glob("bus.sqlite3*"):
        assert b"qwxzplk" not in file.read_bytes().lower(), file.name


def test_embedded_closed_bus_raises_bus_error(tmp_path):
    bus = EmbeddedBus(tmp_path / "bus.sqlite3")
    bus.close()
    with pytest.raises(BusError, match="closed"):
        bus.publish([OutMessage("t", "k", b"v")])
    with pytest.raises(BusError, match="bus.sqlite3"):
        EmbeddedBus(tmp_path / "missing-dir" / "bus.sqlite3")


# --- Kafka only ---------------------------------------------------------------------------------


@pytest.mark.kafka
def test_kafka_setup_creates_partitions_and_keeps_each_key_on_one(kafka_bootstrap):
    topic = unique_topic()
    with KafkaBus(kafka_bootstrap, partitions=3, max_poll_interval_ms=5_000, session_timeout_ms=3_000) as bus:
        bus.setup([topic])
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            assert len(admin.describe_topics([topic])[0]["partitions"]) == 3
        finally:
            admin.close()
        sent = numbered(topic, keys=12, per_key=5)
        bus.publish(sent)
        with bus.consumer(unique_group(), [topic]) as consumer:
            got = drain(consumer, len(sent))
    partitions_of_key = defaultdict(set)
    for m in got:
        partitions_of_key[m.key].add(m.partition)
    assert all(len(p) == 1 for p in partitions_of_key.values())
    assert len(set().union(*partitions_of_key.values())) > 1  # the order test spans partitions


@pytest.mark.kafka
def test_kafka_a_stop_request_ends_a_group_join_at_once(kafka_bootstrap):
    """SIGTERM must stop a stage at any point: a join on Tansu takes seconds, up to the rebalance
    timeout when a member is slow to leave."""
    topic = unique_topic()
    stop = threading.Event()
    with KafkaBus(kafka_bootstrap, max_poll_interval_ms=60_000, session_timeout_ms=30_000) as bus:
        bus.setup([topic])
        with bus.consumer(unique_group(), [topic], stop) as consumer:
            threading.Timer(0.3, stop.set).start()
            started = time.monotonic()
            assert consumer.poll(10, 1.0) == []
            assert time.monotonic() - started < 3.0


@pytest.mark.kafka
def test_kafka_unreachable_broker_is_a_quick_one_line_bus_error(caplog):
    caplog.set_level(logging.DEBUG)
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    secret = "hunter2-do-not-log"
    bus = KafkaBus.from_config(BusConfig(
        backend="kafka", kafka_bootstrap_servers=address, kafka_request_timeout_ms=1_000,
        kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN",
        kafka_username="threatline", kafka_password=SecretStr(secret),
    ))
    attempts = {
        "setup": lambda: bus.setup(["posts.raw"]),
        "publish": lambda: bus.publish([OutMessage("posts.raw", "k", b"v")]),
        "consumer": lambda: bus.consumer("g", ["posts.raw"]),
        "lag": lambda: bus.lag("g", ["posts.raw"]),
        "check_writable": lambda: bus.check_writable(["posts.raw"]),
    }
    for name, attempt in attempts.items():
        started = time.monotonic()
        with pytest.raises(BusError) as caught:
            attempt()
        assert time.monotonic() - started < 3, name
        message = str(caught.value)
        assert f"Kafka at {address} is unreachable" in message, message
        assert "\n" not in message and secret not in message
    bus.close()
    assert secret not in caplog.text
    assert secret not in repr(bus)


@pytest.mark.kafka
def test_kafka_check_writable_names_topics_nobody_set_up(kafka_bootstrap):
    ready, missing = unique_topic("tips.raw"), unique_topic("alerts")
    with KafkaBus(kafka_bootstrap, max_poll_interval_ms=5_000, session_timeout_ms=3_000) as bus:
        bus.setup([ready])
        bus.check_writable([ready])
        with pytest.raises(BusError, match=f"{missing}: no such topic") as caught:
            bus.check_writable([ready, missing])
        assert ready not in str(caught.value).split("cannot take writes:")[1]


@pytest.mark.kafka
def test_kafka_scan_joins_no_consumer_group(kafka_bootstrap):
    topic = unique_topic("dlq")
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    with KafkaBus(kafka_bootstrap, partitions=3, max_poll_interval_ms=5_000, session_timeout_ms=3_000) as bus:
        bus.setup([topic])
        bus.publish(numbered(topic, keys=9, per_key=2))
        try:
            groups = {g["group_id"] for g in admin.list_groups()}
            assert len(list(bus.scan(topic))) == 18
            assert {g["group_id"] for g in admin.list_groups()} == groups
        finally:
            admin.close()


def retention_configs(bootstrap: str, topics: list[str]) -> dict[str, tuple]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics],
                                           config_filter="all")["topic"]
    finally:
        admin.close()
    return {t: tuple(described.get(t, {}).get(k, {}).get("value") for k in ("retention.ms", "segment.ms"))
            for t in topics}


@pytest.mark.kafka
def test_kafka_setup_sets_retention_on_new_topics_and_brings_existing_ones_in_line(kafka_bootstrap):
    """What the broker is told. Tansu stores and reports the topic configs but (in-memory, v0.6)
    does not delete by retention.ms, so the deletion itself is Kafka's and not tested here."""
    old, new = unique_topic("posts.raw"), unique_topic("items.scored")
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:  # a topic from before retention was set: the broker's defaults apply
        admin.create_topics({old: {"num_partitions": 1, "replication_factor": 1}})
    finally:
        admin.close()
    day = 86_400_000
    bus = KafkaBus.from_config(BusConfig(backend="kafka", kafka_bootstrap_servers=kafka_bootstrap))
    assert bus.retention_ms == 7 * day  # bus.raw_retention_days: 7
    bus.setup([old, new])
    assert retention_configs(kafka_bootstrap, [old, new]) == dict.fromkeys([old, new], (str(7 * day), str(day)))

    admin = bus._get_admin()
    altered = []
    original = admin.alter_configs
    admin.alter_configs = lambda resources, **kw: altered.extend(r.name for r in resources) or original(resources, **kw)
    bus.setup([old, new])
    assert altered == []  # in line already: the broker's config is not rewritten every setup
    bus.close()

    shorter = KafkaBus.from_config(BusConfig(backend="kafka", kafka_bootstrap_servers=kafka_bootstrap,
                                             raw_retention_days=2))
    shorter.setup([old, new])
    shorter.close()
    assert retention_configs(kafka_bootstrap, [old, new]) == dict.fromkeys([old, new], (str(2 * day), str(day)))
    assert KafkaBus("127.0.0.1:9", retention_ms=3_600_000).topic_configs["segment.ms"] == "3600000"
