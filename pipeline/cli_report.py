"""`threatline report`: the transparency report of a period (docs/accountability.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipeline.bus import BusError
from pipeline.cli import ConfigOption, app, fail, moment_option, settings
from pipeline.store import StoreError

FORMATS = ("md", "html", "json")


@app.command()
def report(
    since: Annotated[Optional[str], typer.Option(help="first day (YYYY-MM-DD, district time; default: 30 days ago)")] = None,
    until: Annotated[Optional[str], typer.Option(help="day after the last (exclusive; default: now)")] = None,
    school: Annotated[Optional[str], typer.Option(help="only this school (its name in schools.yaml)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="md | html | json")] = "md",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write here (0600) instead of stdout")] = None,
    config: ConfigOption = None,
) -> None:
    """What the system did, and to whom, in one period: counts only, small counts suppressed."""
    from pipeline.bootstrap import district_schools, report_inputs, runtime
    from pipeline.private_files import open_private
    from pipeline.report.render import RENDERERS
    from pipeline.report.service import build_report
    from pipeline.actors import cli_actor

    if fmt not in FORMATS:
        fail(f"error: --format must be one of {', '.join(FORMATS)}, not {fmt!r}", 2)
    s = settings(config)
    if school is not None and school not in (names := district_schools(s)):
        fail(f"error: unknown school {school!r}; known: {', '.join(names)}", 2)
    tz = s.general.timezone
    end = (moment_option(until, tz, "--until") or datetime.now(UTC)).astimezone(UTC)
    start = (moment_option(since, tz, "--since") or end - timedelta(days=30)).astimezone(UTC)
    if start >= end:
        fail("error: --since must be before --until", 2)
    try:
        with runtime(s) as rt:
            data = build_report(report_inputs(rt), start, end, school=school, actor=cli_actor(), role="admin")
    except (StoreError, BusError) as exc:
        fail(f"report: {exc}", 1)
    text = RENDERERS[fmt](data)
    if output is None:
        typer.echo(text, nl=False)
        return
    with open_private(output, encoding="utf-8") as f:
        f.write(text)
    typer.echo(f"report written to {output}")
