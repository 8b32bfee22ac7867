"""Tip threads: what a tipster needs to come back (code -> passphrase hash, status, messages).

Kept apart from the bus and the review store because the tipster must be able to read the thread
the moment the 201 arrives, before classification has indexed anything. One small SQLite file
under the data dir, through the same WAL opener as the embedded bus and store.
"""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.schema import utcnow
from pipeline.sqlite_wal import open_shared_wal

Sender = str  # "tipster" | "staff"


class ThreadStoreError(Exception):
    """The thread store could not read or write."""


@dataclass(frozen=True)
class ThreadMessage:
    seq: int
    sender: Sender
    text: str
    at: str


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
    @abstractmethod
    def create(self, code: str, tip_id: str, salt: bytes, passphrase_hash: bytes, school: str | None,
               first_message: str) -> None: ...

    @abstractmethod
    def delete(self, code: str) -> None:
        """Remove a thread and its messages (undo of ``create`` when the bus refused the tip)."""

    @abstractmethod
    def get(self, code: str) -> TipThread | None: ...

    @abstractmethod
    def add_message(self, code: str, sender: Sender, text: str) -> int:
        """Append a message; returns its seq."""

    @abstractmethod
    def remove_message(self, code: str, seq: int) -> None: ...

    @abstractmethod
    def set_status(self, code: str, status: str) -> None: ...

    @abstractmethod
    def count(self) -> int: ...

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
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS thread_messages (
    code TEXT NOT NULL REFERENCES threads (code) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    sender TEXT NOT NULL,
    text TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (code, seq)
)
"""


class SqliteThreadStore(ThreadStore):
    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0):
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self._db = open_shared_wal(self.path, busy_timeout_s)
            self._db.execute("PRAGMA foreign_keys = ON")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
        except sqlite3.Error as exc:
            raise ThreadStoreError(f"tip threads {self.path}: {exc}") from None

    def _run(self, fn):
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                result = fn(self._db)
                self._db.execute("COMMIT")
                return result
            except BaseException as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise ThreadStoreError(f"tip threads {self.path}: {exc}") from None
                raise

    def create(self, code, tip_id, salt, passphrase_hash, school, first_message) -> None:
        now = utcnow().isoformat()

        def write(db):
            db.execute("INSERT INTO threads VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (code, tip_id, salt, passphrase_hash, "received", school, now))
            db.execute("INSERT INTO thread_messages VALUES (?, 1, 'tipster', ?, ?)", (code, first_message, now))
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
                "SELECT seq, sender, text, at FROM thread_messages WHERE code = ? ORDER BY seq", (code,))]
            return TipThread(row[0], row[1], bytes(row[2]), bytes(row[3]), row[4], row[5], row[6], messages)
        return self._run(read)

    def add_message(self, code: str, sender: Sender, text: str) -> int:
        def write(db):
            seq = db.execute("SELECT coalesce(max(seq), 0) + 1 FROM thread_messages WHERE code = ?",
                             (code,)).fetchone()[0]
            db.execute("INSERT INTO thread_messages VALUES (?, ?, ?, ?, ?)",
                       (code, seq, sender, text, utcnow().isoformat()))
            return seq
        return self._run(write)

    def remove_message(self, code: str, seq: int) -> None:
        self._run(lambda db: db.execute("DELETE FROM thread_messages WHERE code = ? AND seq = ?", (code, seq)))

    def set_status(self, code: str, status: str) -> None:
        self._run(lambda db: db.execute("UPDATE threads SET status = ? WHERE code = ?", (status, code)))

    def count(self) -> int:
        return self._run(lambda db: db.execute("SELECT count(*) FROM threads").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
