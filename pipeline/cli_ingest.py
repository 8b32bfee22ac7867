"""`threatline ingest`: crawl the public sources of config/sources.yaml into posts.raw."""

from __future__ import annotations

import time
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.bus import BusError
from pipeline.cli import ConfigOption, app, fail, settings
from pipeline.errors import ServiceError
from pipeline.terminal import safe_text

COUNTS = ("produced", "skipped", "filtered", "failed", "malformed", "errors", "blocked", "truncated", "pages")
out = Console()


@app.command()
def ingest(
    source: Annotated[Optional[list[str]], typer.Option(
        "--source", "-s", help="a source name from sources.yaml (repeatable; default: every enabled source)")] = None,
    once: Annotated[bool, typer.Option("--once", help="crawl once and exit (default: keep crawling each "
                                                      "source on its interval until Ctrl-C)")] = False,
    config: ConfigOption = None,
) -> None:
    """Crawl public posts into posts.raw, with live counts per source and a summary line."""
    from pipeline.ingest.runner import select
    from pipeline.ingest.sources import configured_sources

    s = settings(config)
    sources_file = s.config_path(s.ingest.sources_file)
    chosen = select(configured_sources(s, sources_file), source)
    if not chosen:
        fail(f"no enabled sources in {sources_file}; set `enabled: true` on one or name it with --source", 2)
    if once:
        results = crawl_round(s, sources_file, [src.name for src in chosen])
        if any(r["failed"] for r in results.values()):
            raise typer.Exit(1)
        return
    due = {src.name: 0.0 for src in chosen}
    interval = {src.name: src.interval_s for src in chosen}
    try:
        while True:
            now = time.monotonic()
            names = sorted(name for name, at in due.items() if at <= now)
            if names:
                try:
                    crawl_round(s, sources_file, names)
                except (BusError, ServiceError) as exc:
                    # A watcher outlives outages: the sources keep their cursors and retry next time.
                    out.print(safe_text(f"crawl failed: {exc}", style="red"))  # may quote a server
                for name in names:
                    due[name] = time.monotonic() + interval[name]
                out.print(f"next crawl in {min(due.values()) - time.monotonic():.0f} s (Ctrl-C stops)", style="dim")
            time.sleep(max(0.5, min(due.values()) - time.monotonic()))
    except KeyboardInterrupt:
        out.print("stopped")


def crawl_round(s, sources_file, names: list[str]) -> dict[str, dict]:
    """Crawl `names` in one child process while showing their counts as batches reach the bus."""
    from pipeline.ingest.runner import crawl_in_subprocess

    started = time.monotonic()
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[source]}"), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=out, transient=True) as progress:
        rows = {name: progress.add_task(describe({}), source=name, total=None) for name in names}

        def on_progress(event: dict) -> None:
            task = rows.get(event.get("source", ""))
            if task is not None:
                progress.update(task, description=describe(event))

        results = crawl_in_subprocess(s.config_file, sources_file, names, timeout_s=s.ingest.run_timeout_s,
                                      on_progress=on_progress)
    show(results, time.monotonic() - started)
    return results


def describe(counts: dict) -> str:
    return ", ".join(f"{counts.get(key, 0)} {key}" for key in ("produced", "skipped", "failed"))


def show(results: dict[str, dict], elapsed_s: float) -> None:
    table = Table(title="ingest", title_justify="left")
    table.add_column("source")
    table.add_column("kind")
    for key in COUNTS:
        table.add_column(key, justify="right")
    table.add_column("cursor saved")
    for name, r in sorted(results.items()):
        style = "red" if r["failed"] else "yellow" if r["errors"] else None
        table.add_row(name, r["kind"], *(str(r.get(key, 0)) for key in COUNTS), "yes" if r["state_saved"] else "no",
                      style=style)
    out.print(table)
    totals = {key: sum(r.get(key, 0) for r in results.values()) for key in COUNTS}
    out.print(f"ingest: {len(results)} source(s), {totals['produced']} produced, {totals['skipped']} skipped, "
              f"{totals['failed']} failed, {totals['malformed']} malformed, {totals['errors']} errors "
              f"in {elapsed_s:.1f} s", highlight=False, soft_wrap=True)
    for name, r in sorted(results.items()):
        if r["failed"]:
            out.print(f"{name}: {r['failed']} post(s) did not reach the bus; the next run retries them", style="red")
        elif r["errors"]:
            out.print(f"{name}: {r['errors']} request(s) failed or were malformed; its cursor stays put and the "
                      "next run fetches them again", style="yellow")
