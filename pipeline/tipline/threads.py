"""Tip threads: what a tipster needs to come back (code -> passphrase hash, status, messages),
and the pictures sent with the messages, which staff open in the review console.

Kept apart from the bus and the review store because the tipster must be able to read the thread
the moment the 201 arrives, before classification has indexed anything. One small SQLite file
under the data dir, through the same WAL opener as the embedded bus and store.
"""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pipeline.schema import utcnow
from pipeline.sqlite_probe import write_and_read
from pipeline.sqlite_wal import open_shared_wal

Sender = str  # "tipster" | "staff"
# What the tipster reads as the state of their tip; staff-internal verdicts belong in the review store.
STATUSES = ("received", "in_review", "closed")


class ThreadStoreError(Exception):
    """The thread store could not read or write."""


class UnknownThread(ThreadStoreError):
    """No thread has that code (never created, or purged after retention)."""


class CodeTaken(ThreadStoreError):
    """``create`` with a code another thread already has; the caller draws a new code."""


@dataclass(frozen=True)
class ThreadMessage:
    seq: int
    sender: Sender
    text: str
    at: str
    attachment: str | None = None  # the media type of the picture sent with it, if any


@dataclass(frozen=True)
class Attachment:
    """A picture sent with a message, as re-encoded by ``pipeline.tipline.images``."""

    media_type: str
    data: bytes


@dataclass(frozen=True)
class TipThread:
    code: str
    tip_id: str
    salt: bytes
    passphrase_hash: bytes
    status: str
    school: str | None
    created_at: str
    messages: list[ThreadMessage] = field(default_factory=list)


class ThreadStore(ABC):
    """One thread per tip code. The review console replies through ``add_message(code, "staff",
    text)`` and ``set_status``; both raise ``UnknownThread`` for a code that is not (or no longer)
    there."""

    @abstractmethod
    def create(self, code: str, tip_id: str, salt: bytes, passphrase_hash: bytes, school: str | None,
               first_message: str, attachment: Attachment | None = None) -> None:
        """Raises ``CodeTaken`` if the code is in use."""

    @abstractmethod
    def delete(self, code: str) -> None:
        """Remove a thread, its messages and their pictures (undo of ``create`` when the bus
        refused the tip)."""

    @abstractmethod
    def get(self, code: str) -> TipThread | None: ...

    @abstractmethod
    def add_message(self, code: str, sender: Sender, text: str, attachment: Attachment | None = None) -> int:
        """Append a message (sender "tipster" or "staff"), with its picture if any; returns its
        seq. Restarts the thread's retention clock."""

    @abstractmethod
    def get_attachment(self, code: str, seq: int) -> Attachment | None:
        """The picture of message ``seq``; None if it has none or the thread is gone."""

    @abstractmethod
    def remove_message(self, code: str, seq: int) -> None:
        """Remove one message and its picture (undo of ``add_message``)."""

    @abstractmethod
    def set_status(self, code: str, status: str) -> None:
        """One of ``STATUSES``; the tipster sees it."""

    @abstractmethod
    def purge(self, older_than: datetime) -> int:
        """Delete threads (messages and pictures too) whose last message is older than
        ``older_than``; returns how many."""

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def check_writable(self) -> None:
        """Raise ``ThreadStoreError`` unless a thread could be written and read now (readiness)."""

    @abstractmethod
    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS threads (
    code TEXT PRIMARY KEY,
    tip_id TEXT NOT NULL UNIQUE,
    salt BLOB NOT NULL,
    passphrase_hash BLOB NOT NULL,
    status TEXT NOT NULL,
    school TEXT,
    created_at TEXT NOT NULL,
    last_message_at REAL NOT NULL  -- epoch seconds, where retention counts from
);
CREATE INDEX IF NOT EXISTS threads_last_message ON threads (last_message_at);
CREATE TABLE IF NOT EXISTS thread_messages (
    code TEXT NOT NULL REFERENCES threads (code) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    sender TEXT NOT NULL,
    text TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (code, seq)
);
CREATE TABLE IF NOT EXISTS thread_attachments (
    code TEXT NOT NULL,
    seq INTEGER NOT NULL,
    media_type TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (code, seq),
    -- A picture goes with its message, and so with its thread: undo, purge, delete.
    FOREIGN KEY (code, seq) REFERENCES thread_messages (code, seq) ON DELETE CASCADE
)
"""
# 2 added thread_attachments; a version 1 file gains the table when it is opened.
_VERSION = 2
_UPGRADES_FROM = (1,)


class SqliteThreadStore(ThreadStore):
    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0, clock: Callable[[], datetime] = utcnow):
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.RLock()
        try:
            self._db = open_shared_wal(self.path, busy_timeout_s)
        except sqlite3.Error as exc:
            raise ThreadStoreError(f"tip threads {self.path}: {exc}") from None
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            # Deleted tips (undo, purge) are overwritten on disk, not left in free pages.
            self._db.execute("PRAGMA secure_delete = ON")
            self._run(self._migrate)
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, sqlite3.Error):
                raise ThreadStoreError(f"tip threads {self.path}: {exc}") from None
            raise

    def _migrate(self, db) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        existing = db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'threads'").fetchone()[0]
        if version != _VERSION and version not in _UPGRADES_FROM and (existing or version):
            raise ThreadStoreError(f"tip threads {self.path}: schema version {version} is not {_VERSION} "
                                   "(a file from a development build?); move it away")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {_VERSION}")

    def _run(self, fn, *, write: bool = True):
        """``fn(db)`` in one transaction; any SQLite failure becomes ThreadStoreError. A read is a
        consistent snapshot that does not hold the write lock."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                result = fn(self._db)
                self._db.execute("COMMIT")
                return result
            except BaseException as exc:
                try:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # closed or broken connection: nothing was committed, the original error counts
                if isinstance(exc, sqlite3.Error):
                    raise ThreadStoreError(f"tip threads {self.path}: {exc}") from None
                raise

    def create(self, code, tip_id, salt, passphrase_hash, school, first_message, attachment=None) -> None:
        now = self._clock()

        def write(db):
            if db.execute("SELECT 1 FROM threads WHERE code = ?", (code,)).fetchone():
                raise CodeTaken(code)
            db.execute("INSERT INTO threads VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (code, tip_id, salt, passphrase_hash, "received", school, now.isoformat(), now.timestamp()))
            db.execute("INSERT INTO thread_messages VALUES (?, 1, 'tipster', ?, ?)",
                       (code, first_message, now.isoformat()))
            _attach(db, code, 1, attachment)
        self._run(write)

    def delete(self, code: str) -> None:
        self._run(lambda db: db.execute("DELETE FROM threads WHERE code = ?", (code,)))

    def get(self, code: str) -> TipThread | None:
        def read(db):
            row = db.execute("SELECT code, tip_id, salt, passphrase_hash, status, school, created_at "
                             "FROM threads WHERE code = ?", (code,)).fetchone()
            if row is None:
                return None
            messages = [ThreadMessage(*m) for m in db.execute(
                "SELECT m.seq, m.sender, m.text, m.at, a.media_type FROM thread_messages m "
                "LEFT JOIN thread_attachments a ON a.code = m.code AND a.seq = m.seq "
                "WHERE m.code = ? ORDER BY m.seq", (code,))]
            return TipThread(row[0], row[1], bytes(row[2]), bytes(row[3]), row[4], row[5], row[6], messages)
        return self._run(read, write=False)

    def add_message(self, code: str, sender: Sender, text: str, attachment: Attachment | None = None) -> int:
        if sender not in ("tipster", "staff"):
            raise ValueError(f"sender must be 'tipster' or 'staff', not {sender!r}")
        now = self._clock()

        def write(db):
            if db.execute("UPDATE threads SET last_message_at = ? WHERE code = ?",
                          (now.timestamp(), code)).rowcount == 0:
                raise UnknownThread(code)
            seq = db.execute("SELECT coalesce(max(seq), 0) + 1 FROM thread_messages WHERE code = ?",
                             (code,)).fetchone()[0]
            db.execute("INSERT INTO thread_messages VALUES (?, ?, ?, ?, ?)", (code, seq, sender, text, now.isoformat()))
            _attach(db, code, seq, attachment)
            return seq
        return self._run(write)

    def get_attachment(self, code: str, seq: int) -> Attachment | None:
        row = self._run(lambda db: db.execute("SELECT media_type, data FROM thread_attachments WHERE code = ? "
                                              "AND seq = ?", (code, seq)).fetchone(), write=False)
        return None if row is None else Attachment(row[0], bytes(row[1]))

    def remove_message(self, code: str, seq: int) -> None:
        self._run(lambda db: db.execute("DELETE FROM thread_messages WHERE code = ? AND seq = ?", (code, seq)))

    def set_status(self, code: str, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")

        def write(db):
            if db.execute("UPDATE threads SET status = ? WHERE code = ?", (status, code)).rowcount == 0:
                raise UnknownThread(code)
        self._run(write)

    def purge(self, older_than: datetime) -> int:
        gone = self._run(lambda db: db.execute("DELETE FROM threads WHERE last_message_at < ?",
                                               (older_than.timestamp(),)).rowcount)
        if gone:
            # The WAL still holds the deleted pages' old contents until a checkpoint rewrites them.
            with self._lock:
                try:
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error as exc:
                    raise ThreadStoreError(f"tip threads {self.path}: {exc}") from None
        return gone

    def count(self) -> int:
        return self._run(lambda db: db.execute("SELECT count(*) FROM threads").fetchone()[0], write=False)

    def check_writable(self) -> None:
        with self._lock:
            try:
                write_and_read(self._db)
            except sqlite3.Error as exc:
                raise ThreadStoreError(f"tip threads {self.path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _attach(db, code: str, seq: int, attachment: Attachment | None) -> None:
    if attachment is not None:
        db.execute("INSERT INTO thread_attachments VALUES (?, ?, ?, ?)", (code, seq, attachment.media_type,
                                                                          attachment.data))
