"""Dead letters: list, show and replay what the stages put on the ``dlq`` topic (docs/operations.md).

A stage that cannot process a message (it does not parse, has an unknown ``schema_version``, fails
validation, or hits a bug) publishes it to ``dlq`` unchanged, with headers saying why
(``dlq.reason``), where (``dlq.stage``) and what it was (``dlq.topic``, ``dlq.partition``,
``dlq.offset``); see ``StageRunner._dead_letter`` in pipeline/stages.py. A dead letter is named
by its place on the dlq topic, ``partition:offset`` (``0:17``).

Reading goes through ``Bus.scan``: no consumer group, so looking never moves or creates offsets.
A replay republishes the original bytes with the original key to the original topic; the stages
are idempotent on the item id, so a replay never duplicates an index document or a page.

Every list, show and replay is audited under the item id ``dlq`` (``threatline audit --item dlq``).
The replay records are also the ledger of what was replayed: a dead letter with one is not
replayed again unless asked (``again``). A replay is recorded after its publish is durable, so a
failure in between can leave a replay unrecorded (replaying it again duplicates nothing), never a
dead letter marked replayed that was not. The audit keeps ids, topics, sizes and hashes, never a
dead letter's text or reason: reasons can quote the input.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.actors import os_user
from pipeline.bus import TOPICS, Bus, Message, OutMessage
from pipeline.config import Settings
from pipeline.schema import ReviewEvent, audit_document, utcnow
from pipeline.store import NotFound, Store
from pipeline.terminal import printable

LEDGER = "dlq"  # threat.item_id of every dead-letter audit record
ROLE = "admin"  # whoever runs `threatline dlq` holds the service's config and data dir
MAX_ACTOR = 200
PUBLISH_CHUNK = 200
_ID = re.compile(r"^(\d{1,9}):(\d{1,19})$")


class DeadLetterError(ValueError):
    """A request that cannot be carried out as asked (bad id, bad name, unknown topic)."""


def parse_id(value: str) -> tuple[int, int]:
    match = _ID.match(value.strip())
    if not match:
        raise DeadLetterError(f"dead letter id {value!r} must look like 0:17 (partition:offset on the dlq topic)")
    return int(match.group(1)), int(match.group(2))


def parse_since(value: str, zone: ZoneInfo) -> datetime:
    """An ISO date (midnight, local) or date and time (local unless it has an offset)."""
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), zone)
        when = datetime.fromisoformat(text)
    except ValueError:
        raise DeadLetterError(f"--since {value!r} must be an ISO date or date and time, "
                              "e.g. 2026-03-04 or 2026-03-04T08:30") from None
    return when if when.tzinfo else when.replace(tzinfo=zone)


def check_actor(value: str | None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DeadLetterError("say who you are with --by NAME: dead letters hold students' words")
    value = value.strip()
    if len(value) > MAX_ACTOR or any(ch.isspace() for ch in value) or printable(value, keep_lines=False) != value:
        raise DeadLetterError(f"--by must be a user id without spaces or control characters, at most {MAX_ACTOR} long")
    return value


@dataclass(frozen=True)
class Replay:
    by: str
    at: str


@dataclass(frozen=True)
class DeadLetter:
    id: str                # partition:offset on the dlq topic
    dlq_topic: str
    at: datetime | None    # when it was dead-lettered
    stage: str
    topic: str             # the original topic (full name, prefix included)
    source: str            # partition:offset on the original topic
    key: str | None
    reason: str            # untrusted: it can quote the input
    value: bytes           # the original bytes
    headers: dict[str, str]
    replays: tuple[Replay, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.dlq_topic}/{self.id}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.value).hexdigest()

    @property
    def size(self) -> int:
        return len(self.value)

    @property
    def replayed(self) -> bool:
        return bool(self.replays)

    def text(self) -> str:
        """The original value as text (invalid UTF-8 replaced), controls still raw."""
        return self.value.decode("utf-8", errors="replace")

    def summary(self) -> dict[str, Any]:
        """What a listing shows (no content)."""
        last = self.replays[-1] if self.replays else None
        return {"id": self.id, "at": self.at.isoformat() if self.at else None, "stage": self.stage,
                "topic": self.topic, "source": self.source, "key": self.key, "reason": self.reason,
                "size": self.size, "replayed": self.replayed, "replays": len(self.replays),
                "last_replay_by": last.by if last else None, "last_replay_at": last.at if last else None}


def dead_letter(message: Message, replays: dict[tuple[str, str], list[Replay]] | None = None) -> DeadLetter:
    h = message.headers
    letter = DeadLetter(
        id=f"{message.partition}:{message.offset}", dlq_topic=message.topic,
        at=datetime.fromtimestamp(message.timestamp, UTC) if message.timestamp is not None else None,
        stage=h.get("dlq.stage", ""), topic=h.get("dlq.topic", ""),
        source=f"{h.get('dlq.partition', '?')}:{h.get('dlq.offset', '?')}", key=message.key,
        reason=h.get("dlq.reason", ""), value=message.value, headers=dict(h))
    found = (replays or {}).get((letter.ref, letter.sha256))
    return replace(letter, replays=tuple(found)) if found else letter


@dataclass
class ReplayReport:
    replayed: list[DeadLetter] = field(default_factory=list)
    skipped: list[DeadLetter] = field(default_factory=list)   # replayed before; `again` to force
    refused: list[tuple[DeadLetter, str]] = field(default_factory=list)  # no pipeline topic to go back to


class DeadLetters:
    """The dead letters of one deployment (its bus, store and topic prefix)."""

    def __init__(self, bus: Bus, store: Store, settings: Settings, *, via: str = "cli", clock=utcnow):
        self.bus, self.store, self.settings, self.via, self.clock = bus, store, settings, via, clock
        self.topic = settings.topic("dlq")
        # Where a replay may send bytes back to: the pipeline's own topics, never one a header names.
        self.targets = {settings.topic(t) for t in TOPICS if t != "dlq"}

    # --- reading ---------------------------------------------------------------------------------

    def _replays(self) -> dict[tuple[str, str], list[Replay]]:
        found: dict[tuple[str, str], list[Replay]] = {}
        for record in self.store.audit_for(LEDGER):
            if (record.get("event") or {}).get("action") != "dlq_replay":
                continue
            details = record.get("details") or {}
            if details.get("dlq") and details.get("sha256"):
                who = (record.get("user") or {}).get("name") or ""
                found.setdefault((details["dlq"], details["sha256"]), []).append(
                    Replay(str(who), str(record.get("@timestamp") or "")))
        return found

    def all(self, *, topic: str | None = None, since: datetime | None = None) -> list[DeadLetter]:
        """Every dead letter on the topic (filtered), oldest first, with its replays. Not audited:
        callers audit what they show."""
        replays = self._replays()
        letters = [dead_letter(m, replays)
                   for m in self.bus.scan(self.topic, since_ts=since.timestamp() if since else None)]
        if topic:
            wanted = self.original_topic(topic)
            letters = [d for d in letters if d.topic == wanted]
        return sorted(letters, key=lambda d: (d.at or datetime.min.replace(tzinfo=UTC), parse_id(d.id)))

    def original_topic(self, name: str) -> str:
        """The full name of a pipeline topic given with or without the prefix."""
        for full in (name, self.settings.topic(name)):
            if full in self.targets:
                return full
        raise DeadLetterError(f"unknown topic {name!r}; expected one of "
                              f"{', '.join(t for t in TOPICS if t != 'dlq')} (with or without the prefix)")

    def waiting(self) -> int:
        """How many dead letters were never replayed (the console's banner; reads no content)."""
        return sum(not d.replayed for d in self.all())

    def find(self, dlq_id: str) -> DeadLetter:
        partition, offset = parse_id(dlq_id)
        for letter in self.all():
            if letter.id == f"{partition}:{offset}":
                return letter
        raise NotFound(f"no dead letter {partition}:{offset} on {self.topic} (it may have aged out: "
                       "bus.raw_retention_days)")

    # --- the audited operations --------------------------------------------------------------------

    def list(self, *, actor: str, topic: str | None = None, since: datetime | None = None,
             pending: bool = False) -> list[DeadLetter]:
        actor = check_actor(actor)
        letters = self.all(topic=topic, since=since)
        if pending:
            letters = [d for d in letters if not d.replayed]
        self._audit(actor, "dlq_list", [{"count": len(letters), "topic": topic,
                                         "since": since.isoformat() if since else None, "pending": pending}])
        return letters

    def show(self, dlq_id: str, *, actor: str) -> DeadLetter:
        """One dead letter with its content: a read of untrusted user content, audited like
        opening a flagged item."""
        actor = check_actor(actor)
        letter = self.find(dlq_id)
        self._audit(actor, "dlq_show", [self._about(letter)])
        return letter

    def replay(self, dlq_id: str | None = None, *, actor: str, topic: str | None = None,
               since: datetime | None = None, again: bool = False) -> ReplayReport:
        """Republish one dead letter, or every one not replayed yet (``topic``, ``since``
        narrow it); ``again`` replays those replayed before too."""
        actor = check_actor(actor)
        if dlq_id is not None and (topic or since):
            raise DeadLetterError("give a dead letter id or --topic/--since, not both")
        report = ReplayReport()
        chosen = [self.find(dlq_id)] if dlq_id is not None else self.all(topic=topic, since=since)
        ready = []
        for letter in chosen:
            if letter.replayed and not again:
                report.skipped.append(letter)
            elif letter.topic not in self.targets:
                report.refused.append((letter, f"its topic {letter.topic!r} is not one of this pipeline's"))
            else:
                ready.append(letter)
        for start in range(0, len(ready), PUBLISH_CHUNK):
            chunk = ready[start:start + PUBLISH_CHUNK]
            self.bus.publish([OutMessage(d.topic, d.key or f"{d.topic}:{d.source}", d.value,
                                         {"replay.of": d.ref}) for d in chunk])
            self._audit(actor, "dlq_replay", [{**self._about(d), "again": d.replayed} for d in chunk])
            report.replayed += chunk
        if not ready:  # a replay that moved nothing is on the record too
            self._audit(actor, "dlq_replay", [{"dlq": None, "requested": dlq_id, "topic": topic,
                                               "since": since.isoformat() if since else None, "again": again,
                                               "skipped": len(report.skipped), "refused": len(report.refused)}])
        return report

    # --- audit -------------------------------------------------------------------------------------

    @staticmethod
    def _about(letter: DeadLetter) -> dict[str, Any]:
        return {"dlq": letter.ref, "sha256": letter.sha256, "item": letter.key, "topic": letter.topic,
                "source": letter.source, "stage": letter.stage, "size": letter.size}

    def _audit(self, actor: str, action: str, details: Iterable[dict[str, Any]]) -> None:
        now = self.clock()
        self.store.append_audit([audit_document(ReviewEvent(
            item_id=LEDGER, actor=actor, role=ROLE, action=action, at=now,
            details={"via": self.via, "os_user": os_user(), **d})) for d in details])
