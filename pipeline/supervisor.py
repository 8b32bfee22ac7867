"""`threatline run` keeps the streaming stages always listening.

Each stage (classify-tips, classify, index, alert) runs as its own long-lived process
(`threatline stage NAME --forever`): a consumer that never ends leaves no gap between runs and no
group rejoin every few minutes, and a process per stage means a crash, a leak or a kill -9 in one
stage never takes the others, the tip line or the review server with it. A stage that exits is
restarted after a backoff (doubling, reset once it has stayed up for a while). A stage given
several workers (``stages.workers``, `run --stage-workers classify=4`) runs that many processes in
one consumer group, named ``classify``, ``classify-2``…: Kafka splits the partitions among them.
The embedded bus has no group membership (two consumers of a group read the same messages), so
there it is refused. Stop sends SIGTERM
to every stage, which finishes or abandons its batch uncommitted and exits; one that has not
exited after the grace period is killed, which is still safe: nothing uncommitted is lost.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from pipeline.config import ConfigError, Settings

log = logging.getLogger(__name__)
STAYED_UP_S = 60.0  # a stage that ran this long before it died starts again at the shortest backoff


def parse_workers(values: list[str]) -> dict[str, int]:
    """``["classify=4"]`` (from `run --stage-workers`) -> ``{"classify": 4}``."""
    workers = {}
    for value in values:
        name, _, count = value.partition("=")
        if not name or not count.isdigit() or not 1 <= int(count) <= 64:
            raise ConfigError(f"--stage-workers {value!r}: expected STAGE=N with N from 1 to 64, e.g. classify=4")
        workers[name.strip()] = int(count)
    return workers


def replica_names(settings: Settings, names: tuple[str, ...]) -> dict[str, tuple[str, int]]:
    """process name -> (stage, replica number) for every process `run` starts."""
    workers = settings.stages.workers
    unknown = sorted(set(workers) - set(names))
    if unknown:
        raise ConfigError(f"stages.workers: unknown stage(s) {', '.join(unknown)}; expected {', '.join(names)}")
    if settings.bus.backend != "kafka" and any(n > 1 for n in workers.values()):
        raise ConfigError("stages.workers: more than one worker per stage needs bus.backend: kafka (the embedded "
                          "bus has no consumer-group membership: every worker would read every message)")
    return {(name if k == 1 else f"{name}-{k}"): (name, k) for name in names for k in range(1, workers.get(name, 1) + 1)}


@dataclass
class _Child:
    name: str
    stage: str = ""
    replica: int = 1
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff_s: float = 0.0
    restart_at: float = 0.0
    restarts: int = 0
    exits: list[int] = field(default_factory=list)


class StageSupervisor:
    def __init__(self, settings: Settings, names: tuple[str, ...], *, grace_s: float = 30.0,
                 check_every_s: float = 0.5):
        self.settings = settings
        self.children = {process: _Child(process, stage, replica)
                         for process, (stage, replica) in replica_names(settings, names).items()}
        self.grace_s = grace_s
        self.check_every_s = check_every_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="stage-supervisor", daemon=True)

    def command(self, child: _Child) -> list[str]:
        config = ["--config", str(self.settings.config_file)] if self.settings.config_file else []
        replica = ["--replica", str(child.replica)] if child.replica > 1 else []
        return [sys.executable, "-m", "pipeline", *config, "stage", child.stage, *replica, "--forever", "--supervised"]

    def __enter__(self) -> StageSupervisor:
        for child in self.children.values():
            self._start(child)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start(self, child: _Child) -> None:
        # A session of its own: a Ctrl-C in the terminal reaches `run`, which stops the stages in
        # order. stdin is a pipe only we hold: if `run` dies, even by kill -9, it closes and the
        # stage stops. stdout (the final report as JSON) is dropped: its log line says the same.
        child.process = subprocess.Popen(self.command(child), env=os.environ.copy(), start_new_session=True,
                                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        child.started_at = time.monotonic()
        log.info("stage %s started (pid %d)", child.name, child.process.pid)

    def _watch(self) -> None:
        while not self._stopping.wait(self.check_every_s):
            now = time.monotonic()
            for child in self.children.values():
                if child.process is None:
                    if now >= child.restart_at and not self._stopping.is_set():
                        child.restarts += 1
                        self._start(child)
                    continue
                code = child.process.poll()
                if code is None:
                    continue
                child.exits.append(code)
                child.process.stdin.close()
                child.process = None
                stayed_up = now - child.started_at
                base = self.settings.stages.restart_backoff_s
                child.backoff_s = base if stayed_up >= STAYED_UP_S or not child.backoff_s else min(
                    child.backoff_s * 2, self.settings.stages.restart_backoff_max_s)
                child.restart_at = now + child.backoff_s
                log.error("stage %s exited with code %s after %.0fs; restarting in %.0fs",
                          child.name, code, stayed_up, child.backoff_s)

    def pids(self) -> dict[str, int | None]:
        return {name: c.process.pid if c.process else None for name, c in self.children.items()}

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        running = [c for c in self.children.values() if c.process is not None]
        for child in running:
            child.process.send_signal(signal.SIGTERM)
            child.process.stdin.close()
        deadline = time.monotonic() + self.grace_s
        for child in running:
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("stage %s did not stop within %.0fs; killing it (uncommitted work comes again)",
                          child.name, self.grace_s)
                child.process.kill()
                child.process.wait()
