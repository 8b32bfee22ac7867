"""Turning what sources send (HTML fragments, assorted date formats) into RawPost fields."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from w3lib.html import remove_comments, remove_tags, remove_tags_with_content, replace_entities

_BLOCK = re.compile(r"(?i)<\s*(br|/p|/div|/li|/h\d|/blockquote)\b[^>]*>")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_NEWLINES = re.compile(r"\n\s*\n+")


def strip_html(value: str | None) -> str:
    """Plain text from an HTML fragment; block ends become newlines so sentences don't fuse."""
    if not value:
        return ""
    text = remove_comments(value)
    text = remove_tags_with_content(text, which_ones=("script", "style"))
    text = _BLOCK.sub("\n", text)
    text = replace_entities(remove_tags(text))
    text = _SPACES.sub(" ", text)
    lines = [line.strip() for line in text.split("\n")]
    return _NEWLINES.sub("\n\n", "\n".join(lines)).strip()


def parse_date(value: str | int | float | None) -> datetime | None:
    """ISO 8601, RFC 822 (RSS) or epoch seconds (Reddit); None when unreadable, never an error."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def mentions_any(text: str, terms: list[str]) -> bool:
    lowered = text.lower()
    return any(term.lower() in lowered for term in terms)
