"""`threatline audit --item ID`: who did or viewed what on one item, and when (docs/review.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from pipeline.cli import ConfigOption, app, fail, plain_console, settings
from pipeline.terminal import json_line, safe_text


def when(value: Any, zone: ZoneInfo) -> str:
    try:
        return datetime.fromisoformat(str(value)).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return str(value)


@app.command()
def audit(
    item: Annotated[str, typer.Option("--item", help="the item id (event.id); its records outlive a purged item")],
    as_json: Annotated[bool, typer.Option("--json", help="one audit document per line, as stored")] = False,
    config: ConfigOption = None,
) -> None:
    """An item's audit trail, oldest first: views, actions, acknowledgements, purge."""
    from pipeline.bootstrap import build_store
    from pipeline.review.trail import describe

    s = settings(config)
    store = build_store(s)
    try:
        records = store.audit_for(item)
    finally:
        store.close()
    if not records:
        fail(f"error: no audit records for item {item}", 1)
    if as_json:
        for record in records:
            typer.echo(json_line(record))
        return
    zone = ZoneInfo(s.general.timezone)
    table = Table(title=f"audit trail of item {item}: {len(records)} record(s), oldest first", title_justify="left")
    table.add_column(f"when ({s.general.timezone})", no_wrap=True)
    for column in ("who", "role", "action"):
        table.add_column(column, no_wrap=True)
    table.add_column("details", overflow="fold")  # all of it: an audit line cut short hides what was done
    for record in records:
        user = record.get("user") or {}
        # Names, reasons and details were typed by people: never console markup, no control characters.
        table.add_row(when(record.get("@timestamp"), zone), safe_text(user.get("name") or ""),
                      safe_text(", ".join(user.get("roles") or [])), safe_text((record.get("event") or {}).get("action")),
                      safe_text(describe(record)))
    plain_console().print(table)
