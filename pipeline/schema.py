"""Messages that travel on the bus and documents kept in the store.

Every model carries ``schema_version`` so consumers can refuse or migrate what they do not know.
Ids are stable: replaying a source or a topic yields the same id, which is what makes every
consumer idempotent (DESIGN.md §1).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1

Severity = Literal["P1", "P2", "P3", "none"]
Category = Literal["violence", "self_harm", "bullying", "weapons", "drugs", "none"]
# "assigned": someone took it on (the console's assign); still undecided, like open and acknowledged.
ReviewStatus = Literal["open", "acknowledged", "assigned", "escalated", "dismissed", "resolved"]
SEVERITY_RANK: dict[str, int] = {"P1": 3, "P2": 2, "P3": 1, "none": 0}


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A naive time is UTC, everywhere in threatline."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def stable_id(*parts: str) -> str:
    """Hex id derived from its parts; the same parts always give the same id."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:32]


def new_tip_id() -> str:
    return "tip-" + uuid.uuid4().hex


def new_tip_code() -> str:
    """Short code a tipster can type back in; no confusable characters."""
    alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(10))


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = SCHEMA_VERSION

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        # A message from a newer producer may mean something this code would get wrong (a new
        # severity, a renamed field): refuse it, so it goes to dlq and can be replayed after an upgrade.
        if value != SCHEMA_VERSION:
            raise ValueError(f"unknown schema_version {value} (this code reads {SCHEMA_VERSION})")
        return value

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes):
        return cls.model_validate_json(raw)


class RawPost(_Message):
    """A public post as fetched by a spider, before any judgement."""

    id: str = ""
    source: str = Field(min_length=1, description="source name from sources.yaml, e.g. 'reddit:lincolnhigh'")
    source_kind: str = Field(default="unknown", description="rss|mastodon|reddit|bluesky|page|sample")
    native_id: str = Field(min_length=1)
    text: str
    author: str | None = None
    url: str | None = None
    thread_id: str | None = None
    language: str | None = None
    created_at: datetime | None = None
    fetched_at: datetime = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _derive_id(self) -> RawPost:
        expected = stable_id(self.source, self.native_id)
        if not self.id:
            object.__setattr__(self, "id", expected)
        elif self.id != expected:
            raise ValueError(f"id {self.id!r} does not match source+native_id")
        return self


class Tip(_Message):
    """A tip-line submission. Carries no IP, user agent or cookie by construction."""

    id: str = Field(default_factory=new_tip_id)
    code: str = Field(default_factory=new_tip_code)
    message: str = Field(min_length=1, max_length=5000)
    school: str | None = None
    when_where: str | None = None
    urgent: bool = False
    contact: str | None = None
    received_at: datetime = Field(default_factory=utcnow)


class ScoredItem(_Message):
    """The classifier's verdict on one post or tip (DESIGN.md §4 classify contract, plus context)."""

    id: str
    kind: Literal["post", "tip"]
    text: str
    source: str
    source_kind: str = "unknown"
    url: str | None = None
    author: str | None = None
    thread_id: str | None = None
    created_at: datetime | None = None
    scored_at: datetime = Field(default_factory=utcnow)
    threat_score: float = Field(ge=0, le=1)
    self_harm_score: float = Field(ge=0, le=1)
    severity: Severity
    category: Category
    school: str | None = None
    school_relevance: float = Field(ge=0, le=1)
    explanation: list[str] = Field(default_factory=list)
    cues: list[str] = Field(default_factory=list)
    lang: str = "en"
    confidence: Literal["normal", "low"] = "normal"
    model_version: str
    tip_code: str | None = None
    tip_contact: str | None = None

    @property
    def flagged(self) -> bool:
        return self.severity != "none"


AlertStatus = Literal["pending", "sent", "escalated", "failed", "acknowledged", "merged"]
OPEN_ALERT_STATUSES = ("sent", "escalated", "failed")  # nobody has acknowledged yet


class AlertEvent(BaseModel):
    """One line of an alert's history, as Kibana shows it (config/es/alerts.json)."""

    model_config = ConfigDict(extra="forbid")

    at: datetime = Field(default_factory=utcnow)
    # "paged": a person asked for it from the console (page now, escalate), with who in ``by``
    event: Literal["sent", "failed", "escalated", "exhausted", "acknowledged", "repeat", "retry", "paged"]
    by: str | None = None        # who acknowledged; "threatline" for the pipeline's own steps
    person: str | None = None    # roster id of the person concerned
    channel: str | None = None   # channel type label (email, sms…), never its URL
    detail: str | None = None


class Alert(_Message):
    """One notification of one item to one role. The id is derived, so a replay cannot page twice.

    ``status``: pending (being sent), sent (someone accepted it, awaiting acknowledgement),
    escalated (moved on to a later person in the chain), failed (nobody in the chain could be
    reached; retried), acknowledged, merged (a repeat of an open alert's author or thread, which
    got a ``repeat`` history line instead of a page)."""

    id: str = ""
    item_id: str
    role: str
    severity: Severity
    category: Category
    school: str | None = None
    excerpt: str
    explanation: list[str] = Field(default_factory=list)
    status: AlertStatus = "pending"
    page: bool = True                      # expects an acknowledgement; escalates without one
    dedup_key: str | None = None           # author or thread; repeats inside the window merge
    merged_into: str | None = None
    related_items: list[str] = Field(default_factory=list)  # repeats merged into this alert
    person: str | None = None              # who holds it now (roster id)
    channel: str | None = None
    recipients: list[str] = Field(default_factory=list)     # everyone it reached, in order
    tried: list[str] = Field(default_factory=list)          # everyone tried in this round
    escalation_level: int = 0
    escalate_at: datetime | None = None
    delivered_at: datetime | None = None   # when a channel last accepted it
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    time_to_ack_s: float | None = None
    history: list[AlertEvent] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    attempts: int = 0
    last_error: str | None = None

    @model_validator(mode="after")
    def _derive_id(self) -> Alert:
        if not self.id:
            object.__setattr__(self, "id", stable_id("alert", self.item_id, self.role))
        return self


class ReviewEvent(_Message):
    """An action or a view by a person on a flagged item; the audit trail is made of these."""

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    item_id: str | None = None
    actor: str
    role: str
    action: Literal[
        "view", "search", "acknowledge", "assign", "escalate", "dismiss", "resolve", "label",
        "note", "reply", "purge", "export", "digest", "promote", "rollback",
        "page_now", "close_thread",  # the item page: paging someone now, ending the tip's thread
        "login", "logout", "user_admin",  # the review console: sessions and user management
        "dlq_list", "dlq_show", "dlq_replay",  # `threatline dlq` (pipeline.dead_letters)
    ]
    label: str | None = None
    reason: str | None = None
    note: str | None = None
    at: datetime = Field(default_factory=utcnow)
    details: dict[str, Any] = Field(default_factory=dict)


# --- store documents -------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def item_document(item: ScoredItem) -> dict[str, Any]:
    """The store document for a flagged item: ECS names where ECS has one, ``threat.*`` and
    ``review.*`` for ours. Only what review needs: the tipster's contact stays out unless the
    tipster gave one, and then under ``threat.tip.contact`` so roles can be denied it."""
    doc: dict[str, Any] = {
        "@timestamp": _iso(item.created_at or item.scored_at),
        "message": item.text,
        "event": {
            "id": item.id,
            "kind": "alert" if item.severity in ("P1", "P2") else "event",
            "dataset": f"threatline.{item.kind}",
            "provider": item.source,
            "module": item.source_kind,
            "created": _iso(item.scored_at),
            "severity": SEVERITY_RANK[item.severity],
        },
        "url": {"full": item.url} if item.url else None,
        "user": {"name": item.author} if item.author else None,
        "labels": {"school": item.school} if item.school else {},
        "threat": {
            "severity": item.severity,
            "category": item.category,
            "score": item.threat_score,
            "self_harm_score": item.self_harm_score,
            "school": item.school,
            "school_relevance": item.school_relevance,
            "explanation": item.explanation,
            "cues": item.cues,
            "model_version": item.model_version,
            "thread_id": item.thread_id,
            "kind": item.kind,
            "tip": {"code": item.tip_code, "contact": item.tip_contact} if item.kind == "tip" else None,
        },
        "review": {"status": "open", "assignee": None, "label": None, "updated": None, "updated_by": None},
    }
    return _drop_none(doc)


def dotted(doc: Mapping[str, Any], path: str) -> Any:
    """``doc["a"]["b"]`` for ``"a.b"``; None when a step is missing or not a mapping."""
    value: Any = doc
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def alert_document(alert: Alert) -> dict[str, Any]:
    doc = alert.model_dump(mode="json")
    doc["@timestamp"] = doc.pop("created_at")
    return doc


def audit_document(event: ReviewEvent) -> dict[str, Any]:
    return _drop_none({
        "@timestamp": _iso(event.at),
        "event": {"id": event.id, "action": event.action, "dataset": "threatline.audit"},
        "user": {"name": event.actor, "roles": [event.role]},
        "threat": {"item_id": event.item_id},
        "review": {"label": event.label, "reason": event.reason, "note": event.note},
        "details": event.details or None,
    })
