"""Consume → process → produce loops for the classify, index and alert stages.

One runner gives every stage the same guarantees (DESIGN.md §1):
- at-least-once: a batch's input offsets are committed only after its outputs (bus messages,
  store writes) are durable; a crash before the commit means the batch is processed again, and
  every stage is idempotent on the item id, so a replay duplicates nothing;
- poison messages go to ``dlq`` with the reason and the original bytes; the stream goes on;
- a store or bus that is down makes the runner back off and retry the same batch, committing
  nothing until it succeeds;
- a stop request (SIGTERM, Ctrl-C) lets the batch in hand finish and commit, then returns.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from pipeline.alerts.pager import Pager
from pipeline.bus import Bus, BusError, Message, OutMessage
from pipeline.classify import scored_items
from pipeline.nlp.verdict import Classifier
from pipeline.schema import RawPost, ScoredItem, Tip, item_document
from pipeline.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

TRANSIENT = (StoreUnavailable, BusError)


class Poison(Exception):
    """This message can never be processed; it belongs in the dead-letter topic."""


@dataclass
class BatchOutcome:
    out: list[OutMessage] = field(default_factory=list)
    dead: list[tuple[Message, str]] = field(default_factory=list)
    written: int = 0  # store documents created (index) or alerts raised (alert)


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
    error (the whole batch is retried) and reports per-message failures as ``dead``."""

    name: str
    inputs: tuple[str, ...]

    @abstractmethod
    def handle(self, batch: Sequence[Message]) -> BatchOutcome: ...

    def each(self, batch: Sequence[Message], work: Callable[[Message], None]) -> list[tuple[Message, str]]:
        """Run ``work`` per message; anything but a transient error dead-letters that message."""
        dead = []
        for message in batch:
            try:
                work(message)
            except TRANSIENT:
                raise
            except (Poison, ValidationError, ValueError) as exc:
                dead.append((message, _one_line(exc)))
            except Exception as exc:  # a bug must not stall the stream; the DLQ keeps the evidence
                log.exception("stage %s: unexpected error on %s@%s", self.name, message.topic, message.offset)
                dead.append((message, f"{type(exc).__name__}: {_one_line(exc)}"))
        return dead


def _one_line(exc: Exception) -> str:
    text = str(exc).replace("\n", " ").strip()
    return text[:500] or type(exc).__name__


class ClassifyStage(Stage):
    """Scores posts (stage ``classify``) or tips (stage ``classify-tips``). Tips get a consumer of
    their own so a tip never waits behind a backlog of crawled posts."""

    def __init__(self, classifier: Classifier, topic: Callable[[str], str], *, tips: bool = False):
        self.classifier = classifier
        self.topic = topic
        self.name = "classify-tips" if tips else "classify"
        self.inputs = (topic("tips.raw"),) if tips else (topic("posts.raw"),)

    def handle(self, batch: Sequence[Message]) -> BatchOutcome:
        outcome = BatchOutcome()
        decoded: list[RawPost | Tip] = []

        def decode(message: Message) -> None:
            is_tip = message.topic == self.topic("tips.raw")
            decoded.append(Tip.from_bytes(message.value) if is_tip else RawPost.from_bytes(message.value))

        outcome.dead = self.each(batch, decode)
        # One model call per batch: the trained classifier vectorises a batch at once.
        for item in scored_items(decoded, self.classifier):
            value = item.to_bytes()
            outcome.out.append(OutMessage(self.topic("items.scored"), item.id, value))
            if item.flagged:
                outcome.out.append(OutMessage(self.topic("items.flagged"), item.id, value))
        return outcome


class IndexStage(Stage):
    name = "index"

    def __init__(self, store: Store, topic: Callable[[str], str]):
        self.store = store
        self.inputs = (topic("items.flagged"),)

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
        self.inputs = (topic("items.flagged"),)

    def handle(self, batch: Sequence[Message]) -> BatchOutcome:
        outcome = BatchOutcome()

        def work(message: Message) -> None:
            for alert in self.pager.page(ScoredItem.from_bytes(message.value)):
                outcome.written += 1
                outcome.out.append(OutMessage(self.topic("alerts"), alert.id, alert.to_bytes()))

        outcome.dead = self.each(batch, work)
        return outcome


class StageRunner:
    """Drives one stage against the bus as a bounded consumer: until idle, the time budget, or a
    stop request. ``threatline run`` and the Prefect flows re-run it continuously."""

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
        self.stop = stop or threading.Event()

    def run(self) -> StageReport:
        report = StageReport(self.stage.name)
        started = time.monotonic()
        idle = 0
        with self.bus.consumer(self.group, self.stage.inputs) as consumer:
            while not self.stop.is_set():
                if self.time_budget_s is not None and time.monotonic() - started >= self.time_budget_s:
                    report.stopped_by = "time budget"
                    break
                batch = consumer.poll(self.batch_size, self.poll_timeout_s)
                if not batch:
                    idle += 1
                    if self.idle_polls_before_exit is not None and idle >= self.idle_polls_before_exit:
                        report.stopped_by = "idle"
                        break
                    continue
                idle = 0
                outcome = self._process_until_durable(batch, report)
                if outcome is None:  # stopped while waiting for a dependency: commit nothing
                    break
                consumer.commit()
                report.add(batch, outcome)
            report.stopped_by = report.stopped_by or "stop requested"
        log.info("stage %s: %s", self.stage.name, report)
        return report

    def _process_until_durable(self, batch: Sequence[Message], report: StageReport) -> BatchOutcome | None:
        delay = self.backoff_initial_s
        while True:
            try:
                outcome = self.stage.handle(batch)
                messages = [*outcome.out, *(self._dead_letter(m, why) for m, why in outcome.dead)]
                if messages:
                    self.bus.publish(messages)
                return outcome
            except TRANSIENT as exc:
                report.retries += 1
                log.warning("stage %s: %s; retrying in %.1fs (nothing committed)", self.stage.name, _one_line(exc), delay)
                if self.stop.wait(delay):
                    return None
                delay = min(delay * 2, self.backoff_max_s)

    def _dead_letter(self, message: Message, reason: str) -> OutMessage:
        log.warning("stage %s: %s@%s to dlq: %s", self.stage.name, message.topic, message.offset, reason)
        headers = {
            "dlq.reason": reason, "dlq.stage": self.stage.name, "dlq.topic": message.topic,
            "dlq.partition": str(message.partition), "dlq.offset": str(message.offset),
        }
        return OutMessage(self.dlq_topic, message.key or f"{message.topic}:{message.offset}", message.value, headers)
