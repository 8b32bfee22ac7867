"""`threatline purge`: the retention purge by hand, the same as the daily `purge-expired` run."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipeline.bus import BusError
from pipeline.cli import ConfigOption, app, fail, plain_console, settings
from pipeline.store import StoreError
from pipeline.terminal import safe_text

if TYPE_CHECKING:
    from pipeline.config import Settings
    from pipeline.retention import RetentionReport


@app.command()
def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would go; delete nothing")] = False,
    config: ConfigOption = None,
) -> None:
    """Delete what is past its retention: decided flagged items, bus messages, tip threads."""
    from pipeline.retention import purge_all
    from pipeline.tipline.threads import ThreadStoreError

    # The table below says what the purge logs; with no logging configured, Python's last-resort
    # handler would add its warnings to stderr, and a failure must stay one line.
    logging.getLogger("threatline.retention").addHandler(logging.NullHandler())
    s = settings(config)
    try:
        report = purge_all(s, dry_run=dry_run)
    except (StoreError, BusError, ThreadStoreError) as exc:
        # purge_all ran the other steps before raising: one failing store holds up nothing else.
        fail(f"purge failed: {exc}", 1)
    show(plain_console(), report, s)


def show(out: Console, report: RetentionReport, s: Settings) -> None:
    items, bus = report.items, report.bus
    table = Table("what", "kept", "would go" if items.dry_run else "deleted", title_justify="left",
                  title="dry run: nothing deleted" if items.dry_run else None)
    table.add_row("dismissed items", f"{s.store.dismissed_retention_days} days after the decision",
                  str(items.purged["dismissed"]))
    table.add_row("actioned items", f"{s.store.actioned_retention_days} days after the decision",
                  str(items.purged["actioned"]))
    table.add_row("alert excerpts", "until their item goes", str(items.alerts_redacted))
    table.add_row("bus messages", f"{bus.retention_days} days",
                  str(bus.total) if bus.backend == "embedded" else "by the broker (retention.ms)")
    table.add_row("tip threads", f"{s.tipline.retention_days} days after the last message",
                  "not counted" if report.threads is None else str(report.threads))
    out.print(table)
    out.print(f"checked {items.checked} decided item(s); open items are never purged by a clock")
    if bus.unconsumed:
        out.print(f"{bus.unconsumed} bus message(s) {'would go' if items.dry_run else 'went'} "
                  "before every consumer had read them: was a stage down?")
    if items.unreadable:
        out.print(safe_text(f"kept {len(items.unreadable)} item(s) whose review time is not a date: "
                            f"{', '.join(items.unreadable[:10])}"))
