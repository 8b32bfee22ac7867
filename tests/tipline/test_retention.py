"""Threads are deleted retention_days after their last message, on disk too, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clocks import Clock
from tipline_server import serving

from pipeline.tipline.retention import purge_threads
from pipeline.tipline.threads import SqliteThreadStore

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)




def thread_file(settings):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings.data_dir / settings.tipline.threads_file


def new_thread(store, code: str, text: str) -> None:
    store.create(code, f"tip-{code}", b"s" * 16, b"h" * 32, None, text)


def test_purge_deletes_threads_past_retention_counted_from_the_last_message(settings):
    assert settings.tipline.retention_days == 90
    clock = Clock(T0)
    store = SqliteThreadStore(thread_file(settings), clock=clock)
    new_thread(store, "AAAAAAAAAA", "QUIET-THREAD-TEXT-7731")
    new_thread(store, "BBBBBBBBBB", "ANSWERED-THREAD-TEXT")
    clock.now = T0 + timedelta(days=60)
    store.add_message("BBBBBBBBBB", "tipster", "one more detail")  # restarts B's clock
    store.close()

    assert purge_threads(settings, now=T0 + timedelta(days=89)) == 0
    assert purge_threads(settings, now=T0 + timedelta(days=91)) == 1
    store = SqliteThreadStore(thread_file(settings))
    try:
        assert store.get("AAAAAAAAAA") is None and store.get("BBBBBBBBBB") is not None
    finally:
        store.close()
    # Gone from the file and its WAL, not just unlinked from the table.
    for path in settings.data_dir.glob(settings.tipline.threads_file + "*"):
        assert b"QUIET-THREAD-TEXT-7731" not in path.read_bytes(), path
    assert purge_threads(settings, now=T0 + timedelta(days=60 + 91)) == 1


def test_purge_without_a_thread_file_creates_nothing(settings):
    assert purge_threads(settings) == 0
    assert not (settings.data_dir / settings.tipline.threads_file).exists()


def test_the_tip_line_purges_at_start_up(rt, tmp_path):
    path = tmp_path / "threads.sqlite3"
    store = SqliteThreadStore(path, clock=Clock(datetime.now(UTC) - timedelta(days=91)))
    new_thread(store, "CCCCCCCCCC", "stale")
    store.close()
    with serving(rt, tmp_path, threads=SqliteThreadStore(path)) as t:
        assert t.threads.count() == 0
        assert t.http.post("/api/tips", json={"message": "fresh"}).status_code == 201
        assert t.threads.count() == 1
