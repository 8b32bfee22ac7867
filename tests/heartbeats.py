"""Stage heartbeat files for tests of readiness and `threatline status`, written as a running
stage writes them (pipeline/stage_health.py)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from pipeline.bootstrap import STAGE_NAMES
from pipeline.stage_health import HealthFile, StageHealth, health_dir


def all_running(data_dir: Path) -> None:
    """Every streaming stage reported just now."""
    for name in STAGE_NAMES:
        HealthFile(data_dir, name).update("running")


def silent_since(data_dir: Path, stage: str, seconds_ago: float) -> None:
    """``stage`` last wrote ``seconds_ago`` and then went quiet (a process killed with -9)."""
    path = health_dir(data_dir) / f"{stage}.json"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    health = StageHealth(stage=stage, pid=4242, state="running", heartbeat=time.time() - seconds_ago)
    path.write_text(json.dumps(asdict(health)), encoding="utf-8")
