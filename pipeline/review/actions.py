"""What people do to a flagged item in the review console, free of HTTP (docs/review.md).

Every action:

1. refuses bad input with ``ValueError`` before anything else (unknown label or outcome, empty
   reason...);
2. checks the role may take the action on this item (``policy``: ``Forbidden``);
3. changes the item's ``review`` only if the item is still at ``expected_version``, the version
   the person was shown; otherwise ``Stale`` and nothing changes, because deciding on a
   document someone else has changed since (a dismissal over a fresh escalation) is the mistake
   to prevent;
4. writes exactly one audit record: who, from which role, when, what, which item, details;
5. returns ``Done`` with the item's new version, to pass to the next action.

The audit record is written after the change: a failure in between leaves a change without its
record (the item still says who changed it last in ``review.updated_by``), never a record of a
change that did not happen.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pipeline.review.policy import (
    Forbidden,
    can_act,
    can_view,
    check_role,
    pageable_roles,
    visible_item,
)
from pipeline.schema import OPEN_ALERT_STATUSES, ReviewEvent, audit_document, utcnow
from pipeline.store import ConflictError, NotFound, Store, StoredDoc
from pipeline.store.embedded import merge
from pipeline.tipline.threads import (
    SqliteThreadStore,
    ThreadStore,
    ThreadStoreError,
    TipThread,
)

if TYPE_CHECKING:
    from pipeline.alerts.pager import Pager
    from pipeline.config import Settings

# Never the text of a reply or note: they quote students, and logs are kept elsewhere and longer.
log = logging.getLogger("threatline.review")

LABELS = ("threat_substantive", "threat_transient", "self_harm", "bullying", "not_a_concern")
OUTCOMES = ("no_action", "counseling_referral", "parent_contact", "administration", "law_enforcement")
MAX_REASON = 1000   # the audit index keeps the reason as one keyword (ES refuses terms over 32 KB)
MAX_TEXT = 5000     # notes and replies; a tip itself may be 5,000 characters
MAX_USER_ID = 200
# Alerts of the item that someone could still be paged for. "merged" ones acknowledge the open
# alert they were merged into (Pager.acknowledge), i.e. the page this item's repeat belongs to.
ACKNOWLEDGEABLE = ("pending", *OPEN_ALERT_STATUSES, "merged")
PAGE_ROLES = ("sro", "counselor", "admin")  # the roster's roles
# Who an escalation pages: the district's administrator on duty, above the SRO and the counselor.
ESCALATE_TO = {"sro": "admin", "counselor": "admin", "admin": "admin"}
STAFF = "staff"  # the thread store's sender for the school side (pipeline.tipline.threads)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Stale(Exception):
    """The item changed since the person loaded it; nothing was done."""

    def __init__(self, item_id: str, expected: str, current: str | None = None):
        super().__init__(f"item {item_id} was changed by someone else since you loaded it: "
                         "reload it to see what changed, then try again")
        self.item_id, self.expected, self.current = item_id, expected, current


class NotATip(ValueError):
    """Only a tip has a tipster to reply to."""


class ThreadGone(LookupError):
    """The tip's thread is not in the thread store (purged after its retention)."""


@dataclass(frozen=True)
class Done:
    item_id: str
    version: str            # the item's version now: the next action's expected_version
    review: dict[str, Any]  # the item's review object as stored now
    event: ReviewEvent      # the audit record written


# --- input checks ---------------------------------------------------------------------------------


def _text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} is required")
    value = value.strip()
    if len(value) > limit:
        raise ValueError(f"{what} is too long ({len(value)} characters; at most {limit})")
    if _CONTROL.search(value):
        raise ValueError(f"{what} contains control characters")
    return value


def _choice(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return value


def _user(value: Any, what: str) -> str:
    if isinstance(value, str) and any(ch.isspace() for ch in value):
        raise ValueError(f"{what} {value!r} must be a user id without spaces")
    return _text(value, what, MAX_USER_ID)


def fingerprint(text: str) -> dict[str, Any]:
    """What the audit trail keeps of a note or reply: enough to match it, not to read it."""
    return {"length": len(text), "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}


# --- the shared steps -----------------------------------------------------------------------------


def _load(store: Store, item_id: str, role: str) -> StoredDoc:
    current = store.get_item(item_id)
    if current is None:
        raise NotFound(f"item {item_id} not found")
    if not can_view(role, current.doc):
        raise Forbidden(f"role {role!r} may not see item {item_id}")
    return current


def _prepare(store: Store, item_id: str, actor: str, role: str, action: str, expected_version: str) -> StoredDoc:
    _user(actor, "actor")
    check_role(role)
    if not can_act(role, action):
        raise Forbidden(f"role {role!r} may not {action} items")
    current = _load(store, item_id, role)
    if current.version != expected_version:
        raise Stale(item_id, expected_version, current.version)
    return current


def _review(doc: dict[str, Any]) -> dict[str, Any]:
    review = doc.get("review")
    return review if isinstance(review, dict) else {}


def _write(store: Store, current: StoredDoc, actor: str, patch: dict[str, Any], now: datetime) -> tuple[str, dict]:
    patch = {**patch, "updated": now.isoformat(), "updated_by": actor}
    try:
        version = store.update_review(current.id, patch, current.version)
    except ConflictError:
        raise Stale(current.id, current.version) from None
    return version, merge(_review(current.doc), patch)


def _record(store: Store, item_id: str | None, actor: str, role: str, action: str, now: datetime,
            details: dict[str, Any], **fields: Any) -> ReviewEvent:
    event = ReviewEvent(item_id=item_id, actor=actor, role=role, action=action, at=now, details=details, **fields)
    store.append_audit([audit_document(event)])
    return event


def _change(store: Store, current: StoredDoc, actor: str, role: str, action: str, patch: dict[str, Any],
            now: datetime, details: dict[str, Any] | None = None, **fields: Any) -> Done:
    before = _review(current.doc).get("status")
    version, review = _write(store, current, actor, patch, now)
    details = dict(details or {})
    if review.get("status") != before:
        details["status"] = [before, review.get("status")]
    event = _record(store, current.id, actor, role, action, now, details, **fields)
    return Done(current.id, version, review, event)


def _label_patch(label: str | None, actor: str, now: datetime) -> dict[str, Any]:
    return {"label": label, "labeled_by": actor, "labeled_at": now.isoformat()} if label else {}


# --- the actions ----------------------------------------------------------------------------------


def view(store: Store, item_id: str, actor: str, role: str, *, via: str = "console",
         now: datetime | None = None) -> StoredDoc:
    """The item as ``role`` may see it, with its version; audits the view (DESIGN.md §7)."""
    _user(actor, "actor")
    check_role(role)
    current = _load(store, item_id, role)
    _record(store, item_id, actor, role, "view", now or utcnow(), {"via": via, "version": current.version})
    return StoredDoc(current.id, visible_item(role, current.doc), current.version)


def acknowledge(store: Store, item_id: str, actor: str, role: str, *, expected_version: str, pager: Pager,
                now: datetime | None = None) -> Done:
    """"I have it": acknowledges the item's alerts to the actor's role that could still page
    someone (an admin's: every role's), which stops their escalation, and moves an open item to
    acknowledged. A decided item (escalated, dismissed, resolved) or an assigned one keeps its
    status.

    Another role's page goes on: a P1 self-harm item pages the counselor and the SRO (for a
    welfare check), and the counselor taking it does not send an officer. ``details.other_roles``
    lists those alerts, for the console to say they are still open."""
    now = now or utcnow()
    current = _prepare(store, item_id, actor, role, "acknowledge", expected_version)
    before = _review(current.doc).get("status")
    version, review = _write(store, current, actor, {"status": "acknowledged"} if before == "open" else {}, now)
    acknowledged: dict[str, bool] = {}  # alert id -> someone had acknowledged it before
    other_roles: list[str] = []
    failure: Exception | None = None
    try:
        for alert in store.search_alerts(item_id=item_id, status=list(ACKNOWLEDGEABLE)):
            if role != "admin" and alert.doc.get("role") != role:
                other_roles.append(alert.id)
                continue
            result = pager.acknowledge(alert.id, actor, via="console", role=role, audit=False)
            acknowledged.setdefault(result.alert.id, result.already)
    except Exception as exc:  # noqa: BLE001 - recorded below, then raised
        failure = exc
    details: dict[str, Any] = {"alerts": [a for a, already in acknowledged.items() if not already],
                               "already_acknowledged": [a for a, already in acknowledged.items() if already],
                               "other_roles": other_roles}
    if review.get("status") != before:
        details["status"] = [before, review.get("status")]
    if failure is not None:
        # The item says acknowledged but some alert may still escalate: the record must say so.
        details["error"] = f"{type(failure).__name__}: some alerts may not be acknowledged; acknowledge again"
    event = _record(store, item_id, actor, role, "acknowledge", now, details)
    _raise(failure)
    return Done(item_id, version, review, event)


def assign(store: Store, item_id: str, actor: str, role: str, *, assignee: str | None, expected_version: str,
           now: datetime | None = None) -> Done:
    """Give the item to ``assignee`` (a user id), or take it back with None. An undecided item
    becomes "assigned"; taking the assignee away makes it open again, for someone to pick up."""
    assignee = None if assignee is None else _user(assignee, "assignee")
    now = now or utcnow()
    current = _prepare(store, item_id, actor, role, "assign", expected_version)
    status = _review(current.doc).get("status")
    patch: dict[str, Any] = {"assignee": assignee}
    if assignee and status in ("open", "acknowledged"):
        patch["status"] = "assigned"
    elif assignee is None and status == "assigned":
        patch["status"] = "open"
    previous = _review(current.doc).get("assignee")
    return _change(store, current, actor, role, "assign", patch, now, {"assignee": [previous, assignee]})


def escalate(store: Store, item_id: str, actor: str, role: str, *, reason: str, expected_version: str,
             pager: Pager | None = None, now: datetime | None = None) -> Done:
    """A case to act on (retention keeps it as actioned). With ``pager``, the next role up
    (``ESCALATE_TO``) is paged about it now; the audit record says who was reached."""
    reason = _text(reason, "a reason", MAX_REASON)
    now = now or utcnow()
    current = _prepare(store, item_id, actor, role, "escalate", expected_version)
    if pager is None:
        return _change(store, current, actor, role, "escalate", {"status": "escalated", "reason": reason}, now,
                       reason=reason)
    version, review = _write(store, current, actor, {"status": "escalated", "reason": reason}, now)
    paged, failure = _page(pager, item_id, ESCALATE_TO[role], actor, move_on=False, why=f"escalated by {actor}")
    event = _record(store, item_id, actor, role, "escalate", now,
                    {"status": [_review(current.doc).get("status"), "escalated"], **paged}, reason=reason)
    _raise(failure)
    return Done(item_id, version, review, event)


def page_now(store: Store, item_id: str, actor: str, role: str, *, page_role: str, expected_version: str,
             pager: Pager, move_on: bool = False, now: datetime | None = None) -> Done:
    """Page ``page_role`` about the item now: the person on duty, or (``move_on``) the next in
    the chain. For a P1 nobody was paged for, or a page nobody answers. Audited with who was
    reached. Self-harm below P1 is the counselor's, never an officer's."""
    page_role = _choice(page_role, PAGE_ROLES, "role to page")
    now = now or utcnow()
    current = _prepare(store, item_id, actor, role, "page_now", expected_version)
    if page_role not in pageable_roles(current.doc):
        raise ValueError("self-harm below P1 goes to the counselor on duty, not to police: page the counselor")
    version, review = _write(store, current, actor, {"paged_at": now.isoformat(), "paged_by": actor}, now)
    paged, failure = _page(pager, item_id, page_role, actor, move_on=move_on, why="")
    event = _record(store, item_id, actor, role, "page_now", now, paged)
    _raise(failure)
    return Done(item_id, version, review, event)


def _page(pager: Pager, item_id: str, page_role: str, actor: str, *, move_on: bool,
          why: str) -> tuple[dict[str, Any], Exception | None]:
    """Page, and what happened for the audit record. Reaching nobody is not an error here: the
    alert retries on its own and the console shows its state. A store failure is returned, for the
    caller to record and then raise."""
    try:
        alert = pager.page_now(item_id, page_role, actor, move_on=move_on, why=why)
    except Exception as exc:  # noqa: BLE001 - recorded by the caller, then raised
        return {"paged": page_role, "error": f"{type(exc).__name__}: nobody was paged; try again"}, exc
    return {"paged": page_role, "alert_id": alert.id, "alert_status": alert.status, "person": alert.person,
            **({"error": alert.last_error} if alert.last_error else {})}, None


def _raise(failure: Exception | None) -> None:
    if failure is not None:
        raise failure


def dismiss(store: Store, item_id: str, actor: str, role: str, *, reason: str, expected_version: str,
            label: str | None = None, now: datetime | None = None) -> Done:
    """Not a concern: outcome "no_action" (retention purges it after the dismissed period).
    The reason is required, so every dismissal of a possible threat says why."""
    reason = _text(reason, "a reason", MAX_REASON)
    label = None if label is None else _choice(label, LABELS, "label")
    now = now or utcnow()
    current = _prepare(store, item_id, actor, role, "dismiss", expected_version)
    patch = {"status": "dismissed", "outcome": "no_action", "reason": reason, **_label_patch(label, actor, now)}
    return _change(store, current, actor, role, "dismiss", patch, now, reason=reason, label=label)


def resolve(store: Store, item_id: str, actor: str, role: str, *, outcome: str, expected_version: str,
            reason: str | None = None, label: str | None = None, close_with: str | None = None,
            threads: ThreadStore | None = None, now: datetime | None = None) -> Done:
    """Closed with what was done (``OUTCOMES``). With ``close_with`` (a tip), the tip's thread is
    closed too, with that message to the tipster (``close_thread``, its own audit record)."""
    outcome = _choice(outcome, OUTCOMES, "outcome")
    reason = None if reason is None else _text(reason, "a reason", MAX_REASON)
    label = None if label is None else _choice(label, LABELS, "label")
    if close_with is not None:
        close_with = _text(close_with, "a closing message", MAX_TEXT)
        if threads is None:
            raise ValueError("closing the tip thread needs the thread store")
    now = now or utcnow()
    current = _prepare(store, item_id, actor, role, "resolve", expected_version)
    if close_with is not None:
        _tip_thread(current, threads)  # before resolving: a post or a purged thread changes nothing
    patch = {"status": "resolved", "outcome": outcome, **({"reason": reason} if reason else {}),
             **_label_patch(label, actor, now)}
    done = _change(store, current, actor, role, "resolve", patch, now, {"outcome": outcome}, reason=reason,
                   label=label)
    if close_with is None:
        return done
    closed = close_thread(store, item_id, actor, role, text=close_with, expected_version=done.version,
                          threads=threads, now=now)
    return Done(item_id, closed.version, closed.review, done.event)


def label(store: Store, item_id: str, actor: str, role: str, *, label: str, expected_version: str,
          now: datetime | None = None) -> Done:
    """What the item really was (``LABELS``); retraining reads it."""
    label = _choice(label, LABELS, "label")
    now = now or utcnow()
    current = _prepare(store, item_id, actor, role, "label", expected_version)
    previous = _review(current.doc).get("label")
    return _change(store, current, actor, role, "label", _label_patch(label, actor, now), now,
                   {"previous": previous}, label=label)


def note(store: Store, item_id: str, actor: str, role: str, *, text: str, expected_version: str,
         now: datetime | None = None) -> Done:
    """Append to ``review.notes``. The audit record keeps the note's length and hash only: it
    outlives the item, and notes quote it."""
    text = _text(text, "a note", MAX_TEXT)
    now = now or utcnow()
    current = _prepare(store, item_id, actor, role, "note", expected_version)
    notes = _review(current.doc).get("notes") or []
    # The whole list is written back; the version check makes sure it is the list just read.
    patch = {"notes": [*notes, {"at": now.isoformat(), "by": actor, "text": text}]}
    return _change(store, current, actor, role, "note", patch, now, {"note": len(notes) + 1, **fingerprint(text)})


def reply(store: Store, item_id: str, actor: str, role: str, *, text: str, expected_version: str,
          threads: ThreadStore, now: datetime | None = None) -> Done:
    """Send ``text`` to the tipster: a "staff" message in the tip's thread, which the tipster
    reads on the tip line's follow-up page. A thread still "received" becomes "in_review"."""
    text = _text(text, "a reply", MAX_TEXT)
    now = now or utcnow()
    current = _prepare(store, item_id, actor, role, "reply", expected_version)
    code, thread = _tip_thread(current, threads)
    version, review = _write(store, current, actor, {"replied_at": now.isoformat(), "replied_by": actor}, now)
    details: dict[str, Any] = {"thread": code, **fingerprint(text)}
    failure: Exception | None = None
    try:
        details["seq"] = threads.add_message(code, STAFF, text)
    except ThreadStoreError as exc:
        failure = exc
        details["error"] = f"{type(exc).__name__}: the reply was not delivered"
    event = _record(store, item_id, actor, role, "reply", now, details)
    _raise(failure)
    log.info("reply to the tipster of item %s by %s (%d characters)", item_id, actor, len(text))
    if thread.status == "received":
        try:
            threads.set_status(code, "in_review")
        except ThreadStoreError as exc:  # the reply is there; the status is a courtesy
            log.warning("tip thread of item %s: could not mark it in review: %s", item_id, type(exc).__name__)
    return Done(item_id, version, review, event)


def close_thread(store: Store, item_id: str, actor: str, role: str, *, text: str, expected_version: str,
                 threads: ThreadStore, now: datetime | None = None) -> Done:
    """End the conversation: ``text`` is the last message the tipster reads, and the tip line shows
    the thread as closed. The tipster can still add details; they arrive as follow-ups."""
    text = _text(text, "a closing message", MAX_TEXT)
    now = now or utcnow()
    current = _prepare(store, item_id, actor, role, "close_thread", expected_version)
    code, _ = _tip_thread(current, threads)
    version, review = _write(store, current, actor, {"thread_closed_at": now.isoformat(), "thread_closed_by": actor}, now)
    details: dict[str, Any] = {"thread": code, **fingerprint(text)}
    failure: Exception | None = None
    try:
        details["seq"] = threads.add_message(code, STAFF, text)
        threads.set_status(code, "closed")
    except ThreadStoreError as exc:
        failure = exc
        details["error"] = f"{type(exc).__name__}: the thread may still be open; close it again"
    event = _record(store, item_id, actor, role, "close_thread", now, details)
    _raise(failure)
    log.info("tip thread of item %s closed by %s", item_id, actor)
    return Done(item_id, version, review, event)


def _tip_thread(current: StoredDoc, threads: ThreadStore) -> tuple[str, TipThread]:
    threat = current.doc.get("threat") or {}
    code = (threat.get("tip") or {}).get("code")
    if threat.get("kind") != "tip" or not code:
        raise NotATip(f"item {current.id} is not a tip: there is no tipster to write to")
    thread = threads.get(code)
    if thread is None:
        raise ThreadGone(f"the tip thread of item {current.id} is gone (deleted after its retention period)")
    return code, thread


def tip_threads(settings: Settings) -> SqliteThreadStore:
    """The tip line's thread store, which ``reply`` and ``item_context`` read and write."""
    return SqliteThreadStore(settings.data_dir / settings.tipline.threads_file)


ACTIONS: dict[str, Callable[..., Done]] = {
    "acknowledge": acknowledge, "assign": assign, "escalate": escalate, "dismiss": dismiss,
    "resolve": resolve, "label": label, "note": note, "reply": reply, "page_now": page_now,
    "close_thread": close_thread,
}
