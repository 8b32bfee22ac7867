"""What the review console reads: the queue and everything around one item (docs/review.md).

Every item these return has passed ``policy.visible_item`` for the role, and every search is
limited to the role's scopes in the store query itself, so totals and counts never count an item
the role may not open.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, get_args

from pipeline.review.actions import STAFF, _load, _record, _user
from pipeline.review.policy import (
    can_read_conversation,
    can_read_message,
    can_view,
    check_role,
    item_filter,
    visible_item,
)
from pipeline.schema import Category, ReviewStatus, Severity, utcnow
from pipeline.store import ItemQuery, Store, StoredDoc
from pipeline.tipline.threads import ThreadStore, TipThread

SEVERITIES = tuple(s for s in get_args(Severity) if s != "none")  # only flagged items are stored
CATEGORIES: tuple[str, ...] = get_args(Category)
STATUSES: tuple[str, ...] = get_args(ReviewStatus)
# triage, the default: open work (any status but dismissed or resolved) first, then as severity.
SORTS = ("triage", "severity", "newest", "oldest", "score")
MAX_PAGE_SIZE = 200
MAX_WINDOW = 10_000  # Elasticsearch pages no further with from + size; the same limit on both stores
RELATED = 20         # other items by the author, or of the thread, shown with an item


@dataclass(frozen=True)
class QueueFilters:
    """Each filter keeps items with any of its values; filters combine with AND. ``since`` is
    inclusive, ``until`` exclusive; ``text`` must match every word (message or explanation)."""

    severity: Sequence[str] = ()
    category: Sequence[str] = ()
    school: Sequence[str] = ()
    status: Sequence[str] = ()
    source: Sequence[str] = ()
    assignee: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None

    def validate(self) -> QueueFilters:
        for name, allowed in (("severity", SEVERITIES), ("category", CATEGORIES), ("status", STATUSES)):
            unknown = [v for v in getattr(self, name) if v not in allowed]
            if unknown:
                raise ValueError(f"unknown {name} {unknown[0]!r}; expected one of {', '.join(allowed)}")
        if self.since and self.until and self.since >= self.until:
            raise ValueError("the date range ends before it starts")
        return self


@dataclass(frozen=True)
class QueuePage:
    hits: list[StoredDoc]  # visible documents, with the versions actions need
    total: int             # items matching the filters
    # Per severity and per status: how many match the other filters, so each tab or facet can
    # show what choosing it would list (the severity counts ignore the severity filter, etc.).
    counts: dict[str, dict[str, int]]
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def queue(store: Store, role: str, filters: QueueFilters = QueueFilters(), *, sort: str = "triage",
          page: int = 1, page_size: int = 50, actor: str | None = None, now: datetime | None = None) -> QueuePage:
    """One page of the items ``role`` may see, most urgent first by default: items still open
    (open, acknowledged, assigned, escalated) before decided ones (dismissed, resolved), then P1
    first, then newest. With ``actor``, the search is audited (action "search", no item)."""
    check_role(role)
    filters.validate()
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; expected one of {', '.join(SORTS)}")
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page starts at 1 and page_size is 1 to {MAX_PAGE_SIZE}")
    if page * page_size > MAX_WINDOW:
        raise ValueError(f"only the first {MAX_WINDOW} items can be paged through; narrow the filters")
    base = ItemQuery(**{f.name: getattr(filters, f.name) for f in dataclasses.fields(QueueFilters)},
                     **item_filter(role))
    result = store.search_items(dataclasses.replace(base, sort=sort, size=page_size, offset=(page - 1) * page_size))
    # A few size-0 searches: the Store port has no aggregations, and these are cheap on both stores.
    counts = {
        "severity": {s: store.search_items(dataclasses.replace(base, severity=(s,), size=0)).total for s in SEVERITIES},
        "status": {s: store.search_items(dataclasses.replace(base, status=(s,), size=0)).total for s in STATUSES},
    }
    if actor is not None:
        _user(actor, "actor")
        shown = {k: (list(v) if isinstance(v, tuple | list) else v.isoformat() if isinstance(v, datetime) else v)
                 for k, v in dataclasses.asdict(filters).items() if v}
        # The ids listed too: "who saw this item" includes whoever had it in a list of excerpts.
        _record(store, None, actor, role, "search", now or utcnow(),
                {"filters": shown, "sort": sort, "page": page, "total": result.total,
                 "shown": [h.id for h in result.hits]})
    hits = [StoredDoc(h.id, visible_item(role, h.doc), h.version) for h in result.hits]
    return QueuePage(hits, result.total, counts, page, page_size)


def arrivals(store: Store, role: str, filters: QueueFilters = QueueFilters()) -> int | None:
    """What an open queue compares to tell that items arrived: how many items ``role`` may see
    match ``filters`` whatever their status (items arrive ``open``, and people deciding items
    must not hide an arrival); None when no new item can match (a status filter without "open").
    A count only grows with arrivals: an item leaves it only when retention deletes it. One
    size-0 search; not audited, as it shows no item (docs/review.md)."""
    check_role(role)
    filters.validate()
    if filters.status and "open" not in filters.status:
        return None
    query = ItemQuery(**{f.name: getattr(filters, f.name) for f in dataclasses.fields(QueueFilters)},
                      **item_filter(role))
    return store.search_items(dataclasses.replace(query, status=(), size=0)).total


def _related(store: Store, role: str, item_id: str, **query: Any) -> list[StoredDoc]:
    found = store.search_items(ItemQuery(sort="newest", size=RELATED + 1, **query, **item_filter(role)))
    return [StoredDoc(h.id, visible_item(role, h.doc), h.version) for h in found.hits if h.id != item_id][:RELATED]


def _conversation(store: Store, threads: ThreadStore, code: str, role: str) -> dict[str, Any]:
    """The thread, with each tipster message the role may not read (``policy.can_read_message``)
    replaced by ``hidden: True`` and no text."""
    thread = threads.get(code)
    if thread is None:
        return {"code": code, "status": "gone", "messages": []}  # deleted after its retention period
    became = _items_of_messages(store, thread)
    messages = []
    for m in thread.messages:
        if m.sender == STAFF or can_read_message(role, became.get(m.seq)):
            # attachment: the media type of a picture sent with it (console/attachment.py serves it).
            messages.append({"seq": m.seq, "from": m.sender, "text": m.text, "at": m.at, "attachment": m.attachment})
        else:
            messages.append({"seq": m.seq, "from": m.sender, "text": "", "at": m.at, "hidden": True})
    return {"code": code, "status": thread.status, "messages": messages}


def _items_of_messages(store: Store, thread: TipThread) -> dict[int, dict[str, Any]]:
    """Each tipster message's item document: the first message is the tip itself (its id), a
    follow-up is a tip of its own with the same code and its text. Read without the role's scope,
    only to decide what the role may read; nothing of it is shown."""
    hits = store.search_items(ItemQuery(tip_code=(thread.code,), sort="oldest", size=MAX_PAGE_SIZE)).hits
    first = next((h.doc for h in hits if h.id == thread.tip_id), None)
    follow_ups = {h.doc.get("message"): h.doc for h in hits if h.id != thread.tip_id}
    became: dict[int, dict[str, Any]] = {}
    for m in thread.messages:
        doc = first if m.seq == 1 else follow_ups.get(m.text) if m.sender != STAFF else None
        if doc is not None:
            became[m.seq] = doc
    return became


def _timeline(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events = [{"alert_id": a.get("id"), "role": a.get("role"), **h} for a in alerts for h in a.get("history") or []]
    return sorted(events, key=lambda e: str(e.get("at") or ""))


def item_context(store: Store, role: str, item_id: str, *, threads: ThreadStore | None = None) -> dict[str, Any]:
    """Everything the item page shows, for ``role``. Reads only: call ``actions.view`` to audit
    that the page was shown.

    - ``item``: the visible document; ``version``: pass it back with any action;
    - ``author_items``: the author's other flagged items on the same source (a user name means
      nothing across sources), newest first, at most ``RELATED``;
    - ``thread_items``: the other items of the thread (posts: the source's thread; tips: the
      tip and its follow-ups, which share the tip code);
    - ``conversation``: a tip's thread with the tipster (``{code, status, messages: [{seq,
      from: "tipster"|"staff", text, at, hidden?}]}``, status "gone" once purged; a tipster
      message whose item the role may not see is ``hidden``, without its text); None for posts,
      for roles that may not read it, or without ``threads``;
    - ``alerts``: the item's alert documents (and any alert a repeat was merged into), newest
      first; ``timeline``: their history lines, oldest first, each with its alert id and role;
    - ``audit``: the item's audit records, oldest first.
    """
    check_role(role)
    current = _load(store, item_id, role)
    doc = current.doc
    threat = doc.get("threat") or {}
    source = (doc.get("event") or {}).get("provider")
    author = (doc.get("user") or {}).get("name")
    tip_code = (threat.get("tip") or {}).get("code")

    author_items = _related(store, role, item_id, author=(author,), source=(source,)) if author else []
    if threat.get("kind") == "tip" and tip_code:
        thread_items = _related(store, role, item_id, tip_code=(tip_code,))
    elif threat.get("thread_id"):
        thread_items = _related(store, role, item_id, thread=(threat["thread_id"],), source=(source,))
    else:
        thread_items = []

    conversation = None
    if threads is not None and tip_code and threat.get("kind") == "tip" and can_read_conversation(role, doc):
        conversation = _conversation(store, threads, tip_code, role)

    alerts = [a.doc for a in store.search_alerts(item_id=item_id)]
    for target in sorted({a.get("merged_into") for a in alerts} - {None, *(a.get("id") for a in alerts)}):
        merged_into = store.get_alert(target)
        # That alert carries another item's excerpt: shown only if the role may see that item.
        if merged_into is not None and can_view(role, {"threat": {k: merged_into.doc.get(k)
                                                                  for k in ("category", "severity")}}):
            alerts.append(merged_into.doc)

    return {
        "item": visible_item(role, doc),
        "version": current.version,
        "author_items": author_items,
        "thread_items": thread_items,
        "conversation": conversation,
        "alerts": alerts,
        "timeline": _timeline(alerts),
        "audit": store.audit_for(item_id),
    }
