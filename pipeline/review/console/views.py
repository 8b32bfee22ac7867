"""Stored documents turned into what the console's templates show. Pure: the values stay text,
and the templates escape them (only ``highlight`` returns markup, built from escaped text)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pipeline.review.console.highlight import highlight
from pipeline.review.policy import CATEGORIES, SCOPES
from pipeline.review.trail import describe

EXCERPT = 240


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
    """One line of a list of items (the queue, the author's and the thread's other items)."""
    threat, event, review = doc.get("threat") or {}, doc.get("event") or {}, doc.get("review") or {}
    return {"id": event.get("id", ""), "severity": threat.get("severity", ""), "category": threat.get("category", ""),
            "school": threat.get("school") or "", "status": review.get("status", ""), "label": review.get("label"),
            "assignee": review.get("assignee"), "at": doc.get("@timestamp"), "source": event.get("provider", ""),
            "kind": threat.get("kind", ""), "score": threat.get("score"), "excerpt": excerpt(doc.get("message"))}


def item_view(doc: dict[str, Any]) -> dict[str, Any]:
    """Everything the item page shows of the item itself. ``doc`` is what the role may see
    (``policy.visible_item``): a tipster's contact is in it only for the roles allowed it."""
    threat, event, review = doc.get("threat") or {}, doc.get("event") or {}, doc.get("review") or {}
    url = (doc.get("url") or {}).get("full")
    tip = threat.get("tip") or {}
    return {**row(doc), "message": highlight(doc.get("message") or "", threat.get("cues") or []),
            "explanation": threat.get("explanation") or [], "cues": threat.get("cues") or [], "url": url,
            "link": web_link(url), "author": (doc.get("user") or {}).get("name"), "module": event.get("module", ""),
            "scored": event.get("created"), "self_harm_score": threat.get("self_harm_score"),
            "school_relevance": threat.get("school_relevance"), "model_version": threat.get("model_version", ""),
            "tip_code": tip.get("code"), "contact": tip.get("contact"), "outcome": review.get("outcome"),
            "reason": review.get("reason"), "labeled_by": review.get("labeled_by"), "notes": review.get("notes") or [],
            "updated": review.get("updated"), "updated_by": review.get("updated_by")}


def alert_view(alert: dict[str, Any]) -> dict[str, Any]:
    return {key: alert.get(key) for key in ("id", "role", "status", "person", "acknowledged_by", "acknowledged_at")}


def audit_view(record: dict[str, Any]) -> dict[str, Any]:
    user = record.get("user") or {}
    return {"at": record.get("@timestamp"), "who": user.get("name") or "", "role": ", ".join(user.get("roles") or []),
            "action": (record.get("event") or {}).get("action") or "", "details": describe(record)}


def _label(value: str) -> str:
    return value.replace("_", "-")


def scope_text(role: str) -> str | None:
    """What ``role`` sees, in words, from the policy's scopes; None when it sees everything."""
    flagged = [c for c in CATEGORIES if c != "none"]
    parts = []
    for scope in SCOPES[role]:
        shown = [c for c in flagged if c in scope.category] if scope.category else flagged
        missing = [c for c in flagged if c not in shown]
        if not missing:
            what = "every category"
        elif len(missing) < len(shown):
            what = f"every category but {' and '.join(map(_label, missing))}"
        else:
            what = " and ".join(map(_label, shown))
        parts.append(what + (f" at {' or '.join(scope.severity)} only" if scope.severity else ""))
    return "; ".join(parts) or None


def visible_categories(role: str) -> list[str]:
    """The categories worth a filter box for ``role``: those in any of its scopes."""
    flagged = [c for c in CATEGORIES if c != "none"]
    scopes = SCOPES[role]
    return [c for c in flagged if not scopes or any(not s.category or c in s.category for s in scopes)]
