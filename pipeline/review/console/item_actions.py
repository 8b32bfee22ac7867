"""The item page's forms: ``POST /items/{id}/{action}`` runs the review service's action
(``pipeline.review.actions``) with the version of the item the person was shown, then sends the
browser back to the item page (303). The CSRF token was checked by the router.

- the role may not take the action: 403; the item is not there or not for the role: 404;
- someone changed the item since the page was loaded (``Stale``): 409, the item page reloaded
  with what changed, and nothing done;
- bad input (``ValueError``: an empty reason, an unknown label...): 400, the item page with the
  message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Depends, Request

from pipeline.review import actions
from pipeline.review.actions import Stale, ThreadGone
from pipeline.review.console.item import NOT_FOUND, show_item
from pipeline.review.console.web import (
    Console,
    Problem,
    Viewer,
    console_of,
    current_viewer,
    form_of,
    off_thread,
    protected_router,
    redirect,
)
from pipeline.review.policy import Forbidden, can_act
from pipeline.store import NotFound

router = protected_router()

STALE = "Someone changed this item since you loaded it, so nothing was done. It is reloaded below: check what " \
        "changed, then try again."


def _optional(form: dict[str, str], name: str) -> str | None:
    return form.get(name, "").strip() or None


def _arguments(action: str, form: dict[str, str], c: Console) -> dict[str, Any]:
    """The action's keyword arguments from the form; the service checks their values."""
    if action == "acknowledge":
        return {"pager": c.pager}
    if action == "assign":
        return {"assignee": _optional(form, "assignee")}  # empty: take it back
    if action == "escalate":
        return {"reason": form.get("reason", ""), "pager": c.pager}
    if action == "page_now":
        return {"page_role": form.get("page_role", ""), "move_on": form.get("move_on") == "next", "pager": c.pager}
    if action == "close_thread":
        return {"text": form.get("text", ""), "threads": c.threads}
    if action == "dismiss":
        return {"reason": form.get("reason", ""), "label": _optional(form, "label")}
    if action == "resolve":
        closing = {"close_with": form.get("closing", ""), "threads": c.threads} if form.get("close_thread") else {}
        return {"outcome": form.get("outcome", ""), "reason": _optional(form, "reason"), "label": _optional(form, "label"),
                **closing}
    if action == "label":
        return {"label": form.get("label", "")}
    if action in ("note", "reply"):
        return {"text": form.get("text", ""), **({"threads": c.threads} if action == "reply" else {})}
    raise AssertionError(action)


@router.post("/items/{item_id}/{action}")
async def act(item_id: str, action: str, request: Request, viewer: Viewer = Depends(current_viewer)):
    c = console_of(request)
    if action not in actions.ACTIONS:
        raise Problem(404, "Something is wrong with the request", "There is no such action.")
    if not can_act(viewer.role, action):
        raise Problem(403, "Not for your role", f"Your role ({viewer.role}) may not {action} items.")
    form = await form_of(request)
    version = form.get("version", "")
    if not version:
        raise Problem(400, "Reload the page", "The form did not say which version of the item you saw; reload it.")
    call = actions.ACTIONS[action]
    try:
        done = await off_thread(call, c.rt.store, item_id, viewer.username, viewer.role, expected_version=version,
                                now=c.clock(), **_arguments(action, form, c))
    except (NotFound, Forbidden):
        raise NOT_FOUND from None
    except Stale:
        return await show_item(request, viewer, item_id, 409, problem=STALE)
    except ThreadGone as exc:
        return await show_item(request, viewer, item_id, 409, problem=str(exc))
    except ValueError as exc:
        return await show_item(request, viewer, item_id, 400, problem=str(exc))
    others = action == "acknowledge" and done.event.details.get("other_roles")
    return redirect(request, f"/items/{quote(item_id, safe='')}?done={'acknowledge-others' if others else action}")
