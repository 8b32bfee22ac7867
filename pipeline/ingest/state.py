"""What a source remembers between runs, under ``<data_dir>/ingest/``.

- ``state/<source>.json``: cursors (newest id per timeline, ETag/Last-Modified per URL). Written
  atomically and only after the run's items are durable on the bus, so a crash re-fetches
  rather than skips.
- ``seen.sqlite3``: ids already published. Cursors keep requests small; this set is what
  guarantees an item reaches the bus once across runs, overlapping pages and restarts.
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

from pipeline.sqlite_wal import open_shared_wal

# Long enough to cover any page a source still serves; short enough that the set stays small.
SEEN_RETENTION_S = 60 * 24 * 3600


def ingest_dir(data_dir: Path) -> Path:
    path = Path(data_dir) / "ingest"
    (path / "state").mkdir(parents=True, exist_ok=True)
    return path


class SourceState:
    def __init__(self, data_dir: Path, source: str):
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", source)
        self.path = ingest_dir(data_dir) / "state" / f"{safe}.json"
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


class SeenIds:
    def __init__(self, data_dir: Path):
        self._db = open_shared_wal(ingest_dir(data_dir) / "seen.sqlite3", 30.0)
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, source TEXT, ts REAL)")
        self._db.execute("DELETE FROM seen WHERE ts < ?", (time.time() - SEEN_RETENTION_S,))

    def contains(self, item_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM seen WHERE id = ?", (item_id,)).fetchone() is not None

    def add(self, items: Iterable[tuple[str, str]]) -> None:
        now = time.time()
        with_ts = [(i, s, now) for i, s in items]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)", with_ts)
            self._db.execute("COMMIT")
        except sqlite3.Error:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._db.close()
