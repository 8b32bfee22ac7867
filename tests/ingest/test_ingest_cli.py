"""`threatline ingest` as an operator runs it: a real process, the fixture server, the summary line."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

THREATLINE = str(Path(sys.executable).with_name("threatline"))


def ingest(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([THREATLINE, "ingest", *args], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "COLUMNS": "200", **env})


def summary(result) -> dict[str, int]:
    line = next(line for line in result.stdout.splitlines() if line.startswith("ingest: "))
    return {key: int(n) for n, key in re.findall(r"(\d+) (produced|skipped|failed|malformed|errors)", line)}


def test_once_crawls_the_named_sources_and_a_rerun_finds_nothing_new(settings, sources_file, published):
    env = {"THREATLINE_INGEST__SOURCES_FILE": str(sources_file)}
    first = ingest("--once", "--source", "reddit:riverton", "--source", "rss:riverton-courier", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    counts = summary(first)
    posts = published()
    assert counts["produced"] == len(posts) > 0 and counts["failed"] == 0
    assert {p.source for p in posts} == {"reddit:riverton", "rss:riverton-courier"}
    assert "reddit:riverton" in first.stdout and "rss:riverton-courier" in first.stdout  # the table

    again = ingest("--once", "--source", "reddit:riverton", "--source", "rss:riverton-courier", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert summary(again)["produced"] == 0 and len(published()) == len(posts)


def test_unknown_source_is_one_line_exit_2(settings, sources_file):
    result = ingest("--once", "--source", "reddit:nope", env={"THREATLINE_INGEST__SOURCES_FILE": str(sources_file)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "reddit:nope" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_no_enabled_sources_says_how_to_enable_one(settings, tmp_path):
    empty = tmp_path / "sources.yaml"
    empty.write_text("sources:\n  - {name: rss:off, kind: rss, url: 'http://127.0.0.1:9/x', enabled: false}\n")
    result = ingest("--once", env={"THREATLINE_INGEST__SOURCES_FILE": str(empty)})
    assert result.returncode == 2 and "enabled: true" in result.stderr, result.stderr


def test_unreachable_bus_is_one_line_exit_1(settings, sources_file):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    env = {"THREATLINE_INGEST__SOURCES_FILE": str(sources_file), "THREATLINE_BUS__BACKEND": "kafka",
           "THREATLINE_BUS__KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{closed}"}
    result = ingest("--once", "--source", "reddit:riverton", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"127.0.0.1:{closed}" in lines[0], result.stderr


def test_without_once_it_keeps_crawling_until_ctrl_c(settings, sources_file, published):
    import signal

    # As from a terminal: a shell without job control (CI started with `&`) hands its children
    # SIGINT ignored, and Python then never turns Ctrl-C into KeyboardInterrupt.
    proc = subprocess.Popen([THREATLINE, "ingest", "--source", "reddit:riverton"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            env={**os.environ, "COLUMNS": "200", "THREATLINE_INGEST__SOURCES_FILE": str(sources_file)})
    try:
        lines = []
        for line in proc.stdout:  # the first round ends with the time of the next one
            lines.append(line)
            if line.startswith("next crawl in"):
                break
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "".join(lines) + rest
    assert proc.returncode == 0 and "stopped" in rest, output
    assert summary(subprocess.CompletedProcess([], 0, output, ""))["produced"] == len(published()) > 0
