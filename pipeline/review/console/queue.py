"""The review queue (``/``) and the item page (``/items/{id}``): read-only for now; the review
service adds the actions. Every listing and every item shown is audited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar, get_args
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams

from pipeline.review.console.web import Problem, Viewer, console_of, current_viewer, protected_router, render, \
    visible_categories
from pipeline.schema import Category, ReviewStatus
from pipeline.store import ItemQuery, Page, StoreError

router = protected_router()

SEVERITIES = ("P1", "P2", "P3")
CATEGORIES = tuple(c for c in get_args(Category) if c != "none")
STATUSES: tuple[str, ...] = get_args(ReviewStatus)
SORTS = {"newest": "Newest first", "oldest": "Oldest first", "score": "Highest threat score"}
PAGE_SIZES = (25, 50, 100)
MAX_HITS = 10_000  # Elasticsearch pages no further with offset + size
MAX_TEXT = 200
EXCERPT = 240
UNAVAILABLE = ("threatline cannot reach its store right now. Try again in a minute; if it lasts, "
               "tell the administrator. Pages still go out.")

T = TypeVar("T")


def _store(call: Callable[..., T], *args: Any) -> T:
    try:
        return call(*args)
    except StoreError:
        raise Problem(503, "Try again in a minute", UNAVAILABLE, {"Retry-After": "30"}) from None


@dataclass(frozen=True)
class QueueFilters:
    """The queue's filters as the URL carries them (GET, so a filtered queue can be bookmarked)."""

    severity: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    school: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None  # inclusive: the whole day
    q: str = ""
    sort: str = "newest"
    page: int = 1
    size: int = 50

    @classmethod
    def parse(cls, params: QueryParams) -> QueueFilters:
        def choices(name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
            values = tuple(dict.fromkeys(v for v in params.getlist(name) if v))
            if bad := [v for v in values if v not in allowed]:
                raise Problem(400, "Unknown filter", f"Unknown {name} {bad[0][:40]!r}; choose from {', '.join(allowed)}.")
            return values

        def words(name: str) -> tuple[str, ...]:
            values = (part.strip() for v in params.getlist(name) for part in v.split(","))
            return tuple(dict.fromkeys(v[:120] for v in values if v))[:20]

        def day(name: str) -> date | None:
            value = params.get(name, "").strip()
            try:
                return date.fromisoformat(value) if value else None
            except ValueError:
                raise Problem(400, "Unknown date", f"The {name} date must look like 2026-03-04.") from None

        def number(name: str, default: int) -> int:
            value = params.get(name, "").strip()
            if not value:
                return default
            if not value.isdigit() or int(value) < 1:
                raise Problem(400, "Unknown page", f"{name} must be a whole number from 1.")
            return int(value)

        sort = params.get("sort") or "newest"
        if sort not in SORTS:
            raise Problem(400, "Unknown sort", f"Sort by one of {', '.join(SORTS)}.")
        size = number("size", 50)
        if size not in PAGE_SIZES:
            raise Problem(400, "Unknown page size", f"Show {', '.join(map(str, PAGE_SIZES))} items per page.")
        return cls(severity=choices("severity", SEVERITIES), category=choices("category", CATEGORIES),
                   school=words("school"), status=choices("status", STATUSES), source=words("source"),
                   since=day("since"), until=day("until"), q=params.get("q", "").strip()[:MAX_TEXT],
                   sort=sort, page=number("page", 1), size=size)

    def query(self, tz: ZoneInfo, visible: frozenset[str] | None) -> ItemQuery | None:
        """The store query; None when the role may see none of the categories asked for."""
        category = self.category
        if visible is not None:
            category = tuple(c for c in (category or CATEGORIES) if c in visible)
            if not category:
                return None
        return ItemQuery(
            text=self.q or None, severity=self.severity, category=category, school=self.school, status=self.status,
            source=self.source,
            since=datetime.combine(self.since, time(), tz) if self.since else None,
            until=datetime.combine(self.until + timedelta(days=1), time(), tz) if self.until else None,
            sort=self.sort, size=self.size, offset=(self.page - 1) * self.size)  # type: ignore[arg-type]

    def link(self, **changes: Any) -> str:
        """The query string of these filters with ``changes`` (defaults left out)."""
        pairs: list[tuple[str, str]] = []
        for f in fields(self):
            value = changes.get(f.name, getattr(self, f.name))
            if value in ((), None, "") or value == f.default:
                continue
            for v in (value if isinstance(value, tuple) else (value,)):
                pairs.append((f.name, str(v)))
        return "?" + urlencode(pairs) if pairs else "?"

    def as_details(self) -> dict[str, Any]:
        """For the audit record: what was searched for."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in ((), None, ""):
                out[f.name] = list(value) if isinstance(value, tuple) else str(value) if isinstance(value, date) else value
        return out


def web_link(url: Any) -> str | None:
    """A source address fit for an href: http(s) only (a ``javascript:`` URL is not a link)."""
    if not isinstance(url, str) or len(url) > 4000:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def excerpt(text: Any, limit: int = EXCERPT) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def row(doc: dict[str, Any]) -> dict[str, Any]:
    threat, event, review = doc.get("threat") or {}, doc.get("event") or {}, doc.get("review") or {}
    return {"id": event.get("id", ""), "severity": threat.get("severity", ""), "category": threat.get("category", ""),
            "school": threat.get("school") or "", "status": review.get("status", ""), "at": doc.get("@timestamp"),
            "source": event.get("provider", ""), "kind": threat.get("kind", ""), "score": threat.get("score"),
            "excerpt": excerpt(doc.get("message"))}


def item_view(doc: dict[str, Any]) -> dict[str, Any]:
    threat, event, review = doc.get("threat") or {}, doc.get("event") or {}, doc.get("review") or {}
    return {**row(doc), "message": doc.get("message") or "", "explanation": threat.get("explanation") or [],
            "cues": threat.get("cues") or [], "url": (doc.get("url") or {}).get("full"),
            "link": web_link((doc.get("url") or {}).get("full")), "author": (doc.get("user") or {}).get("name"),
            "module": event.get("module", ""), "scored": event.get("created"),
            "self_harm_score": threat.get("self_harm_score"), "school_relevance": threat.get("school_relevance"),
            "model_version": threat.get("model_version", ""), "assignee": review.get("assignee"),
            "label": review.get("label"), "updated": review.get("updated"), "updated_by": review.get("updated_by")}


def counts(store_search: Callable[[ItemQuery], Page], query: ItemQuery) -> dict[str, dict[str, int]]:
    """Items per severity and per status under the other filters (a count query each).
    TODO(store): one aggregation query once ItemQuery offers facets."""
    base = replace(query, size=0, offset=0)
    return {"severity": {s: store_search(replace(base, severity=(s,))).total for s in SEVERITIES},
            "status": {s: store_search(replace(base, status=(s,))).total for s in STATUSES}}


@router.get("/")
async def queue(request: Request, viewer: Viewer = Depends(current_viewer)):
    c = console_of(request)
    filters = QueueFilters.parse(request.query_params)
    visible = visible_categories(viewer.role)
    query = filters.query(c.tz, visible)
    too_far = query is not None and query.offset + query.size > MAX_HITS
    if query is None or too_far:
        page, facets = Page(0), {"severity": dict.fromkeys(SEVERITIES, 0), "status": dict.fromkeys(STATUSES, 0)}
        if too_far:
            page = await run_in_threadpool(_store, c.rt.store.search_items, replace(query, size=0, offset=0))
    else:
        page = await run_in_threadpool(_store, c.rt.store.search_items, query)
        facets = await run_in_threadpool(_store, counts, c.rt.store.search_items, query)
    rows = [row(hit.doc) for hit in page.hits]
    await run_in_threadpool(c.audit, viewer, "search", None, filters=filters.as_details(), total=page.total,
                            shown=[r["id"] for r in rows])
    last_page = max(1, -(-min(page.total, MAX_HITS) // filters.size))
    return render(request, "queue.html", title="Review queue", filters=filters, rows=rows, total=page.total,
                  facets=facets, last_page=last_page, too_far=too_far, severities=SEVERITIES,
                  categories=[c_ for c_ in CATEGORIES if visible is None or c_ in visible], statuses=STATUSES,
                  sorts=SORTS, page_sizes=PAGE_SIZES, schools=c.schools, restricted=visible is not None)


@router.get("/items/{item_id}")
async def item_page(item_id: str, request: Request, viewer: Viewer = Depends(current_viewer)):
    c = console_of(request)
    stored = await run_in_threadpool(_store, c.rt.store.get_item, item_id) if len(item_id) <= 200 else None
    visible = visible_categories(viewer.role)
    if stored is None or (visible is not None and (stored.doc.get("threat") or {}).get("category") not in visible):
        # The same answer for "not there" and "not for your role": the page does not confirm it exists.
        raise Problem(404, "Item not found", "There is no item at this address, or it is not available to your role.")
    await run_in_threadpool(c.audit, viewer, "view", stored.id)
    return render(request, "item.html", title="Flagged item", item=item_view(stored.doc), version=stored.version)
