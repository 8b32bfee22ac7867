"""Helpers for the review server tests: a movable clock, a flagged item, paging it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

from pipeline.schema import ScoredItem, item_document

# A Wednesday, 10:00 in Riverton: Officer Reyes is on duty for Lincoln High School.
PAGED_AT = datetime(2026, 3, 4, 16, 0, tzinfo=UTC)




def flagged(text: str = "I'm bringing my dad's gun to Lincoln tomorrow, you'll all see", **changes) -> ScoredItem:
    values = dict(id="item-ack-1", kind="post", text=text, source="reddit:lincolnhigh", source_kind="reddit",
                  author="someone", severity="P1", category="violence", school="Lincoln High School",
                  threat_score=0.97, self_harm_score=0.01, school_relevance=0.9, model_version="test",
                  explanation=["threat of violence with a weapon", "names Lincoln High School"])
    return ScoredItem(**(values | changes))


def page_one(rt, pager, sent, item: ScoredItem | None = None):
    """Index ``item`` and page it; (alert, path of its acknowledge link)."""
    item = item or flagged()
    rt.store.index_items([item_document(item)])
    [alert] = pager.page(item)
    [link] = re.findall(r"Acknowledge: (\S+)", sent[-1])
    return alert, urlsplit(link).path
