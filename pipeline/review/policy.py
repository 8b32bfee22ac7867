"""Who may see what in the review console, and who may do what. Pure: no I/O (docs/review.md).

- **sro**: every category except self-harm, and self-harm at P1 only. That is what SROs are
  paged for (``config/alert_rules.yaml``: P1 self-harm pages counselor + SRO for a welfare
  check); a student's self-harm below that is a welfare matter for the counselor, not a police
  one. Sees tipster contacts: an SRO may have to call a tipster back about a threat.
- **counselor**: self-harm and bullying, every severity. No tipster contacts: counselors answer
  a tipster through the tip thread (``reply``), which keeps tipsters anonymous by default.
- **analyst**: every item, to label it and read the metrics, but never a tipster contact nor
  the tip conversation (tipsters type phone numbers into follow-ups); no case actions.
- A tip's conversation shows each message of the tipster only to roles that may see the item it
  became (``can_read_message``): the roles above hold for follow-ups too.
- **admin**: everything, and manages users.

The same ``Scope`` data drives the store query (``item_filter``) and the check on one document
(``can_view``), so the queue can never list an item its page would refuse.
"""

from __future__ import annotations

import copy
from typing import Any, get_args

from pipeline.schema import Category
from pipeline.store import Scope

ROLES = ("sro", "counselor", "analyst", "admin")


class Forbidden(PermissionError):
    """The role may not see this item or take this action. The console should answer as for a
    missing item, so that ids do not reveal what exists."""

CATEGORIES: tuple[str, ...] = get_args(Category)

SCOPES: dict[str, tuple[Scope, ...]] = {
    "sro": (Scope(category=tuple(c for c in CATEGORIES if c != "self_harm")),
            Scope(category=("self_harm",), severity=("P1",))),
    "counselor": (Scope(category=("self_harm", "bullying")),),
    "analyst": (),  # no limit
    "admin": (),
}
CONTACT_ROLES = frozenset({"sro", "admin"})        # threat.tip.contact
CONVERSATION_ROLES = frozenset({"sro", "counselor", "admin"})  # the tip thread's messages

_CASEWORK = frozenset({"sro", "counselor", "admin"})
ACTIONS: dict[str, frozenset[str]] = {
    "view": frozenset(ROLES),
    "search": frozenset(ROLES),
    "acknowledge": _CASEWORK,
    "assign": _CASEWORK,
    "escalate": _CASEWORK,
    "page_now": _CASEWORK,
    "dismiss": _CASEWORK,
    "resolve": _CASEWORK,
    "reply": _CASEWORK,
    "close_thread": _CASEWORK,
    "label": frozenset(ROLES),  # labels feed retraining: whoever read the item may label it
    "note": frozenset(ROLES),
    "manage_users": frozenset({"admin"}),
}


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role


def can_act(role: str, action: str) -> bool:
    return role in ACTIONS.get(action, ())


def _in_scope(scope: Scope, doc: dict[str, Any]) -> bool:
    threat = doc.get("threat") if isinstance(doc.get("threat"), dict) else {}
    return ((not scope.category or threat.get("category") in scope.category)
            and (not scope.severity or threat.get("severity") in scope.severity))


def can_view(role: str, doc: dict[str, Any]) -> bool:
    if role not in SCOPES:
        return False
    scopes = SCOPES[role]
    return not scopes or any(_in_scope(s, doc) for s in scopes)


def can_see_contact(role: str) -> bool:
    return role in CONTACT_ROLES


def can_read_conversation(role: str, doc: dict[str, Any]) -> bool:
    return role in CONVERSATION_ROLES and can_view(role, doc)


def can_read_message(role: str, became: dict[str, Any] | None) -> bool:
    """A tipster's message in a conversation the role may read: only if the role may also see the
    item that message became. A follow-up scored as violence on a bullying tip is not a
    counselor's to read, nor the phone number in it. A message whose item is not indexed (yet)
    is for roles that see every item."""
    if role not in CONVERSATION_ROLES:
        return False
    return not SCOPES[role] or (became is not None and can_view(role, became))


def pageable_roles(doc: dict[str, Any]) -> tuple[str, ...]:
    """Whom the console may page about an item: self-harm below P1 is a welfare matter for the
    counselor, never a page to police (the same rule as ``config/alert_rules.yaml``)."""
    threat = doc.get("threat") if isinstance(doc.get("threat"), dict) else {}
    if threat.get("category") == "self_harm" and threat.get("severity") != "P1":
        return ("counselor", "admin")
    return ("sro", "counselor", "admin")


def visible_item(role: str, doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``doc`` without what ``role`` may not see; Forbidden if the role may not see
    the item at all."""
    if not can_view(role, doc):
        raise Forbidden(f"role {role!r} may not see this item")
    visible = copy.deepcopy(doc)
    tip = (visible.get("threat") or {}).get("tip")
    if isinstance(tip, dict) and not can_see_contact(role):
        tip.pop("contact", None)
    return visible


def item_filter(role: str) -> dict[str, Any]:
    """``ItemQuery`` keyword arguments that limit a search to what ``role`` may see."""
    return {"scopes": SCOPES[check_role(role)]}
