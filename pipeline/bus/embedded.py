"""The embedded bus: an append-only log in one SQLite file (WAL) with per-group offsets.

Every process (tip line, spiders, stage workers) opens its own ``EmbeddedBus`` on the same file.
One table holds every topic's messages in a single sequence; a message's offset is its ``seq``
and its partition is always 0. A group's committed offset per topic is the highest ``seq`` it has
made permanent, so the next message it gets is the first one past that.

Why positions by ``seq`` are safe with several writers: a publish holds SQLite's write lock from
``BEGIN IMMEDIATE`` until ``COMMIT`` and takes its ``seq`` values inside it, so transactions
commit in ``seq`` order and a reader can never later find a smaller ``seq`` than one it has seen.

Unlike Kafka there is no group membership: two live consumers of one group read the same
messages. Deployments run one consumer per group (DESIGN.md §3), which is what this relies on.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pipeline.bus import Bus, BusError, Consumer, Message, OutMessage
from pipeline.sqlite_probe import write_and_read
from pipeline.sqlite_wal import open_shared_wal

# AUTOINCREMENT, not a plain rowid: after retention deletes the newest rows a rowid could be
# handed out again, and a consumer already past it would silently skip the new message.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    key TEXT,
    value BLOB NOT NULL,
    headers TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_topic_seq ON messages (topic, seq);
CREATE INDEX IF NOT EXISTS messages_topic_ts ON messages (topic, ts);
CREATE TABLE IF NOT EXISTS offsets (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (grp, topic)
);
CREATE TABLE IF NOT EXISTS topics (name TEXT PRIMARY KEY)
"""

# How often an idle poll looks for new messages: short enough for a responsive pipeline, long
# enough that an idle worker costs next to nothing.
_POLL_INTERVAL_S = 0.02
# Rows per query of a scan.
_SCAN_PAGE = 500


class EmbeddedBus(Bus):
    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0):
        self.path = Path(path)
        # One connection shared by this object's publisher and consumers; the lock lets a
        # consumer and a publisher live on different threads.
        self._lock = threading.RLock()
        self._closed = False
        try:
            self._db = open_shared_wal(self.path, busy_timeout_s)
            # Retention deletes posts and tips: freed pages are zeroed rather than left readable
            # in the file. Explicit because not every SQLite build has SECURE_DELETE on.
            self._db.execute("PRAGMA secure_delete = ON")
            with self._write() as db:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
        except sqlite3.Error as exc:
            raise BusError(f"sqlite bus {self.path}: {exc}") from None

    # --- plumbing --------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._check_open()
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise BusError(f"sqlite bus {self.path}: {exc}") from None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction holding the write lock from its start (see the module docstring)."""
        with self._lock:
            self._check_open()
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise BusError(f"sqlite bus {self.path}: {exc}") from None
                raise

    def _check_open(self) -> None:
        if self._closed:
            raise BusError(f"sqlite bus {self.path} is closed")

    # --- the port --------------------------------------------------------------------------

    def setup(self, topics: Iterable[str]) -> None:
        with self._write() as db:
            db.executemany("INSERT OR IGNORE INTO topics (name) VALUES (?)", [(t,) for t in topics])

    def publish(self, messages: Sequence[OutMessage]) -> None:
        if not messages:
            return
        now = time.time()
        rows = [(m.topic, m.key, bytes(m.value), json.dumps(m.headers, ensure_ascii=False), now)
                for m in messages]
        with self._write() as db:
            db.executemany("INSERT INTO messages (topic, key, value, headers, ts) VALUES (?, ?, ?, ?, ?)", rows)
            db.executemany("INSERT OR IGNORE INTO topics (name) VALUES (?)", {(m.topic,) for m in messages})

    def consumer(self, group: str, topics: Sequence[str], stop: threading.Event | None = None) -> EmbeddedConsumer:
        # ``stop`` is for the port's sake: a poll here never waits longer than its timeout.
        return EmbeddedConsumer(self, group, topics)

    def lag(self, group: str, topics: Sequence[str]) -> int:
        with self._read() as db:
            total = 0
            for topic, position in self.committed(group, topics).items():
                total += db.execute("SELECT count(*) FROM messages WHERE topic = ? AND seq > ?",
                                    (topic, position)).fetchone()[0]
            return total

    def check_writable(self, topics: Sequence[str]) -> None:
        # Every topic lives in the one log file: a commit to it is the whole question.
        with self._read() as db:
            write_and_read(db)

    def scan(self, topic: str, since_ts: float | None = None, limit: int | None = None) -> Iterator[Message]:
        # The end is fixed first; then pages by seq, so no lock or snapshot is held between pages.
        with self._read() as db:
            end = db.execute("SELECT coalesce(max(seq), 0) FROM messages WHERE topic = ?", (topic,)).fetchone()[0]
        since = "" if since_ts is None else " AND ts >= ?"
        position, left = 0, limit
        while left is None or left > 0:
            page = _SCAN_PAGE if left is None else min(_SCAN_PAGE, left)
            with self._read() as db:
                rows = db.execute(
                    f"SELECT seq, key, value, headers, ts FROM messages WHERE topic = ? AND seq > ? AND seq <= ?"
                    f"{since} ORDER BY seq LIMIT ?",
                    (topic, position, end, *(() if since_ts is None else (since_ts,)), page)).fetchall()
            if not rows:
                return
            for seq, key, value, headers, ts in rows:
                yield Message(topic, 0, seq, key, bytes(value), json.loads(headers), ts)
            position = rows[-1][0]
            if left is not None:
                left -= len(rows)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    # --- beyond the port -------------------------------------------------------------------

    def count_before(self, topic: str, before_ts: float) -> tuple[int, int]:
        """How many of ``topic``'s messages were published before ``before_ts`` (epoch seconds),
        and how many of those some consumer group of the topic has not committed past yet."""
        with self._read() as db:
            old = db.execute("SELECT count(*) FROM messages WHERE topic = ? AND ts < ?",
                             (topic, before_ts)).fetchone()[0]
            lowest = db.execute("SELECT min(position) FROM offsets WHERE topic = ?", (topic,)).fetchone()[0]
            unread = 0 if lowest is None or not old else db.execute(
                "SELECT count(*) FROM messages WHERE topic = ? AND ts < ? AND seq > ?",
                (topic, before_ts, lowest)).fetchone()[0]
            return old, unread

    def delete_before(self, topic: str, before_ts: float) -> int:
        """Retention: delete ``topic``'s messages published before ``before_ts`` (epoch seconds),
        read or not; returns how many went."""
        with self._write() as db:
            gone = db.execute("DELETE FROM messages WHERE topic = ? AND ts < ?", (topic, before_ts)).rowcount
        if gone:
            # The WAL keeps the deleted pages' old images until it is reset; a reader holding an
            # old snapshot may stop TRUNCATE short, and the next purge's checkpoint finishes it.
            with self._read() as db:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return gone

    # --- used by EmbeddedConsumer ----------------------------------------------------------

    def committed(self, group: str, topics: Sequence[str]) -> dict[str, int]:
        """The group's committed position per topic (0: nothing committed yet)."""
        with self._read() as db:
            positions = dict.fromkeys(topics, 0)
            for topic, position in db.execute(
                f"SELECT topic, position FROM offsets WHERE grp = ? AND topic IN ({_marks(topics)})",
                (group, *topics),
            ):
                positions[topic] = position
            return positions

    def read_past(self, positions: dict[str, int], limit: int) -> list[Message]:
        """Up to ``limit`` messages, in publish order, past each topic's position."""
        if not positions or limit <= 0:
            return []
        # One indexed range per topic, merged by seq.
        ranges = " UNION ALL ".join(
            "SELECT * FROM (SELECT seq, topic, key, value, headers, ts FROM messages "
            "WHERE topic = ? AND seq > ? ORDER BY seq LIMIT ?)" for _ in positions
        )
        params: list[object] = []
        for topic, position in positions.items():
            params += [topic, position, limit]
        with self._read() as db:
            rows = db.execute(f"{ranges} ORDER BY seq LIMIT ?", (*params, limit)).fetchall()
        return [Message(topic, 0, seq, key, bytes(value), json.loads(headers), ts)
                for seq, topic, key, value, headers, ts in rows]

    def store_positions(self, group: str, positions: dict[str, int]) -> None:
        with self._write() as db:
            # max(): a consumer holding older positions must never rewind the group.
            db.executemany(
                "INSERT INTO offsets (grp, topic, position) VALUES (?, ?, ?) "
                "ON CONFLICT (grp, topic) DO UPDATE SET position = max(position, excluded.position)",
                [(group, topic, position) for topic, position in positions.items()],
            )


class EmbeddedConsumer(Consumer):
    def __init__(self, bus: EmbeddedBus, group: str, topics: Sequence[str]):
        if not topics:
            raise BusError(f"consumer for group {group!r}: no topics given")
        self.bus = bus
        self.group = group
        self.topics = list(dict.fromkeys(topics))
        self._positions = bus.committed(group, self.topics)
        self._uncommitted: dict[str, int] = {}
        self._closed = False

    def poll(self, max_records: int, timeout_s: float) -> list[Message]:
        self._check_open()
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            batch = self.bus.read_past(self._positions, max_records)
            if batch:
                for message in batch:
                    self._positions[message.topic] = message.offset
                    self._uncommitted[message.topic] = message.offset
                return batch
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            time.sleep(min(_POLL_INTERVAL_S, remaining))

    def commit(self) -> None:
        self._check_open()
        if self._uncommitted:
            self.bus.store_positions(self.group, self._uncommitted)
            self._uncommitted = {}

    def close(self) -> None:
        # Uncommitted positions are dropped on purpose: the group will see those messages again.
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise BusError(f"consumer for group {self.group!r} is closed")


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))
