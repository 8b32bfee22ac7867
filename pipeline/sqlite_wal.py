"""The one way threatline opens a SQLite file that several processes share (bus log and store)."""

import sqlite3
from pathlib import Path

from pipeline.private_files import private_file


def open_shared_wal(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """Autocommit connection in WAL mode with FULL sync.

    Autocommit: each read sees the latest commit and each writer opens its own BEGIN IMMEDIATE.
    FULL: a stage commits its input offset right after a write returns, so the write must be on disk.
    Raises sqlite3.Error; callers translate it into their port's error.
    """
    # SQLite gives its -wal and -shm files the main file's mode, so 0600 here covers all three.
    try:
        private_file(path)
    except OSError:
        pass  # a missing directory, say: sqlite3.connect reports it in its own terms, which callers translate
    db = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    return db
