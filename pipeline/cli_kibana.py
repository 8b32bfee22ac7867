"""`threatline kibana import | export`: the triage dashboard and saved searches in and out of Kibana."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from pipeline.cli import ConfigOption, app, fail, plain_console, settings
from pipeline.config import Settings
from pipeline.terminal import safe_text

kibana_app = typer.Typer(help="Kibana saved objects: data views, saved searches, the triage dashboard.",
                         no_args_is_help=True)
app.add_typer(kibana_app, name="kibana")

UrlOption = Annotated[Optional[str], typer.Option("--url", help="Kibana base URL (default: kibana.url)")]


def _run(action: Callable[..., Any], config: Path | None, **kwargs: Any) -> tuple[Settings, Any]:
    """``action(settings, **kwargs)``; a KibanaError ends the command as one line on stderr, exit 1."""
    from pipeline.kibana import KibanaError

    s = settings(config)
    try:
        return s, action(s, **kwargs)
    except KibanaError as exc:
        fail(f"kibana error: {exc}", 1)


@kibana_app.command("import")
def import_command(
    url: UrlOption = None,
    file: Annotated[Optional[Path], typer.Option("--file", "-f", help="NDJSON (default: kibana.objects_file)")] = None,
    no_check: Annotated[bool, typer.Option("--no-check", help="send without validating against the index templates")] = False,
    config: ConfigOption = None,
) -> None:
    """Import the saved objects into Kibana (overwriting ours), data views on store.index_prefix."""
    from pipeline.kibana import import_objects

    s, result = _run(import_objects, config, url=url, file=file, check=not no_check)
    plain_console().print(f"imported {result.count} saved objects into Kibana at {result.where}; "
                     f"data views on {s.store.index_prefix}-*")


@kibana_app.command("export")
def export_command(
    url: UrlOption = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="NDJSON file (default: stdout)")] = None,
    config: ConfigOption = None,
) -> None:
    """Export data views, saved searches, Lens panels and dashboards from Kibana as sorted NDJSON."""
    from pipeline.kibana import export_objects

    _, result = _run(export_objects, config, url=url, out=output)
    if output is None:
        sys.stdout.write(result.text)
    # With the objects on stdout, the summary goes to stderr.
    console = plain_console(stderr=output is None)
    console.print(f"exported {result.count} saved objects from Kibana at {result.where} to {output or 'stdout'}")
    if result.missing_references:
        console.print(safe_text(f"warning: Kibana could not find {len(result.missing_references)} referenced "
                                f"object(s): {', '.join(result.missing_references)}"))  # ids Kibana sent
