"""Retention of tip threads: a thread (tip text, messages, passphrase hash) is deleted
``tipline.retention_days`` after its last message.

The tip line purges at start-up and hourly while it runs; the scheduled purge flow and the CLI
call ``purge_threads(settings)`` so a stopped tip line does not keep threads past their time.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from pipeline.config import Settings
from pipeline.schema import utcnow
from pipeline.tipline.threads import SqliteThreadStore, ThreadStore

log = logging.getLogger("threatline.tipline")


def purge_expired(threads: ThreadStore, retention_days: int, now: datetime | None = None) -> int:
    """Delete the threads whose last message is more than ``retention_days`` before ``now``."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    gone = threads.purge(cutoff)
    log.info("tip thread retention: %d thread(s) older than %d days deleted", gone, retention_days)
    return gone


def purge_threads(settings: Settings, now: datetime | None = None) -> int:
    """Purge the configured thread file; 0 if the tip line never ran here. Raises ThreadStoreError."""
    path = settings.data_dir / settings.tipline.threads_file
    if not path.exists():
        return 0
    threads = SqliteThreadStore(path)
    try:
        return purge_expired(threads, settings.tipline.retention_days, now)
    finally:
        threads.close()
