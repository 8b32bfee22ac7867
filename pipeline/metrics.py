"""Every Prometheus metric threatline exports, defined here and nowhere else (docs/operations.md,
"Metrics"). Call sites elsewhere are one line each.

Two kinds:

- *Counted* where it happens (the classify stages, the pager): ``REGISTRY`` below.
- *Read when scraped* (consumer lag, dead letters waiting, stage heartbeats): ``PipelineState``
  reads them from the bus and the health files at each scrape, not from a process, so they are
  there when a stage process has died, which is when they matter.

**How the processes are scraped.** Everything is scraped at one place, the review server's
``GET /metrics``. Pages are sent by the alert stage, escalated by the sweep (a Prefect flow run:
a new short-lived process every ``alerts.sweep_interval_s``) and acknowledged in the review
server, and `threatline run` restarts a stage process that dies. A port per process would miss
the short-lived sweep runs altogether, collide when a stage runs twice, and lose a stage's counts
whenever it restarts. So `threatline run` turns on prometheus_client's multiprocess mode
(pipeline/metrics_dir.py): every process it starts writes its counters to memory-mapped files in
``<data_dir>/metrics`` and the review server adds them up when scraped. A dead process's counts
stay in the sum (counters keep growing across restarts); its gauges are dropped at the next
scrape. Other commands on the data dir of a `run` join that directory (``metrics_dir.join``),
so a one-shot `alerts ack` counts too. Without a `run` (tests, `serve review` alone) each process
keeps its own metrics in memory unless ``PROMETHEUS_MULTIPROC_DIR`` is set for all of them.

Labels are bounded: stage, kind (post/tip), severity, category, channel type (a roster label
such as ``email``), model version. Never an item id, an author, a school, or any text.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from pipeline.processes import alive
from pipeline.stage_health import belongs

log = logging.getLogger(__name__)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "threatline_"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Multiprocess mode has no _created series; leave them out in memory too, for one output either way.
disable_created_metrics()

REGISTRY = CollectorRegistry()

ITEMS_IN = Counter("threatline_items_in", "Posts and tips consumed by the classify stages, counted when the "
                   "batch is committed (a batch replayed after a crash counts again).", ["kind"], registry=REGISTRY)
ITEMS_SCORED = Counter("threatline_items_scored", "Posts and tips the classifier scored, by severity "
                       "(none: not flagged).", ["kind", "severity"], registry=REGISTRY)
ITEMS_FLAGGED = Counter("threatline_items_flagged", "Scored posts and tips flagged (severity P1, P2 or P3).",
                        ["kind", "severity", "category"], registry=REGISTRY)
DEAD_LETTERS = Counter("threatline_dead_letters", "Messages a stage sent to the dlq topic.", ["stage"],
                       registry=REGISTRY)
MODEL = Gauge("threatline_model_info", "1 for the model version a classify stage scores with now, 0 for "
              "one it scored with before a reload.", ["stage", "version"], registry=REGISTRY,
              multiprocess_mode="livemax")
PAGES_SENT = Counter("threatline_pages_sent", "Pages delivered to a person, by the channel type that took it.",
                     ["severity", "channel"], registry=REGISTRY)
PAGES_FAILED = Counter("threatline_pages_failed", "Pages that could not be delivered to a person they were "
                       "meant for: every channel failed, or the person has none.", ["severity"], registry=REGISTRY)
PAGES_ESCALATED = Counter("threatline_pages_escalated", "Unacknowledged pages the escalation sweep moved to "
                          "the next person in the chain.", ["severity"], registry=REGISTRY)
ACK_SECONDS = Histogram("threatline_page_ack_seconds", "Time from an alert being raised to its first "
                        "acknowledgement.", ["severity"], registry=REGISTRY,
                        buckets=(30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400))

# Read when scraped (PipelineState): name -> (help, labels).
SCRAPED: dict[str, tuple[str, tuple[str, ...]]] = {
    "threatline_consumer_lag": ("Messages on a stage's input topic its consumer group has not committed.",
                                ("stage",)),
    "threatline_dead_letters_waiting": ("Dead letters retained on the dlq topic and never replayed.", ()),
    "threatline_stage_heartbeat_timestamp_seconds": ("When a stage process last wrote its health file "
                                                     "(epoch seconds).", ("stage",)),
    "threatline_stage_state": ("1 for the state a stage's health file names: running, retrying or stopped; "
                               "never_started for a stage with no health file in the data dir.",
                               ("stage", "state")),
    "threatline_metrics_source_up": ("1 if this scrape could read the source (bus_lag, dead_letters, "
                                     "stage_health), 0 if it failed: its metrics are missing from this scrape.",
                                     ("source",)),
}
STAGE_STATES = ("running", "retrying", "stopped", "never_started")
_models: dict[str, str] = {}


# --- call sites --------------------------------------------------------------------------------


def committed(stage: str, consumed: int, outcome: Any) -> None:
    """A stage committed a batch (pipeline/stages.py): its dead letters and, for the classify
    stages, what came in and how it was scored (``outcome.scored``)."""
    if outcome.dead:
        DEAD_LETTERS.labels(stage).inc(len(outcome.dead))
    if stage not in ("classify", "classify-tips"):
        return
    ITEMS_IN.labels("tip" if stage == "classify-tips" else "post").inc(consumed)
    for item in outcome.scored:
        ITEMS_SCORED.labels(item.kind, item.severity).inc()
        if item.flagged:
            ITEMS_FLAGGED.labels(item.kind, item.severity, item.category).inc()
    if outcome.scored:
        model_in_use(stage, outcome.scored[-1].model_version)  # a hot reload shows here


def model_in_use(stage: str, version: str) -> None:
    previous = _models.get(stage)
    if previous == version:
        return
    if previous is not None:
        MODEL.labels(stage, previous).set(0)
    MODEL.labels(stage, version).set(1)
    _models[stage] = version


def delivered(severity: str, deliveries: Iterable[Any]) -> None:
    """One round of deliveries of a page (pipeline/alerts/pager.py), one per person tried."""
    for delivery in deliveries:
        if delivery.status == "delivered":
            PAGES_SENT.labels(severity, delivery.channel or "unknown").inc()
        else:
            PAGES_FAILED.labels(severity).inc()


def escalated(severity: str) -> None:
    PAGES_ESCALATED.labels(severity).inc()


def acknowledged(severity: str, seconds: float | None, *, first: bool) -> None:
    """An acknowledgement; only the first one of an alert has a time to acknowledge."""
    if first and seconds is not None:
        ACK_SECONDS.labels(severity).observe(seconds)


# --- read when scraped -------------------------------------------------------------------------


class PipelineState:
    """The SCRAPED metrics, from callables the review server gives it (pipeline/review/metrics.py):
    ``lag()`` -> {stage: messages}, ``dead_letters()`` -> count, ``health()`` -> StageHealth list;
    ``stages``: the streaming stages that should be heartbeating (one with no health file at all
    is ``never_started``, which no heartbeat age can show). A source that fails is reported by
    threatline_metrics_source_up and leaves out only its own metrics."""

    def __init__(self, lag: Callable[[], dict[str, int]], dead_letters: Callable[[], int],
                 health: Callable[[], Sequence[Any]], stages: Sequence[str] = ()):
        self.sources = {"bus_lag": lag, "dead_letters": dead_letters, "stage_health": health}
        self.stages = tuple(stages)

    def collect(self) -> Iterable[Metric]:
        families = {name: GaugeMetricFamily(name, text, labels=list(labels)) for name, (text, labels) in SCRAPED.items()}
        up = families["threatline_metrics_source_up"]
        for source, read in self.sources.items():
            try:
                value = read()
            except Exception as exc:  # noqa: BLE001 - a scrape must answer whatever one source raises
                log.warning("metrics: cannot read %s: %s", source, " ".join(str(exc).split())[:300])
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            if source == "bus_lag":
                for stage, lag in value.items():
                    families["threatline_consumer_lag"].add_metric([stage], lag)
            elif source == "dead_letters":
                families["threatline_dead_letters_waiting"].add_metric([], value)
            else:
                states = families["threatline_stage_state"]
                for health in value:
                    families["threatline_stage_heartbeat_timestamp_seconds"].add_metric([health.stage], health.heartbeat)
                    for state in STAGE_STATES:
                        states.add_metric([health.stage, state], float(health.state == state))
                for stage in self.stages:
                    if not any(belongs(health, stage) for health in value):
                        for state in STAGE_STATES:
                            states.add_metric([stage, state], float(state == "never_started"))
        return families.values()


# --- exposition --------------------------------------------------------------------------------


class _Scrape:
    def __init__(self, extra: Sequence[Any], directory: str | None):
        self.extra, self.directory = extra, directory

    def collect(self) -> Iterable[Metric]:
        yield from process_metrics(self.directory)
        for collector in self.extra:
            yield from collector.collect()


def exposition(*extra: Any, directory: str | Path | None = None) -> bytes:
    """The text format of the counted metrics (added up over every process writing to
    ``directory``, default $PROMETHEUS_MULTIPROC_DIR, else this process's) and of ``extra``
    collectors such as a PipelineState."""
    directory = directory or os.environ.get(MULTIPROC_ENV)
    return generate_latest(_Scrape(extra, str(directory) if directory else None))  # type: ignore[arg-type]


def process_metrics(directory: str | None) -> Iterable[Metric]:
    if not directory:
        yield from REGISTRY.collect()
        return
    _forget_dead_processes(directory)
    for family in MultiProcessCollector(None, path=directory).collect():
        if family.name.startswith(PREFIX):  # Prefect's processes share the directory too
            yield family


def _forget_dead_processes(directory: str) -> None:
    """Drop the gauges of processes that have exited (a restarted stage's old model version)."""
    for path in Path(directory).glob("gauge_live*_*.db"):
        try:
            pid = int(path.stem.rsplit("_", 1)[1])
        except ValueError:
            continue
        if not alive(pid):
            mark_process_dead(pid, directory)


def metric_names() -> set[str]:
    """Every family name this module defines (the shipped rules and dashboard may name no other)."""
    return {family.name for family in REGISTRY.collect()} | set(SCRAPED)
