"""The bus port: durable topics with consumer-group offsets.

Contract (both adapters, tests/contract/test_bus_contract.py):
- ``publish`` returns only when every message is durable (SQLite commit / Kafka acks=all).
- A consumer sees each topic's messages in publish order; ``poll`` hands out messages past the
  group's position, ``commit`` makes everything polled so far permanent for the group.
- A consumer that stops without committing leaves its messages to be delivered again
  (at-least-once), so processing must be idempotent on ``key`` (the item id).
- ``scan`` reads what a topic retains now, from its start, without a consumer group: it moves no
  group's offsets and creates no group (``threatline dlq`` reads the dead letters this way).
- A message read back carries ``timestamp``: when it was published (epoch seconds).
- ``check_writable`` raises ``BusError`` unless a publish to ``topics`` could be made durable now
  (embedded: a real commit to the log file; Kafka: the brokers answer and every partition of
  every topic has a leader). It publishes nothing a consumer would see (readiness, /readyz).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

# Every topic carries a post's or tip's words (the text itself, scored and flagged items, alert
# excerpts, dead letters' original bytes), so bus.raw_retention_days applies to all of them.
TOPICS = ("posts.raw", "tips.raw", "items.scored", "items.flagged", "alerts", "dlq")


class BusError(Exception):
    """The bus could not do what was asked (unreachable, not durable, misconfigured)."""


@dataclass(frozen=True)
class OutMessage:
    topic: str
    key: str
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)
    # When it was published, in epoch seconds (Kafka: the record's timestamp); None if unknown.
    timestamp: float | None = None


class Consumer(ABC):
    @abstractmethod
    def poll(self, max_records: int, timeout_s: float) -> list[Message]:
        """Messages past this consumer's position; empty after ``timeout_s`` if none arrive."""

    @abstractmethod
    def commit(self) -> None:
        """Make the position after everything polled so far the group's committed offset."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Bus(ABC):
    @abstractmethod
    def setup(self, topics: Iterable[str]) -> None:
        """Create topics if missing (idempotent)."""

    @abstractmethod
    def publish(self, messages: Sequence[OutMessage]) -> None:
        """Write messages durably; raise BusError if that cannot be confirmed."""

    @abstractmethod
    def consumer(self, group: str, topics: Sequence[str], stop: threading.Event | None = None) -> Consumer:
        """A consumer in ``group``; a set ``stop`` event ends any wait inside ``poll`` early
        (a Kafka group join can take tens of seconds)."""

    @abstractmethod
    def lag(self, group: str, topics: Sequence[str]) -> int:
        """Messages not yet committed by ``group`` on ``topics``."""

    @abstractmethod
    def check_writable(self, topics: Sequence[str]) -> None:
        """Raise ``BusError`` unless publishing to ``topics`` would succeed now (no message sent)."""

    @abstractmethod
    def scan(self, topic: str, since_ts: float | None = None, limit: int | None = None) -> Iterator[Message]:
        """``topic``'s retained messages from its start up to its end as of the call, in offset
        order per partition, without a consumer group (no offsets read, moved or created).
        ``since_ts`` (epoch seconds, inclusive) skips older messages, ``limit`` stops after that
        many. A topic that does not exist yields nothing; messages published after the call are
        not included."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
