"""Consume → process → produce loops for the classify, index and alert stages.

One runner gives every stage the same guarantees (DESIGN.md §1):
- at-least-once: a batch's input offsets are committed only after its outputs (bus messages,
  store writes) are durable; a crash before the commit means the batch is processed again, and
  every stage is idempotent on the item id, so a replay duplicates nothing;
- two kinds of failure. *Poison* (cannot be parsed, unknown ``schema_version``, invalid) goes to
  ``dlq`` with the reason and the original bytes, and the stream goes on. *Transient* (bus or
  store down or not set up, a channel failing, and in the index and alert stages any error
  nobody foresaw) makes the runner back off and retry the same batch, committing nothing, and
  raise an alarm after ``stuck_alarm_s``: a page that is late is better than one that is lost;
- a stop request (SIGTERM, Ctrl-C) ends any wait at once and lets a batch in hand finish and
  commit, then returns.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from pipeline import metrics
from pipeline.alerts.pager import Pager
from pipeline.bus import Bus, BusError, Message, OutMessage
from pipeline.classify import scored_items
from pipeline.nlp.verdict import Classifier
from pipeline.schema import RawPost, ScoredItem, Tip, item_document
from pipeline.stage_health import HealthFile
from pipeline.store import Store, StoreError

log = logging.getLogger(__name__)

# StoreError covers "not set up" as well as "unavailable": both are fixed by the operator or by
# time, never by dropping the message.
TRANSIENT = (StoreError, BusError)
POISON = (ValidationError, ValueError, UnicodeDecodeError)


# The topic each stage consumes: one place, for the stages and for whoever asks their lag.
INPUT_TOPIC = {"classify-tips": "tips.raw", "classify": "posts.raw", "index": "items.flagged", "alert": "items.flagged"}


class Poison(Exception):
    """This message can never be processed; it belongs in the dead-letter topic."""


class Retry(Exception):
    """Process this batch again later: an unforeseen error where losing the message costs more
    than waiting (the alert stage: a pager bug must not turn into a silent miss)."""


@dataclass
class BatchOutcome:
    out: list[OutMessage] = field(default_factory=list)
    dead: list[tuple[Message, str]] = field(default_factory=list)
    written: int = 0  # store documents created (index) or alerts raised (alert)
    scored: list[ScoredItem] = field(default_factory=list)  # the classify stages' verdicts


@dataclass
class StageReport:
    stage: str
    consumed: int = 0
    produced: int = 0
    dead_lettered: int = 0
    written: int = 0
    batches: int = 0
    retries: int = 0
    stopped_by: str = ""

    def add(self, batch: Sequence[Message], outcome: BatchOutcome) -> None:
        self.consumed += len(batch)
        self.produced += len(outcome.out)
        self.dead_lettered += len(outcome.dead)
        self.written += outcome.written
        self.batches += 1


class Stage(ABC):
    """A stage turns a batch of input messages into outputs. ``handle`` may raise a TRANSIENT
    error or Retry (the whole batch is retried) and reports poison messages as ``dead``."""

    name: str
    inputs: tuple[str, ...]
    # What an error nobody foresaw does to a message: "retry" the batch or "dead-letter" it.
    unforeseen: str = "retry"

    @abstractmethod
    def handle(self, batch: Sequence[Message]) -> BatchOutcome: ...

    def each(self, batch: Sequence[Message], work: Callable[[Message], None]) -> list[tuple[Message, str]]:
        """Run ``work`` per message; poison dead-letters that message, transient errors retry the batch."""
        dead = []
        for message in batch:
            try:
                work(message)
            except TRANSIENT:
                raise
            except (Poison, *POISON) as exc:
                dead.append((message, _one_line(exc)))
            except Exception as exc:
                log.exception("stage %s: unexpected error on %s@%s", self.name, message.topic, message.offset)
                if self.unforeseen == "retry":
                    raise Retry(f"{type(exc).__name__}: {_one_line(exc)}") from exc
                dead.append((message, f"{type(exc).__name__}: {_one_line(exc)}"))
        return dead


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        # pydantic's own text quotes the input, which is a post's or a tip's words: the reason is
        # logged and kept in the dlq header, so it names the fields and the problems only.
        text = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}"
                         for e in exc.errors(include_url=False, include_input=False))
        return f"{exc.title}: {text}"[:500]
    text = str(exc).replace("\n", " ").strip()
    return text[:500] or type(exc).__name__


class ClassifyStage(Stage):
    """Scores posts (stage ``classify``) or tips (stage ``classify-tips``). Tips get a consumer of
    their own so a tip never waits behind a backlog of crawled posts."""

    # A classifier bug on one odd post must not stall every tip behind it: that post goes to
    # dlq (logged at ERROR, replayable once fixed) and the stream goes on.
    unforeseen = "dead-letter"

    def __init__(self, classifier: Classifier, topic: Callable[[str], str], *, tips: bool = False):
        self.classifier = classifier
        self.topic = topic
        self.name = "classify-tips" if tips else "classify"
        self.inputs = (topic(INPUT_TOPIC[self.name]),)
        metrics.model_in_use(self.name, classifier.version)

    def handle(self, batch: Sequence[Message]) -> BatchOutcome:
        outcome = BatchOutcome()
        decoded: list[RawPost | Tip] = []

        def decode(message: Message) -> None:
            is_tip = message.topic == self.topic("tips.raw")
            decoded.append(Tip.from_bytes(message.value) if is_tip else RawPost.from_bytes(message.value))

        outcome.dead = self.each(batch, decode)
        # One model call per batch: the trained classifier vectorises a batch at once.
        outcome.scored = scored_items(decoded, self.classifier)
        for item in outcome.scored:
            value = item.to_bytes()
            outcome.out.append(OutMessage(self.topic("items.scored"), item.id, value))
            if item.flagged:
                outcome.out.append(OutMessage(self.topic("items.flagged"), item.id, value))
        return outcome


class IndexStage(Stage):
    name = "index"

    def __init__(self, store: Store, topic: Callable[[str], str]):
        self.store = store
        self.inputs = (topic(INPUT_TOPIC[self.name]),)

    def handle(self, batch: Sequence[Message]) -> BatchOutcome:
        docs: list[dict] = []
        dead = self.each(batch, lambda m: docs.append(item_document(ScoredItem.from_bytes(m.value))))
        written = self.store.index_items(docs) if docs else 0
        return BatchOutcome(dead=dead, written=written)


class AlertStage(Stage):
    """Pages whoever the rules and the roster name for each flagged item (pipeline.alerts.pager).
    The store's create-once alert record is the idempotency key: a replayed item finds its alert
    and does not page again."""

    name = "alert"

    def __init__(self, pager: Pager, topic: Callable[[str], str]):
        self.pager = pager
        self.topic = topic
        self.inputs = (topic(INPUT_TOPIC[self.name]),)

    def handle(self, batch: Sequence[Message]) -> BatchOutcome:
        outcome = BatchOutcome()

        def work(message: Message) -> None:
            item = ScoredItem.from_bytes(message.value)
            outcome.written += len(self.pager.page(item))
            # Every alert of the item as it stands, not only the ones sent just now: a replay
            # after a crash re-publishes what the crash kept off the topic (at-least-once, keyed
            # by alert id so a reader drops the repeat).
            for alert in self.pager.alerts_of(item):
                outcome.out.append(OutMessage(self.topic("alerts"), alert.id, alert.to_bytes()))

        outcome.dead = self.each(batch, work)
        return outcome


class StageRunner:
    """Drives one stage against the bus: as a long-lived consumer (``threatline run``,
    ``threatline stage --forever``), or bounded (until idle with no lag left, the time budget, or
    a stop request) for tests and one-off catch-ups."""

    def __init__(
        self,
        stage: Stage,
        bus: Bus,
        *,
        dlq_topic: str,
        group: str | None = None,
        batch_size: int = 200,
        poll_timeout_s: float = 1.0,
        idle_polls_before_exit: int | None = 2,
        time_budget_s: float | None = 300.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        stuck_alarm_s: float = 120.0,
        health: HealthFile | None = None,
        stop: threading.Event | None = None,
    ):
        self.stage = stage
        self.bus = bus
        self.dlq_topic = dlq_topic
        self.group = group or f"threatline-{stage.name}"
        self.batch_size = batch_size
        self.poll_timeout_s = poll_timeout_s
        self.idle_polls_before_exit = idle_polls_before_exit
        self.time_budget_s = time_budget_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.stuck_alarm_s = stuck_alarm_s
        self.health = health
        self.stop = stop or threading.Event()

    def run(self) -> StageReport:
        report = StageReport(self.stage.name)
        try:
            consumer = self._until_done(lambda: self.bus.consumer(self.group, self.stage.inputs, self.stop), report)
            if consumer is not None:
                with consumer:
                    self._consume(consumer, report)
        finally:
            report.stopped_by = report.stopped_by or "stop requested"
            self._beat("stopped", report)
        log.info("stage %s: %s", self.stage.name, report, extra={"stage": self.stage.name, "outcome": "stopped"})
        return report

    def _consume(self, consumer, report: StageReport) -> None:
        started = time.monotonic()
        idle = 0

        def commit() -> bool:
            consumer.commit()
            return True

        while not self.stop.is_set():
            if self.time_budget_s is not None and time.monotonic() - started >= self.time_budget_s:
                report.stopped_by = "time budget"
                return
            batch = self._until_done(lambda: consumer.poll(self.batch_size, self.poll_timeout_s), report)
            if batch is None:
                return
            self._beat("running", report)
            if not batch:
                idle += 1
                if self.idle_polls_before_exit is not None and idle >= self.idle_polls_before_exit:
                    if self._nothing_left():
                        report.stopped_by = "idle"
                        return
                    idle = 0  # another member's partitions are on their way to us: wait for them
                continue
            idle = 0
            outcome = self._until_done(lambda: self._process(batch), report)
            if outcome is None or self._until_done(commit, report) is None:
                return  # stopped while a dependency was down: what is not committed comes again
            report.add(batch, outcome)
            metrics.committed(self.stage.name, len(batch), outcome)

    def _nothing_left(self) -> bool:
        try:
            return self.bus.lag(self.group, self.stage.inputs) == 0
        except BusError:
            return False

    def _process(self, batch: Sequence[Message]) -> BatchOutcome:
        outcome = self.stage.handle(batch)
        messages = [*outcome.out, *(self._dead_letter(m, why) for m, why in outcome.dead)]
        if messages:
            self.bus.publish(messages)
        return outcome

    def _until_done(self, step: Callable[[], object], report: StageReport):
        """``step()``, retried with backoff while it fails transiently; None if stopped meanwhile."""
        delay = self.backoff_initial_s
        first_failure = None
        alarmed_at = None
        while True:
            try:
                result = step()
                if first_failure is not None:
                    log.warning("stage %s: recovered after %.0fs of retries", self.stage.name,
                                time.monotonic() - first_failure)
                return result
            except (*TRANSIENT, Retry) as exc:
                now = time.monotonic()
                first_failure = first_failure or now
                report.retries += 1
                reason = _one_line(exc)
                self._beat("retrying", report, reason=reason)
                if now - first_failure >= self.stuck_alarm_s and (alarmed_at is None or now - alarmed_at >= self.stuck_alarm_s):
                    alarmed_at = now
                    log.error("stage %s: stuck for %.0fs, still retrying (nothing committed, nothing lost): %s",
                              self.stage.name, now - first_failure, reason)
                else:
                    log.warning("stage %s: %s; retrying in %.1fs (nothing committed)", self.stage.name, reason, delay)
                if self.stop.wait(delay):
                    return None
                delay = min(delay * 2, self.backoff_max_s)

    def _beat(self, state: str, report: StageReport, *, reason: str = "") -> None:
        if self.health is not None:
            try:
                self.health.update(state, reason=reason, consumed=report.consumed, dead_lettered=report.dead_lettered)
            except OSError as exc:  # health is for operators; it must never stop the stream
                log.debug("stage %s: health file not written: %s", self.stage.name, exc)

    def _dead_letter(self, message: Message, reason: str) -> OutMessage:
        log.warning("stage %s: %s@%s to dlq: %s", self.stage.name, message.topic, message.offset, reason,
                    extra={"stage": self.stage.name, "item_id": message.key, "outcome": "dead_letter"})
        headers = {
            "dlq.reason": reason, "dlq.stage": self.stage.name, "dlq.topic": message.topic,
            "dlq.partition": str(message.partition), "dlq.offset": str(message.offset),
        }
        return OutMessage(self.dlq_topic, message.key or f"{message.topic}:{message.offset}", message.value, headers)
