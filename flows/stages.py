"""The streaming stages' health, for the Prefect UI.

The stages themselves are long-lived processes supervised by `threatline run` (pipeline/
supervisor.py), not flow runs: bounded runs left a gap of 35–40 s every few minutes on Kafka and
a stuck run held its deployment's slot across restarts (DESIGN.md §3). This flow runs every
minute, logs each stage's state and lag, and fails (red in the UI) when a stage is stuck
retrying, silent or not running.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from pipeline.bootstrap import STAGE_NAMES, runtime
from pipeline.config import load_settings
from pipeline.stage_health import problems, read_all


@flow(name="stage-health", log_prints=False)
def stage_health(config_path: str | None = None) -> dict:
    """Each stage's state and lag; raises when any needs an operator."""
    settings = load_settings(config_path)
    logger = get_run_logger()
    states = {h.stage: h.state for h in read_all(settings.data_dir)}
    with runtime(settings) as rt:
        lags = {name: rt.lag(name) for name in STAGE_NAMES}
    found = problems(settings.data_dir, settings.stages.stuck_alarm_s)
    found += [f"stage {name} is not running" for name in STAGE_NAMES if states.get(name) not in ("running", "retrying")]
    for name in STAGE_NAMES:
        logger.info("stage %s: %s, lag %d", name, states.get(name, "never started"), lags[name])
    if found:
        raise RuntimeError("; ".join(found))
    return {"states": states, "lags": lags}
