"""The item page (``/items/{id}``): the review service's ``item_context`` for the viewer's role,
with a form for each action the role may take. Every showing is audited by ``actions.view``."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from pipeline.review import actions
from pipeline.review.actions import LABELS, OUTCOMES
from pipeline.review.console.views import alert_view, audit_view, item_view, row
from pipeline.review.console.web import (
    Console,
    Problem,
    Viewer,
    console_of,
    current_viewer,
    off_thread,
    protected_router,
    render,
)
from pipeline.review.on_duty import Cover, cover
from pipeline.review.policy import Forbidden, can_act, can_see_contact, pageable_roles
from pipeline.review.queries import item_context
from pipeline.store import NotFound

router = protected_router()

MAX_ID = 200
# The same answer for "not there" and "not for your role": the page does not confirm it exists.
NOT_FOUND = Problem(404, "Item not found", "There is no item at this address, or it is not available to your role.")
# What the page says after an action (``?done=``): fixed sentences, never text from the URL.
DONE = {
    "acknowledge": "Acknowledged: your role's pages for this item stop escalating.",
    "acknowledge-others": "Acknowledged: your role's pages stop escalating. Another role's page for this item is "
                          "still open: they have not acknowledged it yet.",
    "assign": "Assignment saved.", "escalate": "Escalated.", "dismiss": "Dismissed.", "resolve": "Resolved.",
    "label": "Label saved.", "note": "Note added.", "reply": "Reply sent: the tipster reads it on the tip line.",
    "page_now": "Paged: the alert below says who was reached.",
    "close_thread": "Thread closed: the tipster reads your closing message on the tip line.",
}
FORMS = ("acknowledge", "assign", "escalate", "page_now", "dismiss", "resolve", "label", "note", "reply", "close_thread")
# What a closing message says unless staff write their own: the tipster may be a student in crisis.
CLOSING = ("Thank you for telling us. Staff have finished with this tip. If anything new happens, add it here or "
           "send a new tip. If someone is in danger right now, call 911.")


def _load(c: Console, viewer: Viewer, item_id: str) -> dict[str, Any]:
    # View first: the audit history on the page then includes this showing of it.
    actions.view(c.rt.store, item_id, viewer.username, viewer.role, now=c.clock())
    return item_context(c.rt.store, viewer.role, item_id, threads=c.threads)


async def show_item(request: Request, viewer: Viewer, item_id: str, status: int = 200, *, notice: str = "",
                    problem: str = "") -> HTMLResponse:
    """The item page as ``viewer`` may see it now (after an action that failed too: reloaded)."""
    c = console_of(request)
    if len(item_id) > MAX_ID:
        raise NOT_FOUND
    try:
        context = await off_thread(_load, c, viewer, item_id)
    except (NotFound, Forbidden):
        raise NOT_FOUND from None
    conversation = context["conversation"]
    allowed = [a for a in FORMS if can_act(viewer.role, a)]
    if not conversation or conversation["status"] == "gone":  # a post, or a thread purged after its retention
        allowed = [a for a in allowed if a not in ("reply", "close_thread")]
    elif conversation["status"] == "closed":
        allowed = [a for a in allowed if a != "close_thread"]
    return render(request, "item.html", status, title="Flagged item", item=item_view(context["item"]),
                  version=context["version"], author_items=[row(h.doc) for h in context["author_items"]],
                  thread_items=[row(h.doc) for h in context["thread_items"]], conversation=conversation,
                  alerts=[alert_view(a) for a in context["alerts"]], timeline=context["timeline"],
                  audit=[audit_view(r) for r in context["audit"]], allowed=allowed, labels=LABELS, outcomes=OUTCOMES,
                  contact_hidden=not can_see_contact(viewer.role), notice=notice, problem=problem,
                  on_duty=_on_duty(c, context["item"]), closing=CLOSING)


def _on_duty(c: Console, item: dict[str, Any]) -> list[Cover]:
    """Who "Page now" would reach, per role it may page about this item."""
    school = (item.get("threat") or {}).get("school")
    return [cover(c.pager.roster, school, role, c.clock()) for role in pageable_roles(item)]


@router.get("/items/{item_id}")
async def item_page(item_id: str, request: Request, done: str = "", viewer: Viewer = Depends(current_viewer)):
    return await show_item(request, viewer, item_id, notice=DONE.get(done, ""))
