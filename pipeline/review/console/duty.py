"""The on-duty page (``/on-duty``): who a page would reach right now, per school and role, with
the gaps (nobody on duty) marked. Read from the same roster the pager uses
(``pipeline.review.on_duty``), so the page cannot disagree with a page sent."""

from __future__ import annotations

from itertools import groupby

from fastapi import Depends, Request

from pipeline.review.console.web import Viewer, console_of, current_viewer, protected_router, render
from pipeline.review.on_duty import ROLES, coverage

router = protected_router()


@router.get("/on-duty")
async def on_duty_page(request: Request, viewer: Viewer = Depends(current_viewer)):
    c = console_of(request)
    now = c.clock()
    rows = [(school, {cover.role: cover for cover in covers})
            for school, covers in groupby(coverage(c.pager.roster, c.schools, now), key=lambda cover: cover.school)]
    return render(request, "on_duty.html", title="On duty now", rows=rows, roles=ROLES, now=now,
                  timezone=c.pager.roster.timezone)
