"""The store port: flagged items for review, alert history and the audit trail.

Contract (both adapters, tests/contract/test_store_contract.py):
- ``index_items`` is create-only by ``event.id``: replaying a flagged item never overwrites the
  review state people have added since.
- Review and alert updates are optimistic: pass the ``version`` you read; if someone changed the
  document in between, ``ConflictError`` is raised and nothing is written.
- ``StoreUnavailable`` means "try again later"; stages back off and commit nothing.
- ``ItemQuery.since`` is inclusive and ``until`` exclusive; ties in any sort break by item id.
- ``sort="triage"``: undecided items (any ``review.status`` but ``DECIDED_STATUSES``, or none)
  before decided ones, then P1 first, then newest: the review queue's default.
- ``ItemQuery.scopes`` is what a role may see (``pipeline.review.policy``): an item must fall in
  at least one scope; no scopes means no limit. Every other filter narrows further.
- ``ItemQuery.labeled``: True keeps items with a ``review.label``, False items without one.
- ``update_alert`` replaces the whole alert document; ``search_alerts`` returns newest first.
- Elasticsearch cannot page past 10,000 hits with ``offset`` + ``size``; the embedded store can.
- ``search_audit``: every audit record with ``@timestamp`` in [since, until), optionally only some
  ``event.action``s, oldest first, ties by ``event.id``, uncapped (a record with no time: none).
- ``alerts_between``: every alert created (``@timestamp``) in [since, until), oldest first, ties by
  alert id, uncapped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

INDICES = ("flagged", "alerts", "audit")
# Review statuses that close an item: the "triage" sort lists them after every other status.
DECIDED_STATUSES = ("dismissed", "resolved")


class StoreError(Exception):
    """A request the store refused for a reason that retrying will not fix."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or is overloaded; retry with backoff."""


class ConflictError(StoreError):
    """The document changed since it was read (optimistic concurrency)."""


class NotFound(StoreError):
    pass


@dataclass(frozen=True)
class StoredDoc:
    id: str
    doc: dict[str, Any]
    version: str  # opaque: "seq_no:primary_term" on Elasticsearch, a counter on SQLite


@dataclass(frozen=True)
class Scope:
    """A slice of the flagged items: these categories (any if empty) at these severities (any if
    empty)."""

    category: Sequence[str] = ()
    severity: Sequence[str] = ()


@dataclass(frozen=True)
class ItemQuery:
    text: str | None = None
    severity: Sequence[str] = ()
    category: Sequence[str] = ()
    school: Sequence[str] = ()
    status: Sequence[str] = ()
    source: Sequence[str] = ()
    author: Sequence[str] = ()    # user.name
    thread: Sequence[str] = ()    # threat.thread_id
    tip_code: Sequence[str] = ()  # threat.tip.code: a tip and its follow-ups
    assignee: Sequence[str] = ()  # review.assignee
    scopes: Sequence[Scope] = ()  # any one of them must hold; none: no limit
    labeled: bool | None = None   # None: either
    since: datetime | None = None
    until: datetime | None = None
    # severity: P1 first, then newest; triage: undecided first, then as severity
    sort: Literal["newest", "oldest", "score", "severity", "triage"] = "newest"
    size: int = 50
    offset: int = 0


@dataclass(frozen=True)
class Page:
    total: int
    hits: list[StoredDoc] = field(default_factory=list)


class Store(ABC):
    @abstractmethod
    def setup(self) -> None:
        """Create indices/tables, templates and (on Elasticsearch) ILM; idempotent."""

    @abstractmethod
    def ping(self) -> bool: ...

    @abstractmethod
    def check_writable(self) -> None:
        """Raise ``StoreError`` (``StoreUnavailable``: try later) unless items, alerts and audit
        records could be written now. Writes nothing the other methods would read: embedded, a
        commit to a probe row; Elasticsearch, the indices exist, none is red or write-blocked."""

    # flagged items
    @abstractmethod
    def index_items(self, docs: Sequence[dict[str, Any]]) -> int:
        """Create each doc under ``doc['event']['id']`` unless present; return how many were new."""

    @abstractmethod
    def get_item(self, item_id: str) -> StoredDoc | None: ...

    @abstractmethod
    def search_items(self, query: ItemQuery) -> Page: ...

    @abstractmethod
    def update_review(self, item_id: str, review: dict[str, Any], version: str) -> str:
        """Merge ``review`` into the item's ``review`` object if ``version`` is current."""

    @abstractmethod
    def delete_items(self, item_ids: Sequence[str]) -> int: ...

    # alerts
    @abstractmethod
    def create_alert(self, alert_id: str, doc: dict[str, Any]) -> bool:
        """Create the alert unless it exists; True if it was created now."""

    @abstractmethod
    def get_alert(self, alert_id: str) -> StoredDoc | None: ...

    @abstractmethod
    def update_alert(self, alert_id: str, doc: dict[str, Any], version: str) -> str: ...

    @abstractmethod
    def search_alerts(self, item_id: str | None = None, status: str | Sequence[str] | None = None,
                      size: int = 100) -> list[StoredDoc]:
        """Newest first; ``status`` one status or any of several."""

    # audit
    @abstractmethod
    def append_audit(self, docs: Sequence[dict[str, Any]]) -> None: ...

    @abstractmethod
    def audit_for(self, item_id: str) -> list[dict[str, Any]]:
        """Audit records of one item, oldest first."""

    @abstractmethod
    def search_audit(self, since: datetime | None = None, until: datetime | None = None,
                     actions: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        """Every audit record whose ``@timestamp`` is in [``since``, ``until``) (None: unbounded;
        naive times are UTC), only those whose ``event.action`` is in ``actions`` unless it is
        empty; oldest first, ties by ``event.id``. Uncapped: read a page at a time, lazily."""

    @abstractmethod
    def alerts_between(self, since: datetime | None = None,
                       until: datetime | None = None) -> Iterator[StoredDoc]:
        """Every alert whose ``@timestamp`` (its creation time) is in [``since``, ``until``)
        (None: unbounded; naive times are UTC); oldest first, ties by alert id. Uncapped: read a
        page at a time, lazily."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
