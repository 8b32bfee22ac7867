"""Files under the data dir are the service user's only (issue 18): the directory 0700, the SQLite
files (and their -wal/-shm), generated secrets and label exports 0600, also when an older
version left them readable by everyone."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from pipeline.alerts.ack_secret import ack_secrets
from pipeline.bootstrap import runtime
from pipeline.bus import OutMessage
from pipeline.config import DEFAULT_CONFIG
from pipeline.review.actions import tip_threads
from pipeline.schema import Tip


def mode(path) -> str:
    return oct(stat.S_IMODE(os.stat(path).st_mode))


def test_everything_a_run_creates_in_the_data_dir_is_private(settings):
    tip = Tip(message="someone wrote a threat on the bathroom wall", contact="555-0100")
    with runtime(settings) as rt:
        rt.setup()
        rt.bus.publish([OutMessage(settings.topic("tips.raw"), tip.id, tip.to_bytes())])
        rt.store.search_alerts()
        threads = tip_threads(settings)
        threads.close()
        ack_secrets(settings)
        wal = settings.data_dir / "bus.sqlite3-wal"
        assert mode(wal) == "0o600"  # while open: SQLite removes it on the last close
    data = settings.data_dir
    assert mode(data) == "0o700"
    files = [p for p in data.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"bus.sqlite3", "store.sqlite3", settings.tipline.threads_file, "ack-secret"}
    assert {p.name: mode(p) for p in files} == {p.name: "0o600" for p in files}


def test_files_an_older_version_left_readable_are_tightened(settings):
    data = settings.data_dir
    data.mkdir(mode=0o755, parents=True)
    os.chmod(data, 0o755)
    (data / "bus.sqlite3").touch(mode=0o644)
    os.chmod(data / "bus.sqlite3", 0o644)
    with runtime(settings) as rt:
        rt.setup()
    assert mode(data) == "0o700" and mode(data / "bus.sqlite3") == "0o600"


def test_the_cli_creates_private_files_whatever_the_callers_umask(settings, tmp_path):
    export = tmp_path / "labels.jsonl"
    env = {**os.environ}
    for args in (["setup"], ["labels", "export", "--output", str(export), "--by", "analyst1"]):
        done = subprocess.run([sys.executable, "-m", "pipeline", "--config", str(DEFAULT_CONFIG), *args], env=env,
                              capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.umask(0o022))
        assert done.returncode == 0, done.stderr
    assert mode(export) == "0o600"
    assert all(mode(p) == "0o600" for p in settings.data_dir.rglob("*") if p.is_file())
