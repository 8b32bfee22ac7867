"""The thread store API the review console calls, and how the service survives its failures."""

from __future__ import annotations

import sqlite3

import pytest
from tipline_server import serving

from pipeline.tipline.threads import CodeTaken, SqliteThreadStore, ThreadStoreError, UnknownThread


@pytest.fixture
def store(tmp_path):
    s = SqliteThreadStore(tmp_path / "threads.sqlite3")
    s.create("AAAAAAAAAA", "tip-a", b"s" * 16, b"h" * 32, "Lincoln High School", "first")
    yield s
    s.close()


def test_staff_reply_and_status(store):
    assert store.add_message("AAAAAAAAAA", "staff", "Thank you, we are looking into it.") == 2
    store.set_status("AAAAAAAAAA", "in_review")
    thread = store.get("AAAAAAAAAA")
    assert thread.status == "in_review"
    assert [(m.seq, m.sender) for m in thread.messages] == [(1, "tipster"), (2, "staff")]


def test_unknown_codes_senders_and_statuses_are_refused(store):
    with pytest.raises(UnknownThread):
        store.add_message("ZZZZZZZZZZ", "staff", "hello")
    with pytest.raises(UnknownThread):
        store.set_status("ZZZZZZZZZZ", "closed")
    with pytest.raises(ValueError, match="status"):
        store.set_status("AAAAAAAAAA", "dismissed as a hoax")  # the tipster would read it
    with pytest.raises(ValueError, match="sender"):
        store.add_message("AAAAAAAAAA", "admin", "x")
    with pytest.raises(CodeTaken):
        store.create("AAAAAAAAAA", "tip-b", b"s" * 16, b"h" * 32, None, "other")
    assert store.count() == 1


def test_a_thread_file_from_another_schema_is_refused_clearly(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE threads (code TEXT PRIMARY KEY)")
    with pytest.raises(ThreadStoreError, match="schema version 0"):
        SqliteThreadStore(path)


class FirstCodeTaken(SqliteThreadStore):
    """A store where the first code drawn is already in use."""

    collided = False

    def create(self, code, *args, **kwargs):
        if not self.collided:
            self.collided = True
            raise CodeTaken(code)
        super().create(code, *args, **kwargs)


def test_a_code_collision_draws_a_new_code(rt, tmp_path):
    with serving(rt, tmp_path, threads=FirstCodeTaken(tmp_path / "t.sqlite3")) as t:
        r = t.http.post("/api/tips", json={"message": "hello"})
        assert r.status_code == 201, r.text
        assert t.threads.collided and t.threads.get(r.json()["code"]) is not None
        [msg] = t.raw_tips()
        assert msg.key == r.json()["tip_id"]
