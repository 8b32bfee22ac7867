"""`threatline kibana import | export`: the triage dashboard and saved searches in and out of Kibana."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from pipeline.cli import ConfigOption, app, fail, settings

kibana_app = typer.Typer(help="Kibana saved objects: data views, saved searches, the triage dashboard.",
                         no_args_is_help=True)
app.add_typer(kibana_app, name="kibana")

UrlOption = Annotated[Optional[str], typer.Option("--url", help="Kibana base URL (default: kibana.url)")]


def _console(stderr: bool = False) -> Console:
    # soft_wrap: a summary stays one line whatever the terminal width.
    return Console(stderr=stderr, soft_wrap=True, highlight=False)


@kibana_app.command("import")
def import_command(
    url: UrlOption = None,
    file: Annotated[Optional[Path], typer.Option("--file", "-f", help="NDJSON (default: kibana.objects_file)")] = None,
    no_check: Annotated[bool, typer.Option("--no-check", help="send without validating against the index templates")] = False,
    config: ConfigOption = None,
) -> None:
    """Import the saved objects into Kibana (overwriting ours), data views on store.index_prefix."""
    from pipeline.kibana import KibanaError, import_objects

    s = settings(config)
    try:
        result = import_objects(s, url=url, file=file, check=not no_check)
    except KibanaError as exc:
        fail(f"kibana error: {exc}", 1)
    _console().print(f"imported {result.count} saved objects into Kibana at {result.where}; "
                     f"data views on {s.store.index_prefix}-*")


@kibana_app.command("export")
def export_command(
    url: UrlOption = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="NDJSON file (default: stdout)")] = None,
    config: ConfigOption = None,
) -> None:
    """Export data views, saved searches, Lens panels and dashboards from Kibana as sorted NDJSON."""
    from pipeline.kibana import KibanaError, export_objects

    s = settings(config)
    try:
        result = export_objects(s, url=url, out=output)
    except KibanaError as exc:
        fail(f"kibana error: {exc}", 1)
    if output is None:
        sys.stdout.write(result.text)
    # With the objects on stdout, the summary goes to stderr.
    console = _console(stderr=output is None)
    console.print(f"exported {result.count} saved objects from Kibana at {result.where} to {output or 'stdout'}")
    if result.missing_references:
        console.print(f"warning: Kibana could not find {len(result.missing_references)} referenced object(s): "
                      f"{', '.join(result.missing_references)}")
