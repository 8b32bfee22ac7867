"""A readiness probe for the SQLite files several processes share (bus, store, tip threads).

``BEGIN IMMEDIATE`` alone proves nothing: SQLite grants the write lock even on a connection that
can only read, and a rolled-back transaction never touches the disk. So the probe commits one
row (one small WAL frame, fsynced like every commit here) and reads it back: a read-only file, a
full disk, a lock held past the busy timeout or a broken file all make it raise.
"""

from __future__ import annotations

import sqlite3
import time

# One row, overwritten by every probe: the table never grows.
_TABLE = "readiness_probe"


def write_and_read(db: sqlite3.Connection) -> None:
    """Commit one row on ``db`` (an autocommit connection) and read it back; raises sqlite3.Error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(f"CREATE TABLE IF NOT EXISTS {_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL)")
        db.execute(f"INSERT INTO {_TABLE} (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                   (time.time_ns(),))
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    # Another process may have probed in between, so the row is checked for being there, not
    # for holding this probe's value.
    if db.execute(f"SELECT at FROM {_TABLE} WHERE id = 1").fetchone() is None:
        raise sqlite3.DatabaseError("readiness probe: the row just committed cannot be read back")
