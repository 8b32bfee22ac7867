"""`threatline status`: the deployment at a glance (docs/operations.md, "What to watch").

Exit 0: nothing needs attention. Exit 1: something does (a stage down, stuck or silent; dead
letters waiting; a gap in on-duty coverage in the next 24 hours; a part that could not be read).
Exit 2: the config is broken.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from rich.text import Text

from pipeline.cli import ConfigOption, app, fail, plain_console, settings
from pipeline.terminal import json_line, safe_text


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object instead of tables")] = False,
    at: Annotated[str | None, typer.Option(
        "--at", help="check on-duty coverage for the 24 h from this instant (ISO, with its UTC offset); "
                     "default: now")] = None,
    config: ConfigOption = None,
) -> None:
    """Stages (state, lag), dead letters, the last page, the model, sources, on-duty gaps.
    Exits 1 when something needs attention."""
    from pipeline.bootstrap import runtime
    from pipeline.schema import utcnow
    from pipeline.status import gather

    s = settings(config)
    now = utcnow()
    if at is not None:
        try:
            now = datetime.fromisoformat(at)
        except ValueError:
            fail(f"error: --at {at!r} is not an ISO date-time", 2)
        if now.tzinfo is None:
            fail("error: --at needs a UTC offset, e.g. 2026-12-24T22:00-06:00", 2)
    with runtime(s) as rt:
        found = gather(rt, now)
    attention = found.attention()
    if as_json:
        typer.echo(json_line(found.as_dict()))
    else:
        show(found, attention)
    raise typer.Exit(1 if attention else 0)


def show(found, attention: list[str]) -> None:
    zone = ZoneInfo(found.timezone)
    console = plain_console()

    def local(value: datetime | str) -> str:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"

    console.print(Text(f"threatline status at {local(found.at)} ({found.timezone})"))
    stages = Table(title="stages", title_justify="left")
    for column in ("stage", "state", "lag", "problem"):
        stages.add_column(column, overflow="fold")
    for row in found.stages:
        stages.add_row(row.stage, row.state, "?" if row.lag is None else str(row.lag), safe_text(row.problem or ""))
    console.print(stages)

    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    if found.dead_letters is None:
        letters = "unknown"
    else:
        letters = f"{found.dead_letters} waiting, {found.dead_letters_total} in all"
        letters += " (`threatline dlq list`)" if found.dead_letters else ""
    page = found.last_page
    last = "none yet" if page is None else (
        f"{local(page['sent_at'])}  {page['severity']} {page['category']}  {page['school'] or 'no school'}  "
        f"{page['role']} → {page['person'] or 'nobody'} ({page['channel'] or '?'}), {page['status']}  {page['id']}")
    for name, value in (("dead letters", letters), ("last page", last), ("model", found.model or "unknown"),
                        ("sources", ", ".join(found.sources) or "none enabled: only tips come in")):
        facts.add_row(Text(name), safe_text(value))
    console.print(facts)

    if found.gaps is not None:
        if not found.gaps:
            console.print(Text("on duty: every school and paged role covered for the next 24 h"))
        else:
            gaps = Table(title=f"on-duty gaps in the next 24 h ({found.timezone})", title_justify="left")
            for column in ("school", "role", "from", "to", "pages fall to"):
                gaps.add_column(column, overflow="fold")
            for g in found.gaps:
                gaps.add_row(safe_text(g.school), g.role, local(g.start), local(g.end) + (" or later" if g.open_ended else ""),
                             safe_text(g.falls_to or "nobody"))
            console.print(gaps)

    if attention:
        console.print(Text(f"needs attention ({len(attention)}):"))
        for line in attention:
            console.print(Text("  - ") + safe_text(line, keep_lines=False))
    else:
        console.print(Text("all clear"))
