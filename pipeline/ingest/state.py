"""What ingestion remembers between runs, under ``<data_dir>/ingest/``.

- ``state/<source>.json``: cursors (newest id per timeline, ETag/Last-Modified per URL). Written
  atomically and only after the run's items are durable on the bus, so a crash re-fetches
  rather than skips.
- ``seen.sqlite3``: dedupe keys already published, shared by every source. Cursors keep requests
  small; this set is what guarantees a post reaches the bus once across runs, overlapping pages,
  restarts and sources that reach the same post (a key is global where the native id is).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.private_files import private_dir
from pipeline.processes import alive
from pipeline.sqlite_wal import open_shared_wal

# Long enough to cover any page a source still serves; short enough that the set stays small.
SEEN_RETENTION_S = 60 * 24 * 3600
# A claim older than this is abandoned even if its pid looks alive (pid reuse after a crash).
CLAIM_LEASE_S = 300.0


def ingest_dir(data_dir: Path) -> Path:
    path = Path(data_dir) / "ingest"
    private_dir(path / "state")
    return path


def state_path(data_dir: Path, source: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", source)
    return ingest_dir(data_dir) / "state" / f"{safe}.json"


class SourceState:
    def __init__(self, data_dir: Path, source: str):
        self.path = state_path(data_dir, source)
        self.data: dict[str, Any] = {}
        if self.path.exists():
            try:
                self.data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                # A damaged state file costs one full re-crawl; the seen-set still dedupes it.
                self.data = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def save(self, updates: dict[str, Any]) -> None:
        self.data.update(updates)
        self.data["updated_at"] = time.time()
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)


class SeenKeys:
    """Dedupe keys, claimed before a publish and confirmed after it.

    Two crawls may run at once (one Prefect deployment per source), so "not seen yet" and
    "mine to publish" must be one atomic step: ``claim`` inserts a row owned by this process;
    ``confirm`` marks it published; ``release`` drops it when the publish failed, so the next run
    tries again. A claim left by a dead process (or older than the lease) can be taken over, so
    a crash between claim and publish never loses a post.
    """

    def __init__(self, data_dir: Path):
        self._db = open_shared_wal(ingest_dir(data_dir) / "seen.sqlite3", 30.0)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS seen_keys (key TEXT PRIMARY KEY, source TEXT NOT NULL,"
            " ts REAL NOT NULL, owner TEXT)"  # owner NULL: published
        )
        self._db.execute("DELETE FROM seen_keys WHERE owner IS NULL AND ts < ?", (time.time() - SEEN_RETENTION_S,))
        self.owner = f"{os.getpid()}:{os.urandom(4).hex()}"

    def contains(self, key: str) -> bool:
        """Published already (claims in flight are settled by ``claim``)."""
        row = self._db.execute("SELECT 1 FROM seen_keys WHERE key = ? AND owner IS NULL", (key,)).fetchone()
        return row is not None

    def claim(self, items: Iterable[tuple[str, str]]) -> set[str]:
        """Keys from ``(key, source)`` pairs that this process may now publish."""
        now = time.time()
        claimed: set[str] = set()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for key, source in items:
                row = self._db.execute("SELECT owner, ts FROM seen_keys WHERE key = ?", (key,)).fetchone()
                if row is None:
                    self._db.execute("INSERT INTO seen_keys VALUES (?, ?, ?, ?)", (key, source, now, self.owner))
                elif row[0] is not None and (row[0] == self.owner or self._abandoned(row[0], row[1], now)):
                    self._db.execute("UPDATE seen_keys SET source = ?, ts = ?, owner = ? WHERE key = ?",
                                     (source, now, self.owner, key))
                else:
                    continue  # published, or another live crawl is publishing it right now
                claimed.add(key)
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._db.execute("ROLLBACK")
            raise
        return claimed

    @staticmethod
    def _abandoned(owner: str, ts: float, now: float) -> bool:
        pid = owner.split(":", 1)[0]
        return now - ts > CLAIM_LEASE_S or not (pid.isdigit() and alive(int(pid)))

    def confirm(self, keys: Iterable[str]) -> None:
        self._settle("UPDATE seen_keys SET owner = NULL, ts = ? WHERE key = ? AND owner = ?", keys, with_ts=True)

    def release(self, keys: Iterable[str]) -> None:
        self._settle("DELETE FROM seen_keys WHERE key = ? AND owner = ?", keys, with_ts=False)

    def _settle(self, sql: str, keys: Iterable[str], *, with_ts: bool) -> None:
        now = time.time()
        rows = [((now, k, self.owner) if with_ts else (k, self.owner)) for k in keys]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(sql, rows)
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._db.close()
