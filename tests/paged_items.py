"""A P1 threat already flagged and paged: where CLI tests of alerts and status start."""

from __future__ import annotations

from pipeline.bootstrap import build_pager, runtime
from pipeline.config import Settings
from pipeline.schema import ScoredItem, item_document


def page_p1_post(settings: Settings, item_id: str, **pager_overrides):
    """Set up the backends, index one P1 post at Lincoln and page it with the configured roster;
    the alert. ``pager_overrides``: as build_pager takes them (a clock, say)."""
    item = ScoredItem(id=item_id, kind="post", text="bringing a gun to lincoln tomorrow", source="forum",
                      threat_score=0.97, self_harm_score=0, severity="P1", category="violence",
                      school="Lincoln High School", school_relevance=1, model_version="test",
                      explanation=["threat cue: bring a gun"])
    with runtime(settings) as rt:
        rt.setup()
        rt.store.index_items([item_document(item)])
        [alert] = build_pager(settings, rt.store, **pager_overrides).page(item)
    return alert
