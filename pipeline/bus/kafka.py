"""The Kafka bus (kafka-python 3.0): acks=all idempotent producer, keys = item id, consumer groups
with manual commits.

Topics get ``partitions`` partitions; Kafka orders messages per partition and the default
partitioner maps a key to one partition, so the contract's order holds per key (per item id).
Every library failure leaves this module as a ``BusError`` with one line that names the brokers
and never the password.

Retention is the broker's: ``setup`` gives each topic ``retention.ms`` (``bus.raw_retention_days``)
and a ``segment.ms`` of at most a day when it creates it, and brings an existing topic's values in
line, so the broker drops older messages whether or not they were consumed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import (
    KafkaConfigurationError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    SaslAuthenticationFailedError,
    TopicAlreadyExistsError,
)

from pipeline.bus import Bus, BusError, Consumer, Message, OutMessage

if TYPE_CHECKING:
    from pipeline.config import BusConfig

log = logging.getLogger(__name__)

# Kafka brokers refuse sessions shorter than group.min.session.timeout.ms (6 s by default).
_MIN_SESSION_TIMEOUT_MS = 6_000
_DEFAULT_SESSION_TIMEOUT_MS = 45_000
# Bootstrapping a client gives up after this, so a wrong address fails in seconds, not minutes.
_MAX_BOOTSTRAP_TIMEOUT_MS = 5_000
_SECRET_CONFIGS = ("sasl_plain_password", "ssl_password")
_DAY_MS = 86_400_000


class _RedactClientConfig(logging.Filter):
    """kafka-python's admin client logs its whole configuration at DEBUG, password included."""

    def filter(self, record: logging.LogRecord) -> bool:
        # LogRecord unwraps a lone mapping argument, so args may be the dict itself.
        if isinstance(record.args, dict):
            record.args = _redacted(record.args)
        elif isinstance(record.args, tuple):
            record.args = tuple(_redacted(a) if isinstance(a, dict) else a for a in record.args)
        return True


def _redacted(config: dict) -> dict:
    return {k: ("********" if k in _SECRET_CONFIGS and v else v) for k, v in config.items()}


_config_logger = logging.getLogger("kafka.admin.client")
if not any(isinstance(f, _RedactClientConfig) for f in _config_logger.filters):
    _config_logger.addFilter(_RedactClientConfig())


class KafkaBus(Bus):
    def __init__(
        self,
        bootstrap_servers: str,
        *,
        security_protocol: str = "PLAINTEXT",
        sasl_mechanism: str | None = None,
        username: str | None = None,
        password: str | None = None,
        partitions: int = 3,
        replication_factor: int = 1,
        max_poll_interval_ms: int = 300_000,
        request_timeout_ms: int = 30_000,
        session_timeout_ms: int | None = None,
        client_id: str = "threatline",
        retention_ms: int | None = None,
    ):
        self.bootstrap_servers = bootstrap_servers
        self.partitions = partitions
        self.replication_factor = replication_factor
        self.retention_ms = retention_ms  # None: the broker's defaults for topics set up here
        # The broker deletes a whole segment once its newest message is past retention.ms, and
        # rolls segments every 7 days by default: daily segments keep a message at most about a
        # day beyond its retention instead of a week.
        self.topic_configs = {} if retention_ms is None else {
            "retention.ms": str(retention_ms), "segment.ms": str(min(retention_ms, _DAY_MS))}
        self.max_poll_interval_ms = max_poll_interval_ms
        self.request_timeout_ms = request_timeout_ms
        # Unless set, the session follows the poll interval: a group (re)join waits on the session
        # timeout (Tansu waits half of it before answering JoinGroup), and a short poll interval
        # asks for quick failure detection anyway. Kept within the broker's limits.
        self.session_timeout_ms = session_timeout_ms or max(
            _MIN_SESSION_TIMEOUT_MS, min(_DEFAULT_SESSION_TIMEOUT_MS, max_poll_interval_ms))
        # Kept out of any repr or message: only the client configs below ever see the password.
        self._common: dict[str, Any] = {
            "bootstrap_servers": [s.strip() for s in bootstrap_servers.split(",") if s.strip()],
            "client_id": client_id,
            "security_protocol": security_protocol,
            "request_timeout_ms": request_timeout_ms,
            "bootstrap_timeout_ms": min(request_timeout_ms, _MAX_BOOTSTRAP_TIMEOUT_MS),
        }
        if sasl_mechanism:
            self._common.update(sasl_mechanism=sasl_mechanism, sasl_plain_username=username,
                                sasl_plain_password=password)
        self._lock = threading.Lock()
        self._producer: KafkaProducer | None = None
        self._admin: KafkaAdminClient | None = None
        self._closed = False

    @classmethod
    def from_config(cls, bus_config: BusConfig) -> KafkaBus:
        c = bus_config
        return cls(
            c.kafka_bootstrap_servers,
            security_protocol=c.kafka_security_protocol,
            sasl_mechanism=c.kafka_sasl_mechanism,
            username=c.kafka_username,
            password=c.kafka_password.get_secret_value() if c.kafka_password else None,
            partitions=c.kafka_partitions,
            replication_factor=c.kafka_replication_factor,
            max_poll_interval_ms=c.kafka_max_poll_interval_ms,
            request_timeout_ms=c.kafka_request_timeout_ms,
            session_timeout_ms=c.kafka_session_timeout_ms,
            # Every topic carries a post's or tip's words (see pipeline.bus.TOPICS).
            retention_ms=c.raw_retention_days * _DAY_MS,
        )

    def __repr__(self) -> str:
        return f"KafkaBus({self.bootstrap_servers!r})"

    # --- clients ---------------------------------------------------------------------------

    def connect(self, client_class, what: str, **config):
        """A kafka-python client, or a ``BusError`` saying the brokers cannot be reached."""
        if self._closed:
            raise BusError(f"Kafka bus for {self.bootstrap_servers} is closed")
        try:
            return client_class(**self._common, **config)
        except (KafkaConfigurationError, SaslAuthenticationFailedError) as exc:
            raise BusError(f"Kafka at {self.bootstrap_servers} refused the {what}: {_reason(exc)}") from None
        except KafkaError as exc:
            raise BusError(f"Kafka at {self.bootstrap_servers} is unreachable: {_reason(exc)}") from None
        except (OSError, ValueError) as exc:  # bad address or config; kafka-python raises these as-is
            raise BusError(f"Kafka at {self.bootstrap_servers}: cannot create the {what}: {_reason(exc)}") from None

    def failure(self, action: str, exc: Exception) -> BusError:
        if isinstance(exc, (KafkaConnectionError, KafkaTimeoutError)):
            return BusError(f"Kafka at {self.bootstrap_servers} is unreachable ({action}): {_reason(exc)}")
        return BusError(f"Kafka at {self.bootstrap_servers}: {action} failed: {_reason(exc)}")

    def _get_producer(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                self._producer = self.connect(
                    KafkaProducer, "producer",
                    acks="all",
                    enable_idempotence=True,  # retries never duplicate or reorder within a partition
                    max_block_ms=self.request_timeout_ms,
                    delivery_timeout_ms=2 * self.request_timeout_ms,
                    linger_ms=5,
                )
            return self._producer

    def _drop_producer(self) -> None:
        # After a failed send an idempotent producer's sequence numbers are in doubt; a fresh one
        # (new producer id) is the documented way on.
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=1)
            except Exception:  # noqa: BLE001 - already failing; the publish error is what matters
                log.debug("closing a failed Kafka producer raised", exc_info=True)

    def _get_admin(self) -> KafkaAdminClient:
        with self._lock:
            if self._admin is None:
                self._admin = self.connect(KafkaAdminClient, "admin client")
            return self._admin

    # --- the port --------------------------------------------------------------------------

    def setup(self, topics: Iterable[str]) -> None:
        names = list(dict.fromkeys(topics))
        if not names:
            return
        admin = self._get_admin()
        spec: dict[str, Any] = {"num_partitions": self.partitions, "replication_factor": self.replication_factor}
        if self.topic_configs:
            spec["configs"] = dict(self.topic_configs)
        try:
            response = admin.create_topics({name: dict(spec) for name in names}, raise_errors=False)
        except KafkaError as exc:
            raise self.failure("creating topics", exc) from None
        problems = []
        created = []
        existing = []
        for topic in response["topics"]:
            code = topic["error_code"]
            if code == 0:
                created.append(topic["name"])
            elif code == TopicAlreadyExistsError.errno:
                existing.append(topic["name"])
            else:
                problems.append(f"{topic['name']}: {topic.get('error_message') or f'error code {code}'}")
        if problems:
            raise BusError(f"Kafka at {self.bootstrap_servers}: cannot create topics: {'; '.join(problems)}")
        if created:
            try:
                admin.wait_for_topics(created, timeout_ms=self.request_timeout_ms)
            except KafkaError as exc:
                raise self.failure("waiting for new topics", exc) from None
        if existing and self.topic_configs:
            self._align_retention(admin, existing)

    def _align_retention(self, admin: KafkaAdminClient, names: list[str]) -> None:
        """Set the retention configs on existing topics whose values differ: topics from before
        this setting, or a changed ``bus.raw_retention_days``. Read first so that the setup every
        crawl round and tip-line start runs does not rewrite the broker's config each time."""
        wanted = self.topic_configs
        try:
            # Every key, not just retention.ms: Tansu (the test broker) drops the connection when
            # asked for named keys. "all": a value inherited from the broker's default counts too.
            described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names],
                                               config_filter="all").get("topic", {})
            stale = [n for n in names
                     if any(described.get(n, {}).get(k, {}).get("value") != v for k, v in wanted.items())]
            if not stale:
                return
            # raise_on_unknown=False: that check asks the broker for its dynamic configs, which
            # Tansu (the test broker) answers with none, although it stores retention.ms.
            results = admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, n, dict(wanted)) for n in stale],
                                          raise_on_unknown=False).get("topic", {})
        except KafkaError as exc:
            raise self.failure("setting retention on topics", exc) from None
        configs = ", ".join(f"{k}={v}" for k, v in wanted.items())
        problems = [f"{n}: {results.get(n, 'no answer')}" for n in stale if results.get(n) != "OK"]
        if problems:
            raise BusError(f"Kafka at {self.bootstrap_servers}: cannot set {configs} on {'; '.join(problems)}")
        log.info("Kafka topics %s: set %s", ", ".join(stale), configs)

    def publish(self, messages: Sequence[OutMessage]) -> None:
        if not messages:
            return
        producer = self._get_producer()
        try:
            futures = [
                producer.send(
                    m.topic,
                    key=m.key.encode("utf-8"),
                    value=bytes(m.value),
                    headers=[(name, value.encode("utf-8")) for name, value in m.headers.items()],
                )
                for m in messages
            ]
            producer.flush(timeout=2 * self.request_timeout_ms / 1000)
            for future in futures:
                future.get(timeout=self.request_timeout_ms / 1000)
        except KafkaError as exc:
            self._drop_producer()
            raise self.failure(f"publishing {len(messages)} messages", exc) from None

    def consumer(self, group: str, topics: Sequence[str], stop: threading.Event | None = None) -> KafkaBusConsumer:
        if not topics:
            raise BusError(f"consumer for group {group!r}: no topics given")
        return KafkaBusConsumer(self, group, list(dict.fromkeys(topics)), stop)

    def lag(self, group: str, topics: Sequence[str]) -> int:
        admin = self._get_admin()
        try:
            described = admin.describe_topics(list(topics))
            partitions = [TopicPartition(t["name"], p["partition_index"])
                          for t in described if t["error_code"] == 0 for p in t["partitions"]]
            if not partitions:
                return 0
            committed = admin.list_group_offsets({group: partitions}).get(group, {})
        except KafkaError as exc:
            raise self.failure(f"reading offsets of group {group!r}", exc) from None
        starts = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
        ends = self._high_watermarks(partitions, starts)
        return sum(max(0, ends[tp] - starts[tp]) for tp in partitions)

    def check_writable(self, topics: Sequence[str]) -> None:
        """The brokers answer and every partition of every topic has a leader and an in-sync
        replica, which an acks=all publish needs. A produce would be the fuller test, but every
        topic here is read by a stage, and the broker refuses topics nobody set up."""
        names = list(dict.fromkeys(topics))
        try:
            described = {t["name"]: t for t in self._get_admin().describe_topics(names)}
        except KafkaError as exc:
            raise self.failure("describing topics", exc) from None
        problems = []
        for name in names:
            topic = described.get(name)
            if topic is None or topic["error_code"] != 0 or not topic["partitions"]:
                problems.append(f"{name}: no such topic (run `threatline setup`)")
                continue
            down = [p["partition_index"] for p in topic["partitions"]
                    if p["error_code"] != 0 or p["leader_id"] < 0 or not p["isr_nodes"]]
            if down:
                problems.append(f"{name}: no leader or in-sync replica for partition(s) {sorted(down)}")
        if problems:
            raise BusError(f"Kafka at {self.bootstrap_servers} cannot take writes: {'; '.join(problems)}")

    def scan(self, topic: str, since_ts: float | None = None, limit: int | None = None) -> Iterator[Message]:
        """A consumer without a group (nothing joined, committed or created) assigned every
        partition, from each one's log start to its end offset as the scan began."""
        if limit is not None and limit <= 0:
            return
        admin = self._get_admin()
        try:
            described = admin.describe_topics([topic])
        except KafkaError as exc:
            raise self.failure(f"describing topic {topic!r}", exc) from None
        partitions = sorted((TopicPartition(t["name"], p["partition_index"])
                             for t in described if t["error_code"] == 0 for p in t["partitions"]),
                            key=lambda tp: tp.partition)
        if not partitions:
            return  # no such topic
        starts: dict[TopicPartition, int] = {}
        ends = self._high_watermarks(partitions, starts)
        pending = [tp for tp in partitions if ends[tp] > starts[tp]]
        if not pending:
            return
        # "earliest": should retention move a log start past ours meanwhile, go on from the new one.
        reader = self.connect(KafkaConsumer, "topic reader", group_id=None, enable_auto_commit=False,
                              auto_offset_reset="earliest", fetch_max_wait_ms=100)
        left = limit
        try:
            try:
                reader.assign(pending)
                for tp in pending:
                    reader.seek(tp, starts[tp])
            except KafkaError as exc:
                raise self.failure(f"reading topic {topic!r}", exc) from None
            quiet_until = time.monotonic() + self.request_timeout_ms / 1000
            while pending:
                try:
                    records = reader.poll(timeout_ms=200, max_records=500)
                    # Each partition on its own from its log start: per-partition offset order.
                    batches = sorted(records.items(), key=lambda item: item[0].partition)
                except KafkaError as exc:
                    raise self.failure(f"reading topic {topic!r}", exc) from None
                if records:
                    quiet_until = time.monotonic() + self.request_timeout_ms / 1000
                for tp, batch in batches:
                    for record in batch:
                        if record.offset >= ends[tp]:
                            break
                        message = _message(record)
                        if since_ts is not None and (message.timestamp is None or message.timestamp < since_ts):
                            continue
                        yield message
                        if left is not None:
                            left -= 1
                            if left <= 0:
                                return
                try:
                    positions = {tp: reader.position(tp) for tp in pending}
                except KafkaError as exc:
                    raise self.failure(f"reading topic {topic!r}", exc) from None
                for tp in [tp for tp in pending if positions[tp] >= ends[tp]]:
                    pending.remove(tp)
                    reader.pause(tp)
                if pending and time.monotonic() > quiet_until:
                    raise BusError(f"Kafka at {self.bootstrap_servers}: reading topic {topic!r} stalled at "
                                   + ", ".join(f"partition {tp.partition} offset {positions[tp]} of {ends[tp]}"
                                               for tp in pending))
        finally:
            reader.close(autocommit=False)

    def _high_watermarks(self, partitions: list[TopicPartition], starts: dict[TopicPartition, int]) -> dict:
        """Each partition's end offset as a Fetch response reports it; fills ``starts`` with the
        log start for partitions the group has not committed.

        Why not ListOffsets(latest): Tansu, the test broker, answers it with the last batch's
        base offset + 1. The high watermark in Fetch responses is right on Tansu and on Kafka
        (it is what Kafka's own records-lag metric uses).
        """
        # max_partition_fetch_bytes=1: the broker still sends one batch, so little data moves.
        reader = self.connect(KafkaConsumer, "offset reader", group_id=None, enable_auto_commit=False,
                              fetch_max_wait_ms=10, max_partition_fetch_bytes=1)
        try:
            reader.assign(partitions)
            missing = [tp for tp in partitions if tp not in starts]
            if missing:
                starts.update(reader.beginning_offsets(missing, timeout_ms=self.request_timeout_ms))
            for tp in partitions:
                reader.seek(tp, starts[tp])
            pending = set(partitions)
            deadline = time.monotonic() + self.request_timeout_ms / 1000
            while pending and time.monotonic() < deadline:
                reader.poll(timeout_ms=50, max_records=1_000_000)
                for tp in list(pending):
                    if reader.highwater(tp) is not None:
                        pending.discard(tp)
                        reader.pause(tp)
            if pending:
                raise BusError(f"Kafka at {self.bootstrap_servers}: no end offset for "
                               f"{', '.join(f'{tp.topic}[{tp.partition}]' for tp in sorted(pending))}")
            return {tp: reader.highwater(tp) for tp in partitions}
        except KafkaError as exc:
            raise self.failure("reading end offsets", exc) from None
        finally:
            reader.close(autocommit=False)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            clients, self._producer, self._admin = [self._producer, self._admin], None, None
        for client in clients:
            if client is not None:
                try:
                    client.close()
                except Exception:  # noqa: BLE001 - closing must not mask the caller's own error
                    log.debug("closing a Kafka client raised", exc_info=True)


class _JoinListener(ConsumerRebalanceListener):
    """Marks the first completed group join (an empty assignment counts: the group is settled)."""

    def __init__(self):
        self.joined = threading.Event()

    def on_partitions_revoked(self, revoked):
        pass

    def on_partitions_assigned(self, assigned):
        self.joined.set()


class KafkaBusConsumer(Consumer):
    def __init__(self, bus: KafkaBus, group: str, topics: list[str], stop: threading.Event | None = None):
        self.bus = bus
        self.group = group
        self.topics = topics
        self._stop = stop or threading.Event()
        self._listener = _JoinListener()
        # A join waits for every member's rejoin, bounded by the rebalance (= max poll) timeout.
        self._join_timeout_s = (bus.max_poll_interval_ms + bus.session_timeout_ms + bus.request_timeout_ms) / 1000
        self._consumer: KafkaConsumer = bus.connect(
            KafkaConsumer, "consumer",
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=bus.max_poll_interval_ms,
            session_timeout_ms=bus.session_timeout_ms,
            heartbeat_interval_ms=min(3_000, bus.session_timeout_ms // 3),
        )
        try:
            self._consumer.subscribe(topics, listener=self._listener)
        except KafkaError as exc:
            self._consumer.close(autocommit=False)
            raise bus.failure(f"subscribing group {group!r}", exc) from None

    def poll(self, max_records: int, timeout_s: float) -> list[Message]:
        try:
            # "Nothing arrived" is only true once the group has handed us our partitions; before
            # that an empty answer would make a bounded stage stop as idle with work waiting.
            if not self._listener.joined.is_set():
                # A stop request ends the wait at once: a join can take tens of seconds.
                batch = self._poll_until(time.monotonic() + self._join_timeout_s, max_records,
                                         until=lambda: self._listener.joined.is_set() or self._stop.is_set())
                if batch or self._stop.is_set():
                    return batch
                if not self._listener.joined.is_set():
                    raise BusError(f"Kafka at {self.bus.bootstrap_servers}: group {self.group!r} "
                                   f"did not join within {self._join_timeout_s:.0f}s")
            return self._poll_until(time.monotonic() + max(timeout_s, 0.0), max_records)
        except KafkaError as exc:
            raise self.bus.failure(f"polling for group {self.group!r}", exc) from None

    def _poll_until(self, deadline: float, max_records: int, until=lambda: False) -> list[Message]:
        while True:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            # kafka-python may return early with nothing (e.g. mid-join), so loop to the deadline.
            records = self._consumer.poll(timeout_ms=min(remaining_ms, 200) if remaining_ms else 0,
                                          max_records=max_records)
            batch = [_message(r) for partition_records in records.values() for r in partition_records]
            if batch or until() or remaining_ms == 0:
                return batch

    def commit(self) -> None:
        try:
            self._consumer.commit(timeout_ms=self.bus.request_timeout_ms)
        except KafkaError as exc:
            raise self.bus.failure(f"committing offsets of group {self.group!r}", exc) from None

    def close(self) -> None:
        # autocommit=False: whatever was polled but not committed must be delivered again.
        try:
            self._consumer.close(autocommit=False, timeout_ms=self.bus.request_timeout_ms)
        except KafkaError as exc:
            log.warning("closing Kafka consumer of group %r: %s", self.group, _reason(exc))


def _message(record) -> Message:
    return Message(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key.decode("utf-8", errors="replace") if record.key is not None else None,
        value=record.value if record.value is not None else b"",
        headers={name: (value or b"").decode("utf-8", errors="replace") for name, value in (record.headers or [])},
        # Milliseconds (the producer's create time unless the topic says log-append time); -1: none.
        timestamp=record.timestamp / 1000 if record.timestamp is not None and record.timestamp >= 0 else None,
    )


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text
