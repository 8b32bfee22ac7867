"""The directory where `threatline run`'s processes write their metrics (pipeline/metrics.py).

prometheus_client picks its multiprocess mode once, when it is first imported, from
``PROMETHEUS_MULTIPROC_DIR``; the stage processes, the sweep's flow runs and the Prefect server
inherit the variable from `threatline run`. So this module must not import prometheus_client
(nor pipeline.metrics), and ``prepare`` must run before anything in this process does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare(data_dir: Path) -> Path:
    """Use ``<data_dir>/metrics`` (or the operator's $PROMETHEUS_MULTIPROC_DIR) for this process and
    every process it starts, emptied of the last run's files: their processes are gone, and
    left there the files would add up forever. Counters therefore start at 0 with each
    `threatline run`, which Prometheus reads as a restart."""
    if "prometheus_client" in sys.modules and MULTIPROC_ENV not in os.environ:
        # Metrics made in this process would stay in memory and never reach /metrics.
        raise RuntimeError("prometheus_client was imported before the metrics directory was set: "
                           "call pipeline.metrics_dir.prepare first")
    directory = Path(os.environ.get(MULTIPROC_ENV) or Path(data_dir) / "metrics")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # only prometheus_client's files, whatever else is there
        stale.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory


def join(data_dir: Path) -> None:
    """A one-shot command (`alerts ack`, `stage` by hand) on a data dir a `threatline run` is
    using writes its counts where that run's /metrics adds them up; without it they would die
    with the process. Nothing is emptied, and nothing changes when the directory is not there,
    the variable is already set or prometheus_client is already loaded (its mode is fixed), nor
    for a user who may not write there (their counts would fail the command, not count)."""
    directory = Path(data_dir) / "metrics"
    if MULTIPROC_ENV not in os.environ and "prometheus_client" not in sys.modules and directory.is_dir() \
            and os.access(directory, os.W_OK | os.X_OK):
        os.environ[MULTIPROC_ENV] = str(directory)
