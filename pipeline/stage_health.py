"""Each running stage keeps a small health file under ``<data_dir>/stages/``.

The file says whether the stage is consuming, retrying a dependency that is down (since when, and
why), or stopped, with a heartbeat. It is how `threatline run`, the console's admin banner and
`threatline dlq` notice a stage that is stuck without asking the stage itself, and it works the
same for a stage in `threatline run` and one started by hand with `threatline stage`. The file
holds counts and error classes, never message text.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# A live stage writes at least this often, even when idle; twice this without a write is stale.
HEARTBEAT_S = 5.0


@dataclass
class StageHealth:
    stage: str
    pid: int
    state: str  # "running" | "retrying" | "stopped"
    heartbeat: float
    retrying_since: float | None = None
    reason: str = ""
    consumed: int = 0
    dead_lettered: int = 0

    def problem(self, now: float, alarm_after_s: float) -> str | None:
        """One line for an operator when this stage needs attention, else None."""
        if self.state == "retrying" and self.retrying_since is not None and now - self.retrying_since >= alarm_after_s:
            return (f"stage {self.stage} has been retrying for {now - self.retrying_since:.0f}s "
                    f"(nothing lost, nothing committed): {self.reason}")
        if self.state != "stopped" and now - self.heartbeat > 2 * HEARTBEAT_S + alarm_after_s:
            return f"stage {self.stage} (pid {self.pid}) has not reported for {now - self.heartbeat:.0f}s"
        return None


def health_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "stages"


class HealthFile:
    """Writes one stage's health, at most every HEARTBEAT_S unless the state changes."""

    def __init__(self, data_dir: Path, stage: str):
        self.path = health_dir(data_dir) / f"{stage}.json"
        self.current = StageHealth(stage=stage, pid=os.getpid(), state="running", heartbeat=0.0)
        self._written_at = 0.0

    def update(self, state: str, *, reason: str = "", consumed: int = 0, dead_lettered: int = 0) -> None:
        now = time.time()
        changed = state != self.current.state or reason != self.current.reason
        if state == "retrying" and self.current.state != "retrying":
            self.current.retrying_since = now
        elif state != "retrying":
            self.current.retrying_since = None
        self.current.state, self.current.reason = state, reason
        self.current.consumed, self.current.dead_lettered = consumed, dead_lettered
        if changed or state == "stopped" or now - self._written_at >= HEARTBEAT_S:
            self.current.heartbeat = now
            self._write()
            self._written_at = now

    def _write(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self.current)), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(self.path)  # atomic: a reader never sees half a file


def read_all(data_dir: Path) -> list[StageHealth]:
    found = []
    for path in sorted(health_dir(data_dir).glob("*.json")):
        try:
            found.append(StageHealth(**json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue  # being replaced or from another version: the next heartbeat fixes it
    return found


def belongs(health: StageHealth, name: str) -> bool:
    """Is this the health file of a process of stage ``name``? "classify" owns "classify" and its
    numbered replicas ("classify-2"), not "classify-tips"."""
    return re.fullmatch(rf"{re.escape(name)}(?:[-_.#@]\d+)?", health.stage) is not None


def problems(data_dir: Path, alarm_after_s: float, now: float | None = None) -> list[str]:
    """Operator lines for every stage that is stuck retrying or has gone silent."""
    now = time.time() if now is None else now
    return [line for health in read_all(data_dir) if (line := health.problem(now, alarm_after_s))]
