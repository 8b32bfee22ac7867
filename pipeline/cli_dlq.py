"""`threatline dlq list | show ID | replay [ID]`: the dead letters, audited (docs/operations.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Optional
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from rich.text import Text

from pipeline.cli import ConfigOption, app, fail, plain_console, settings
from pipeline.terminal import json_line, safe_text

dlq_app = typer.Typer(help="Dead letters: messages a stage could not process (every use is audited).",
                      no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")

TopicOption = Annotated[Optional[str], typer.Option(
    "--topic", help="only those from this original topic (posts.raw, tips.raw, items.flagged…; prefix optional)")]
# A listing shows the start of each reason (pydantic's run long); `dlq show` and --json all of it.
REASON_WIDTH = 120
SinceOption = Annotated[Optional[str], typer.Option(
    "--since", help="only those dead-lettered at or after this ISO date or date and time (local time)")]


@contextmanager
def dead_letters(config) -> Iterator[tuple]:
    from pipeline.bootstrap import runtime
    from pipeline.dead_letters import DeadLetters

    s = settings(config)
    with runtime(s) as rt:
        yield s, DeadLetters(rt.bus, rt.store, s)


@contextmanager
def refusals() -> Iterator[None]:
    """A request that cannot be carried out as asked: one line, exit 2 (no such dead letter: 1)."""
    from pipeline.dead_letters import DeadLetterError
    from pipeline.store import NotFound

    try:
        yield
    except DeadLetterError as exc:
        fail(f"error: {exc}", 2)
    except NotFound as exc:
        fail(f"error: {exc}", 1)


def when(value: datetime | None, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value else "unknown"


def short(text: str, limit: int = REASON_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def untrusted(text: str, *, keep_lines: bool = False) -> Text:
    """Text from a message or an error about it: controls written out, never console markup."""
    return safe_text(text, keep_lines=keep_lines)


@dlq_app.command("list")
def list_(
    topic: TopicOption = None,
    since: SinceOption = None,
    pending: Annotated[bool, typer.Option("--pending", help="only those not replayed yet")] = False,
    by: Annotated[Optional[str], typer.Option("--by", help="who is looking (audit trail); default cli:<OS user>")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object: dead letters, waiting, stage problems")] = False,
    config: ConfigOption = None,
) -> None:
    """Dead letters, oldest first: id, when, stage, original topic, reason, size, replayed."""
    from pipeline import stage_health
    from pipeline.actors import cli_actor
    from pipeline.dead_letters import parse_since

    with refusals(), dead_letters(config) as (s, letters):
        zone = ZoneInfo(s.general.timezone)
        found = letters.list(actor=by or cli_actor(), topic=topic, since=parse_since(since, zone) if since else None,
                             pending=pending)
        problems = stage_health.problems(s.data_dir, s.stages.stuck_alarm_s)
    waiting = sum(not d.replayed for d in found)
    if as_json:
        typer.echo(json_line({"topic": letters.topic, "dead_letters": [d.summary() for d in found],
                              "waiting": waiting, "stage_problems": problems}))
        return
    console = plain_console()
    if not found:
        console.print(Text("no dead letters" + (" matching the filters" if topic or since or pending else "")))
    else:
        table = Table(title=f"{len(found)} dead letter(s) on {letters.topic}, {waiting} not replayed; "
                            f"oldest first (`threatline dlq show ID`)", title_justify="left")
        table.add_column("id", no_wrap=True)
        table.add_column(f"when ({s.general.timezone})", no_wrap=True)
        for column in ("stage", "topic"):
            table.add_column(column, no_wrap=True)
        table.add_column("reason", overflow="fold")
        table.add_column("bytes", justify="right", no_wrap=True)
        table.add_column("replayed", no_wrap=True)
        for d in found:
            replayed = f"yes ({len(d.replays)}×, last by {d.replays[-1].by})" if d.replays else "no"
            table.add_row(d.id, when(d.at, zone), untrusted(d.stage), untrusted(d.topic), untrusted(short(d.reason)),
                          str(d.size), untrusted(replayed))
        console.print(table)
    for line in problems:
        console.print(Text("stage problem: ") + untrusted(line))


@dlq_app.command("show")
def show(
    dlq_id: Annotated[str, typer.Argument(metavar="ID", help="partition:offset on the dlq topic, as `dlq list` shows it")],
    by: Annotated[str, typer.Option("--by", help="who is reading it (audit trail): it holds a student's words")],
    config: ConfigOption = None,
) -> None:
    """One dead letter: its headers and the original message (as UTF-8 text, controls written out)."""
    with refusals(), dead_letters(config) as (s, letters):
        d = letters.show(dlq_id, actor=by)
    zone = ZoneInfo(s.general.timezone)
    console = plain_console()
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    replayed = ("; ".join(f"by {r.by} at {r.at}" for r in d.replays)) if d.replays else "no"
    for name, value in (("dead letter", f"{d.id} on {d.dlq_topic}"), (f"when ({s.general.timezone})", when(d.at, zone)),
                        ("stage", d.stage), ("original", f"{d.topic} at partition:offset {d.source}"),
                        ("key", d.key or ""), ("reason", d.reason), ("size", f"{d.size} bytes, sha256 {d.sha256}"),
                        ("replayed", replayed)):
        facts.add_row(Text(name), untrusted(value))
    console.print(facts)
    headers = Table(title="headers", title_justify="left")
    headers.add_column("name", no_wrap=True)
    headers.add_column("value", overflow="fold")
    for name, value in d.headers.items():
        headers.add_row(untrusted(name), untrusted(value))
    console.print(headers)
    console.print(Text("original message (UTF-8, invalid bytes as \ufffd):", style="bold"))
    console.print(untrusted(d.text(), keep_lines=True))


@dlq_app.command("replay")
def replay(
    dlq_id: Annotated[Optional[str], typer.Argument(metavar="ID", help="one dead letter; without it, every one not replayed yet")] = None,
    by: Annotated[str, typer.Option("--by", help="who replays (audit trail)")] = ...,
    topic: TopicOption = None,
    since: SinceOption = None,
    again: Annotated[bool, typer.Option("--again", help="replay those replayed before too")] = False,
    config: ConfigOption = None,
) -> None:
    """Republish dead letters (original bytes and key) to their original topic, once each.

    The stages process them again, idempotently; one replayed before is skipped unless --again."""
    from pipeline.dead_letters import parse_since

    with refusals(), dead_letters(config) as (s, letters):
        report = letters.replay(dlq_id, actor=by, topic=topic, again=again,
                                since=parse_since(since, ZoneInfo(s.general.timezone)) if since else None)
    console = plain_console()
    for d in report.replayed:
        console.print(Text(f"replayed {d.id} → ") + untrusted(f"{d.topic} (key {d.key})"))
    for d in report.skipped:
        console.print(Text(f"skipped {d.id}: replayed before by ") + untrusted(d.replays[-1].by)
                      + Text(" (--again to replay it anyway)"))
    for d, why in report.refused:
        console.print(Text(f"refused {d.id}: ") + untrusted(why))
    console.print(Text(f"{len(report.replayed)} replayed, {len(report.skipped)} skipped (replayed before), "
                       f"{len(report.refused)} refused"))
    if report.refused:
        raise typer.Exit(1)
