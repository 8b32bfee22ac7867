"""The `threatline` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
import yaml
from rich.console import Console

from pipeline.bus import BusError
from pipeline.config import ConfigError, Settings, load_settings, masked
from pipeline.errors import ServiceError
from pipeline.nlp.model_errors import ModelError
from pipeline.store import StoreError

app = typer.Typer(help="threatline: notice credible threats against schools early, without drowning in false alarms.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

err = Console(stderr=True)
ConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c", help="config file (default: config/threatline.yaml)")]


class _State:
    config_path: Path | None = None


state = _State()


@app.callback()
def _global(config: ConfigOption = None) -> None:
    state.config_path = config


def plain_console(stderr: bool = False) -> Console:
    """For command output: soft_wrap keeps one line one line whatever the terminal width, and
    no highlighting; untrusted text still goes in as rich Text, never as markup."""
    return Console(stderr=stderr, soft_wrap=True, highlight=False)


def settings(config: Path | None = None) -> Settings:
    return load_settings(config or state.config_path)


@config_app.command("show")
def config_show(config: ConfigOption = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print the effective configuration (file + environment), secrets masked."""
    effective = masked(settings(config))
    if as_json:
        typer.echo(json.dumps(effective, indent=2, default=str))
    else:
        typer.echo(yaml.safe_dump(effective, sort_keys=False, allow_unicode=True).rstrip())


@app.command()
def setup(config: ConfigOption = None) -> None:
    """Create topics, indices and templates on the configured backends (idempotent)."""
    from pipeline.bootstrap import runtime

    s = settings(config)
    with runtime(s) as rt:
        rt.setup()
    typer.echo(f"setup done: bus={s.bus.backend} store={s.store.backend}")


@app.command()
def classify(
    input: Annotated[Optional[Path], typer.Option("--input", "-i", help="JSON Lines in (default stdin)")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="JSON Lines out (default stdout)")] = None,
    config: ConfigOption = None,
) -> None:
    """Score JSON Lines of {"id", "text"}: one result per input line, in order."""
    from pipeline.bootstrap import build_classifier
    from pipeline.classify import classify_jsonl

    classifier = build_classifier(settings(config))
    # Bytes, not text: a line with invalid UTF-8 gets its own error instead of ending the run.
    source = input.open("rb") if input else sys.stdin.buffer
    sink = output.open("w", encoding="utf-8") if output else sys.stdout
    errors = 0
    try:
        for result in classify_jsonl(source, classifier):
            errors += "error" in result
            sink.write(json.dumps(result, ensure_ascii=False) + "\n")
    finally:
        if input:
            source.close()
        if output:
            sink.close()
    if errors:
        err.print(f"{errors} line(s) could not be classified; see their 'error' field")


@app.command()
def stage(
    name: Annotated[str, typer.Argument(help="classify-tips | classify | index | alert")],
    forever: Annotated[bool, typer.Option("--forever", help="keep consuming instead of stopping when idle")] = False,
    config: ConfigOption = None,
) -> None:
    """Run one stage as a consumer (the Prefect flows call the same code)."""
    from pipeline.bootstrap import runtime

    with runtime(settings(config)) as rt:
        runner = rt.runner(name, until_idle=not forever)
        with rt.stop_on_signals():
            report = runner.run()
    typer.echo(json.dumps(report.__dict__))


@app.command()
def run(config: ConfigOption = None) -> None:
    """Serve the stages, the escalation sweep, the ingest deployments, the daily purge and digest
    (Prefect), the tip line and the review server until SIGTERM/Ctrl-C."""
    from flows.deployments import serve_all

    serve_all(settings(config))


@app.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="print only the summary as one JSON line")] = False,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="where to keep the demo's data (default: a new temp dir)")] = None,
    config: ConfigOption = None,
) -> None:
    """Run the whole pipeline once on the bundled sample posts and tips, embedded backends."""
    from pipeline.demo import print_triage, run_demo

    summary, flagged = run_demo(settings(config), data_dir)
    if as_json:
        typer.echo(json.dumps(summary.as_dict()))
    else:
        print_triage(Console(), summary, flagged)


def main() -> None:
    """Console entrypoint: known failures become one line on stderr and a non-zero exit."""
    try:
        app()
    except ConfigError as exc:
        fail(f"config error: {exc}", 2)
    except (BusError, StoreError) as exc:
        fail(f"error: {exc}", 1)
    except ModelError as exc:
        fail(f"model error: {exc}", 2)
    except ServiceError as exc:
        fail(f"error: {exc}", 1)


def fail(line: str, code: int) -> NoReturn:
    # Plain write, not rich: one line must stay one line whatever the terminal width.
    sys.stderr.write(" ".join(line.split()) + "\n")
    sys.exit(code)


# Registers their commands on `app`; heavy imports stay inside the commands.
from pipeline import (  # noqa: E402,F401
    cli_alerts, cli_audit, cli_digest, cli_ingest, cli_kibana, cli_models, cli_purge, cli_retrain, cli_serve,
    cli_users,
)
