"""Builds the bus, the store, the classifier and the stages from one Settings object.

Every entrypoint (CLI, Prefect flows, web apps) goes through here, so a backend switch in config
changes every process the same way.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

from pipeline.alerts.pager import Pager, PagerPolicy
from pipeline.alerts.roster import Roster
from pipeline.bus import TOPICS, Bus
from pipeline.config import ConfigError, Settings
from pipeline.nlp.lexicon import LexiconClassifier
from pipeline.nlp.verdict import Classifier, Thresholds
from pipeline.private_files import private_dir
from pipeline.stage_health import HealthFile
from pipeline.stages import INPUT_TOPIC, AlertStage, ClassifyStage, IndexStage, Stage, StageRunner
from pipeline.store import Store

STAGE_NAMES = ("classify-tips", "classify", "index", "alert")


def build_bus(settings: Settings) -> Bus:
    if settings.bus.backend == "kafka":
        from pipeline.bus.kafka import KafkaBus

        return KafkaBus.from_config(settings.bus)
    from pipeline.bus.embedded import EmbeddedBus

    private_dir(settings.data_dir)
    return EmbeddedBus(settings.data_dir / settings.bus.sqlite_file)


def build_store(settings: Settings) -> Store:
    if settings.store.backend == "elasticsearch":
        from pipeline.store.elasticsearch import ElasticsearchStore

        return ElasticsearchStore.from_config(settings)
    from pipeline.store.embedded import EmbeddedStore

    private_dir(settings.data_dir)
    return EmbeddedStore(settings.data_dir / settings.store.sqlite_file)


def build_classifier(settings: Settings) -> Classifier:
    c = settings.classify
    if c.model == "trained":  # the champion, followed across promotions without a restart
        from pipeline.nlp.reloading import ReloadingClassifier

        return ReloadingClassifier(settings.config_path(c.models_dir), settings.config_path(c.schools_file),
                                   check_every_s=c.reload_check_s)
    return LexiconClassifier.from_dirs(
        settings.config_path(c.lexicon_dir),
        settings.config_path(c.schools_file),
        Thresholds(c.p1_threshold, c.p2_threshold, c.p3_threshold),
    )


def district_schools(settings: Settings) -> list[str]:
    """School names as rosters, rules and the tip form spell them (the gazetteer's ``name``)."""
    from pipeline.nlp.gazetteer import school_names

    return school_names(settings.config_path(settings.classify.schools_file))


def build_roster(settings: Settings) -> Roster:
    from pipeline.alerts.roster import load_roster

    return load_roster(settings.config_path(settings.alerts.roster_file), district_schools(settings),
                       default_timezone=settings.general.timezone)


def build_pager(settings: Settings, store: Store, **overrides) -> Pager:
    """The pager with the configured roster and rules; ``overrides`` (clock, notify, sleep) are
    for tests and benchmarks."""
    from datetime import timedelta

    from pipeline.alerts.ack_secret import ack_secrets
    from pipeline.alerts.rules import load_rules

    a = settings.alerts
    try:
        secrets = ack_secrets(settings)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    policy = PagerPolicy(
        ack_secrets=secrets, console_url=a.console_url,
        ack_link_ttl=timedelta(seconds=a.ack_link_ttl_s), dedup_window=timedelta(seconds=a.dedup_window_s),
        unreached_retry=timedelta(seconds=a.unreached_retry_s),
        delivery_retries=a.delivery_retries, delivery_backoff_s=a.delivery_backoff_s)
    return Pager(store, build_roster(settings), load_rules(settings.config_path(a.rules_file), district_schools(settings)),
                 policy, **overrides)


@dataclass
class Runtime:
    settings: Settings
    bus: Bus
    store: Store
    stop: threading.Event = field(default_factory=threading.Event)
    _classifier: Classifier | None = None
    _pager: Pager | None = None

    @property
    def classifier(self) -> Classifier:
        if self._classifier is None:
            self._classifier = build_classifier(self.settings)
        return self._classifier

    @property
    def pager(self) -> Pager:
        if self._pager is None:
            self._pager = build_pager(self.settings, self.store)
        return self._pager

    def setup(self) -> None:
        """Create every topic, table and index that is missing (idempotent). `run`, `serve` and
        `stage` call it at start, so a brand-new data dir needs no `threatline setup` first."""
        self.bus.setup([self.settings.topic(t) for t in TOPICS])
        self.store.setup()

    def stage(self, name: str) -> Stage:
        topic = self.settings.topic
        if name in ("classify", "classify-tips"):
            return ClassifyStage(self.classifier, topic, tips=name == "classify-tips")
        if name == "index":
            return IndexStage(self.store, topic)
        if name == "alert":
            return AlertStage(self.pager, topic)
        raise ValueError(f"unknown stage {name!r}; expected one of {', '.join(STAGE_NAMES)}")

    def group(self, name: str) -> str:
        # The prefix keeps two deployments on one Kafka cluster out of each other's groups.
        return f"{self.settings.bus.topic_prefix}threatline-{name}"

    def lag(self, name: str) -> int:
        """Messages stage ``name`` has not committed yet (no stage or classifier is built)."""
        return self.bus.lag(self.group(name), [self.settings.topic(INPUT_TOPIC[name])])

    def runner(self, name: str, *, until_idle: bool = True, time_budget_s: float | None = None,
               replica: int = 1) -> StageRunner:
        """``replica`` > 1: another consumer of the same group, with a health file of its own."""
        s = self.settings.stages
        return StageRunner(
            self.stage(name), self.bus,
            dlq_topic=self.settings.topic("dlq"),
            group=self.group(name),
            stuck_alarm_s=s.stuck_alarm_s,
            health=HealthFile(self.settings.data_dir, name if replica == 1 else f"{name}-{replica}"),
            batch_size=s.batch_size,
            poll_timeout_s=s.poll_timeout_s,
            idle_polls_before_exit=s.idle_polls_before_exit if until_idle else None,
            time_budget_s=time_budget_s if time_budget_s is not None else (s.time_budget_s if until_idle else None),
            backoff_initial_s=s.backoff_initial_s,
            backoff_max_s=s.backoff_max_s,
            stop=self.stop,
        )

    @contextmanager
    def stop_on_signals(self):
        """SIGTERM and Ctrl-C ask the stages to finish the batch in hand, commit, and stop.
        Only the main thread may install handlers; elsewhere the caller's handling stands."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        for sig in previous:
            signal.signal(sig, lambda *_: self.stop.set())
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def close(self) -> None:
        self.bus.close()
        self.store.close()


def report_inputs(rt: Runtime):
    """What `threatline report` and the monthly report read: the runtime's store, bus and champion."""
    from pipeline.config import read_yaml
    from pipeline.report.service import ReportInputs

    s, c = rt.settings, rt.settings.classify
    terms = [str(t) for t in read_yaml(s.config_path(c.identity_file)).get("terms", [])]
    return ReportInputs(store=rt.store, bus=rt.bus, scored_topic=s.topic("items.scored"), classifier=rt.classifier,
                        identity_terms=terms, models_dir=s.config_path(c.models_dir),
                        retention_days=s.bus.raw_retention_days, min_count=s.report.min_count)


@contextmanager
def runtime(settings: Settings):
    bus = build_bus(settings)
    try:
        store = build_store(settings)
    except BaseException:
        bus.close()
        raise
    rt = Runtime(settings, bus, store)
    try:
        yield rt
    finally:
        rt.close()
