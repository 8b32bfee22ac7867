"""A picture a tipster sent (``/items/{id}/attachments/{seq}``), for the item page's conversation.

Shown to exactly whoever the item page shows that message to: the review service's
``item_context`` decides (the item's scope, the conversation's roles, each follow-up's own item),
and this route only looks the message up in what it returned. Each showing is audited as a view.
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.responses import Response

from pipeline.review import actions
from pipeline.review.console.item import MAX_ID, NOT_FOUND
from pipeline.review.console.web import Console, Viewer, console_of, current_viewer, off_thread, protected_router
from pipeline.review.policy import Forbidden
from pipeline.review.queries import item_context
from pipeline.store import NotFound
from pipeline.tipline.threads import Attachment

router = protected_router()

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg"}  # what the tip line re-encodes to


def _picture(c: Console, viewer: Viewer, item_id: str, seq: int) -> Attachment | None:
    conversation = item_context(c.rt.store, viewer.role, item_id, threads=c.threads)["conversation"] or {}
    shown = any(m["seq"] == seq and m.get("attachment") and not m.get("hidden")
                for m in conversation.get("messages", []))
    picture = c.threads.get_attachment(conversation["code"], seq) if shown else None
    if picture is not None:
        actions.view(c.rt.store, item_id, viewer.username, viewer.role, via="console: tipster's picture", now=c.clock())
    return picture


@router.get("/items/{item_id}/attachments/{seq}")
async def attachment(item_id: str, seq: int, request: Request, viewer: Viewer = Depends(current_viewer)):
    if len(item_id) > MAX_ID:
        raise NOT_FOUND
    try:
        picture = await off_thread(_picture, console_of(request), viewer, item_id, seq)
    except (NotFound, Forbidden):
        raise NOT_FOUND from None
    if picture is None or picture.media_type not in EXTENSIONS:
        raise NOT_FOUND
    return Response(picture.data, media_type=picture.media_type, headers={
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'inline; filename="tip-picture-{seq}.{EXTENSIONS[picture.media_type]}"',
        # Opened on its own, the picture is a document that may do nothing.
        "Content-Security-Policy": "default-src 'none'; img-src 'self'; sandbox",
        "Cache-Control": "no-store",
    })
