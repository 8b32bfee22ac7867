"""The review queue (``/``): the review service's queue (``queries.queue``) for the viewer's role,
with the filters, sort and page in the URL so that a filtered queue can be bookmarked. The
service limits the search to what the role may see and audits it.

``/queue/count`` is what the open page asks every ``POLL_S`` seconds (static/queue.js): how
many items match its filters now (``queries.arrivals``), so it can say "3 new items — show"
and reload only when tapped. It lists no item, so it is not audited; it does not restart the
session's idle timeout (``web.passive``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import QueryParams

from pipeline.review import queries
from pipeline.review.console.views import row, scope_text, visible_categories
from pipeline.review.console.web import Problem, Viewer, console_of, current_viewer, off_thread, protected_router, \
    passive, render

router = protected_router()

SORTS = {"triage": "Open first, most severe first", "severity": "Most severe first", "newest": "Newest first",
         "oldest": "Oldest first", "score": "Highest threat score"}
POLL_S = 30  # how often an open queue asks whether items arrived (data-poll-s; tests shorten it)
PAGE_SIZES = (25, 50, 100)
MAX_TEXT = 200
# A day becomes local midnights (until: the midnight after it), in a zone up to a day off UTC:
# the first and last days of the calendar would overflow datetime, so they are refused.
FIRST_DAY, LAST_DAY = date.min + timedelta(days=1), date.max - timedelta(days=1)


@dataclass(frozen=True)
class QueueParams:
    """The queue's URL: the service's filters as a person types them (dates are whole local days)."""

    severity: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    school: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    assignee: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None  # inclusive: the whole day
    q: str = ""
    sort: str = "triage"
    page: int = 1
    size: int = 50

    @classmethod
    def parse(cls, params: QueryParams) -> QueueParams:
        """Only the URL's shape is checked here; unknown values are the service's to refuse."""

        def values(name: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(v for v in params.getlist(name) if v))

        def words(name: str) -> tuple[str, ...]:
            parts = (part.strip() for v in params.getlist(name) for part in v.split(","))
            return tuple(dict.fromkeys(v[:120] for v in parts if v))[:20]

        def day(name: str) -> date | None:
            value = params.get(name, "").strip()
            try:
                parsed = date.fromisoformat(value) if value else None
            except ValueError:
                raise Problem(400, "Unknown date", f"The {name} date must look like 2026-03-04.") from None
            if parsed is not None and not FIRST_DAY <= parsed <= LAST_DAY:
                raise Problem(400, "Date out of range", f"The {name} date must be from {FIRST_DAY} to {LAST_DAY}.")
            return parsed

        def number(name: str, default: int) -> int:
            value = params.get(name, "").strip()
            if not value:
                return default
            if not value.isdigit() or int(value) < 1:
                raise Problem(400, "Unknown page", f"{name} must be a whole number from 1.")
            return int(value)

        size = number("size", 50)
        if size not in PAGE_SIZES:
            raise Problem(400, "Unknown page size", f"Show {', '.join(map(str, PAGE_SIZES))} items per page.")
        return cls(severity=values("severity"), category=values("category"), school=words("school"),
                   status=values("status"), source=words("source"), assignee=words("assignee"), since=day("since"),
                   until=day("until"), q=params.get("q", "").strip()[:MAX_TEXT], sort=params.get("sort") or "triage",
                   page=number("page", 1), size=size)

    def filters(self, tz: ZoneInfo) -> queries.QueueFilters:
        return queries.QueueFilters(
            severity=self.severity, category=self.category, school=self.school, status=self.status,
            source=self.source, assignee=self.assignee, text=self.q or None,
            since=datetime.combine(self.since, time(), tz) if self.since else None,
            until=datetime.combine(self.until + timedelta(days=1), time(), tz) if self.until else None)

    def link(self, **changes: Any) -> str:
        """The query string of these parameters with ``changes`` (defaults left out)."""
        pairs: list[tuple[str, str]] = []
        for f in fields(self):
            value = changes.get(f.name, getattr(self, f.name))
            if value in ((), None, "") or value == f.default:
                continue
            for v in (value if isinstance(value, tuple) else (value,)):
                pairs.append((f.name, str(v)))
        return "?" + urlencode(pairs) if pairs else "?"


@router.get("/")
async def queue(request: Request, viewer: Viewer = Depends(current_viewer)):
    c = console_of(request)
    params = QueueParams.parse(request.query_params)
    filters = params.filters(c.tz)
    try:
        # Counted before the listing: an item indexed in between is listed and then announced
        # once more, rather than never announced.
        known = await off_thread(queries.arrivals, c.rt.store, viewer.role, filters)
        page = await off_thread(queries.queue, c.rt.store, viewer.role, filters, sort=params.sort,
                                page=params.page, page_size=params.size, actor=viewer.username, now=c.clock())
    except ValueError as exc:  # an unknown filter value or sort, a page too far: the service says which
        raise Problem(400, "Check the filters", str(exc)) from None
    last_page = min(page.pages, queries.MAX_WINDOW // params.size)
    return render(request, "queue.html", title="Review queue", filters=params, rows=[row(h.doc) for h in page.hits],
                  total=page.total, facets=page.counts, last_page=last_page, severities=queries.SEVERITIES,
                  categories=visible_categories(viewer.role), statuses=queries.STATUSES, sorts=SORTS,
                  page_sizes=PAGE_SIZES, schools=c.schools, scope=scope_text(viewer.role), known=known,
                  poll_s=POLL_S)


@router.get("/queue/count")
@passive
async def queue_count(request: Request, viewer: Viewer = Depends(current_viewer)):
    """``{"total": n}``: the items the queue with these filters would count now (``queries.arrivals``;
    null when no new item can match them). The page compares it with the count it was shown."""
    c = console_of(request)
    params = QueueParams.parse(request.query_params)
    try:
        total = await off_thread(queries.arrivals, c.rt.store, viewer.role, params.filters(c.tz))
    except ValueError as exc:
        raise Problem(400, "Check the filters", str(exc)) from None
    return JSONResponse({"total": total}, headers={"Cache-Control": "no-store"})
