"""An audit record in one line, for ``threatline audit --item`` and the console's item page."""

from __future__ import annotations

import json
from typing import Any


def describe(record: dict[str, Any]) -> str:
    """The record's label, reason and details as one line of ``key=value``."""
    review = record.get("review") or {}
    parts = [f"{key}={review[key]}" for key in ("label", "reason", "note") if review.get(key)]
    for key, value in (record.get("details") or {}).items():
        parts.append(f"{key}={value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}")
    return "  ".join(parts)
