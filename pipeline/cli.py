"""The `threatline` command line."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn, Optional
from zoneinfo import ZoneInfo

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
    from pipeline.metrics_dir import join as join_metrics_dir

    s = load_settings(config or state.config_path)
    join_metrics_dir(s.data_dir)
    return s


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
    from pipeline.terminal import json_line

    try:  # before the model loads: a mistyped path should not cost seconds to report
        # Bytes, not text: a line with invalid UTF-8 gets its own error instead of ending the run.
        source = input.open("rb") if input else sys.stdin.buffer
        sink = output.open("w", encoding="utf-8") if output else sys.stdout
    except OSError as exc:
        fail(f"error: cannot open {exc.filename}: {exc.strerror}", 2)
    classifier = build_classifier(settings(config))
    errors = 0
    try:
        for result in classify_jsonl(source, classifier):
            errors += "error" in result
            sink.write(json_line(result) + "\n")  # C1/bidi controls of the input escaped too
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
    supervised: Annotated[bool, typer.Option("--supervised", hidden=True,
                                             help="stop when stdin closes (the supervising `run` has gone)")] = False,
    replica: Annotated[int, typer.Option("--replica", min=1, help="this worker's number when a stage runs several "
                                         "in one group (its health file is NAME-N); docs/scale-out.md")] = 1,
    config: ConfigOption = None,
) -> None:
    """Run one stage as a consumer (`threatline run` supervises one process per stage)."""
    import threading

    from pipeline.bootstrap import runtime
    from pipeline.logs import configure

    configure(settings(config).general.log_format)
    with runtime(settings(config)) as rt:
        rt.setup()  # a brand-new data dir needs no `threatline setup` first
        runner = rt.runner(name, until_idle=not forever, replica=replica)
        if supervised:  # a `run` killed with -9 cannot stop us; its end of the pipe closing can
            threading.Thread(target=lambda: (sys.stdin.buffer.read(), rt.stop.set()), daemon=True).start()
        with rt.stop_on_signals():
            report = runner.run()
    typer.echo(json.dumps(report.__dict__))


@app.command()
def run(
    config: ConfigOption = None,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="the data directory (default: general.data_dir)")] = None,
    stage_workers: Annotated[Optional[list[str]], typer.Option(
        "--stage-workers", help="STAGE=N: N consumer processes of STAGE in one group (Kafka only; repeatable; "
                                "default stages.workers, else 1); docs/scale-out.md")] = None,
) -> None:
    """Serve the stages (one supervised process each), the escalation sweep, the ingest
    deployments, the daily purge and digest (Prefect), the tip line and the review server until
    SIGTERM/Ctrl-C. Creates whatever is missing on the configured backends first."""
    import signal

    from pipeline.metrics_dir import prepare as prepare_metrics_dir

    if data_dir is not None:  # through the environment: the stage processes read it there too
        os.environ["THREATLINE_GENERAL__DATA_DIR"] = str(data_dir.resolve())
    s = settings(config)
    # Before anything imports prometheus_client: every process of this run writes its metrics
    # there and the review server's /metrics adds them up (pipeline/metrics.py).
    prepare_metrics_dir(s.data_dir)

    from flows.deployments import serve_all
    from pipeline.bootstrap import STAGE_NAMES
    from pipeline.logs import configure
    from pipeline.supervisor import parse_workers, replica_names

    try:
        if stage_workers:
            s = s.model_copy(update={"stages": s.stages.model_copy(
                update={"workers": {**s.stages.workers, **parse_workers(stage_workers)}})})
        replica_names(s, STAGE_NAMES)  # a bad count fails here, before anything starts
    except ConfigError as exc:
        fail(f"config error: {exc}", 2)
    configure(s.general.log_format)
    # Until Prefect's runner is up, a stop request unwinds startup in order instead of killing
    # the process with the local Prefect server and the stages still running.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop_requested)
    try:
        serve_all(s, announce=typer.echo)
    except StopRequested:
        typer.echo("stopped during startup")


class StopRequested(BaseException):
    """SIGTERM or Ctrl-C while `run` starts. Not KeyboardInterrupt: once one has passed through
    a C call of PyRun_String (some extensions make them), CPython ends the process by SIGINT
    when it exits, even if it was caught, and a clean stop then looks like a kill (-2)."""


def _stop_requested(*_) -> None:
    raise StopRequested


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
    # Everything this process and its children (stages, the local Prefect server) create is the
    # service user's only, including files no code here names (Prefect's database, exports).
    os.umask(0o077)
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


def moment_option(value: str | None, timezone: str, option: str) -> datetime | None:
    """A date or time typed on the command line; a bare date is midnight where the district is,
    as staff read it. A value that is neither is a one-line usage error."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"error: {option} {value!r}: expected a date (2026-11-01) or a time (2026-11-01T08:00-06:00)", 2)
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))


def fail(line: str, code: int) -> NoReturn:
    # Plain write, not rich: one line must stay one line whatever the terminal width. Errors can
    # quote untrusted text (ids, server answers): control characters are shown, not obeyed.
    from pipeline.terminal import printable

    sys.stderr.write(printable(" ".join(line.split()), keep_lines=False) + "\n")
    sys.exit(code)


# Registers their commands on `app`; heavy imports stay inside the commands.
from pipeline import (  # noqa: E402,F401
    cli_alerts, cli_audit, cli_digest, cli_dlq, cli_ingest, cli_kibana, cli_models, cli_purge, cli_report, cli_retrain,
    cli_serve, cli_status, cli_users,
)
