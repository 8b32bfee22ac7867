"""`threatline labels export | retrain | model list|promote|rollback`: the analysts' retraining
loop (docs/retraining.md). Heavy imports stay inside the commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipeline.actors import cli_actor
from pipeline.cli import ConfigOption, app, fail, moment_option, settings
from pipeline.cli_models import progress_bars
from pipeline.private_files import open_private

labels_app = typer.Typer(help="Labels analysts gave in the review console.", no_args_is_help=True)
model_app = typer.Typer(help="The model registry: versions, the champion, promotion and rollback.", no_args_is_help=True)
app.add_typer(labels_app, name="labels")
app.add_typer(model_app, name="model")
out = Console()
ByOption = Annotated[Optional[str], typer.Option("--by", help="who is doing this (audited); default cli:<user>")]
FunctionalOption = Annotated[Optional[Path], typer.Option("--functional", help="functional suite cases (default tests/functional/cases)")]
CorpusOption = Annotated[Optional[Path], typer.Option("--corpus", help="training corpus (default <models_dir>/data/corpus.jsonl)")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="force without asking (after printing what is lost); "
                                         "needed without a terminal")]


@labels_app.command("export")
def labels_export(
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="JSON Lines out (default stdout)")] = None,
    since: Annotated[Optional[str], typer.Option(help="only labels given at or after this date/time")] = None,
    by: ByOption = None,
    config: ConfigOption = None,
) -> None:
    """Write the labeled cases (text, label, who, when, model version, item id, source kind) as JSON Lines."""
    from pipeline.bootstrap import build_store
    from pipeline.retraining import export_labels

    s = settings(config)
    start = moment_option(since, s.general.timezone, "--since")
    with build_store(s) as store:
        sink = open_private(output, encoding="utf-8") if output else sys.stdout
        try:
            n = export_labels(store, sink, since=start, by=by or cli_actor(), output=str(output or "stdout"))
        finally:
            if output:
                sink.close()
    Console(stderr=True).print(f"{n} labeled case(s) exported" + (f" to {output}" if output else ""))


@app.command()
def retrain(
    labels: Annotated[Optional[list[Path]], typer.Option("--labels", help="labeled JSON Lines (text, label); repeatable")] = None,
    from_store: Annotated[bool, typer.Option("--from-store", help="also use every label given in the review console")] = False,
    promote: Annotated[str, typer.Option(help="auto: if the policy passes | never: evaluate only | force: regardless "
                                          "(needs --by ADMIN, asks first)")] = "auto",
    by: Annotated[Optional[str], typer.Option("--by", help="who is doing this (audited); with --promote force an enabled "
                                              "admin of the console's users file")] = None,
    yes: YesOption = False,
    district_stream: Annotated[bool, typer.Option("--district-stream", help="also train on the district's own unflagged posts "
                                                  "(low weight) and shadow-run both models on its last days of posts")] = False,
    corpus_file: CorpusOption = None,
    functional: FunctionalOption = None,
    config: ConfigOption = None,
) -> None:
    """Train a challenger on the corpus plus analysts' labels, compare it with the champion, promote it per the policy."""
    from pipeline.retraining import FUNCTIONAL, run_retrain

    if promote not in ("auto", "never", "force"):
        fail(f"error: --promote must be auto, never or force, not {promote!r}", 2)
    s = settings(config)
    if promote == "force":
        _may_force(s, by, yes, "--promote force")
    asked = []

    def confirm(decision) -> bool:
        asked.append(decision)
        _print_decision(decision)
        return _confirm_forced(decision, yes)
    try:
        with progress_bars() as phase:
            report = run_retrain(s, label_files=labels or [], from_store=from_store, mode=promote,
                                 by=by or cli_actor(), corpus_file=corpus_file, functional_dir=functional or FUNCTIONAL,
                                 district_stream=district_stream, log=out.print, phase=phase, confirm=confirm)
    except ValueError as exc:  # a bad line in a labels file, named by file and line; a refused --by
        fail(f"error: {exc}", 2)
    if not asked:
        _print_decision(report.decision)
    for warning in report.warnings:
        out.print(f"[yellow]warning:[/] {warning}", highlight=False)
    if report.promoted:
        before = f"was {report.decision.champion}" if report.decision.champion else "the first one"
        out.print(f"{report.version} is now the champion ({before}); running stages pick it up")
    elif asked:
        fail(f"not promoted: {report.version} stays a challenger; the champion is still {report.decision.champion}", 1)
    else:
        out.print(f"{report.version} written; the champion is still {report.decision.champion}"
                  + (" (--promote never)" if promote == "never" else " (refused by the policy; see its model card)"))


@model_app.command("list")
def model_list(config: ConfigOption = None) -> None:
    """Versions with the champion marked, key test metrics and when they were made."""
    from pipeline.retraining import describe_versions, models_dir

    rows = describe_versions(models_dir(settings(config)))
    table = Table(title="models: PR-AUC per head and threat recall at P1/P2, on each version's test split",
                  title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for column in ("version", "created", "threat", "self-harm", "bullying", "recall", "labels", "policy"):
        table.add_column(column, no_wrap=True, justify="left" if column in ("version", "created", "policy") else "right")

    def num(x, digits=3):
        return "–" if x is None else f"{x:.{digits}f}"
    for r in rows:
        table.add_row(r["version"] + ("*" if r["champion"] else ""), (r["created"] or "–")[:10],
                      *(num(r["pr_auc"].get(h)) for h in ("threat", "self_harm", "bullying")),
                      f"{num(r['threat_recall']['P1'], 2)}/{num(r['threat_recall']['P2'], 2)}",
                      "–" if r["labels"] is None else str(r["labels"]), r["policy"] or "–",
                      style="bold" if r["champion"] else None)
    out.print(table)
    out.print("* champion (models/CURRENT); labels: analysts' cases trained on; policy: the retrain's decision")


@model_app.command("promote")
def model_promote(
    version: Annotated[str, typer.Argument(help="e.g. v3-20261201")],
    force: Annotated[bool, typer.Option("--force", help="promote even if the policy refuses (needs --by ADMIN, asks "
                                        "first; audited)")] = False,
    by: Annotated[Optional[str], typer.Option("--by", help="who is doing this (audited); with --force an enabled admin "
                                              "of the console's users file")] = None,
    yes: YesOption = False,
    corpus_file: CorpusOption = None,
    functional: FunctionalOption = None,
    config: ConfigOption = None,
) -> None:
    """Make VERSION the champion if the policy allows it against the current champion (or --force)."""
    from pipeline.bootstrap import build_store
    from pipeline.retraining import FUNCTIONAL, ForceRefused, apply_decision, compare_with_champion

    s = settings(config)
    if force:  # before measuring both models: a wrong name should not cost a minute to report
        _may_force(s, by, yes, "--force")
    with progress_bars() as phase:
        decision = compare_with_champion(s, version, corpus_file=corpus_file, functional_dir=functional or FUNCTIONAL,
                                         phase=phase)
    _print_decision(decision)
    if not decision.passed and not force:
        fail(f"refused: {version} stays a challenger (use --force --by ADMIN to override, audited)", 1)
    with build_store(s) as store:
        try:
            entry = apply_decision(store, s, decision, "force" if force else "auto", by or cli_actor(),
                                   confirm=lambda d: _confirm_forced(d, yes))
        except ForceRefused as exc:  # the admin was disabled while both models were measured
            fail(f"error: {exc}", 2)
    if entry is None:
        fail(f"not promoted: {version} stays a challenger; the champion is still {decision.champion}", 1)
    out.print(f"{version} is now the champion" + (" (forced, audited)" if not decision.passed else ""))


@model_app.command("rollback")
def model_rollback(by: ByOption = None, config: ConfigOption = None) -> None:
    """Make the previous champion the champion again (recorded and audited)."""
    from pipeline.bootstrap import build_store
    from pipeline.retraining import rollback

    s = settings(config)
    with build_store(s) as store:
        entry = rollback(store, s, by=by or cli_actor())
    out.print(f"rolled back: {entry['version']} is the champion again (was {entry['previous']})")


def stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _may_force(s, by: str | None, yes: bool, option: str) -> None:
    """Refuse a forced promotion up front: --by must be an enabled admin, and someone must be
    able to answer the question (a terminal) unless --yes already did. Never waits on a pipe."""
    from pipeline.retraining import ForceRefused, forcing_admin

    try:
        forcing_admin(s, by)
    except ForceRefused as exc:
        fail(f"error: {exc}", 2)
    if not yes and not stdin_is_terminal():
        fail(f"error: {option} asks before overriding the policy and there is no terminal to answer; "
             "add --yes to force without asking", 2)


def _confirm_forced(decision, yes: bool) -> bool:
    """After _print_decision: what the challenger loses, then the question (skipped with --yes;
    the table is still printed, for the log)."""
    from pipeline.nlp.promotion import losses

    found = losses(decision)
    table = Table(title=f"what {decision.challenger} loses against the champion {decision.champion}",
                  title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for column in ("metric", "challenger", "champion", "policy"):
        table.add_column(column, justify="right" if column in ("challenger", "champion") else "left")

    def num(x):
        return "–" if x is None else f"{x:g}" if float(x).is_integer() else f"{x:.4f}"
    for loss in found:
        mine = f"[bold red]{num(loss.challenger)}[/]" if loss.zero_recall else num(loss.challenger)
        table.add_row(Text(loss.what), mine, num(loss.champion), loss.policy,
                      style="bold" if loss.policy == "refuses" else None)
    out.print(table)
    # The refusal reasons are printed just above, with the policy's checks (_print_decision).
    out.print(f"forcing overrides the policy's {len(decision.failures)} refusal(s) above; the promotions log and "
              "the audit record it under your name", highlight=False)
    return yes or typer.confirm("Promote anyway?", default=False)


def _print_decision(decision) -> None:
    if decision.champion is not None:
        table = Table(title=f"{decision.challenger} against the champion {decision.champion}", title_justify="left",
                      box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
        for column in ("check", "challenger", "champion", "slack", "ok"):
            table.add_column(column, justify="left" if column in ("check", "ok") else "right")

        def num(x):
            return "–" if x is None else "any" if x == float("inf") else f"{x:g}" if float(x).is_integer() else f"{x:.4f}"
        for c in decision.checks:
            table.add_row(c.what, num(c.challenger), num(c.champion), num(c.allowed_drop),
                          "yes" if c.ok else "NO", style=None if c.ok else "red")
        out.print(table)
    out.print("policy passes:" if decision.passed else "policy refuses:")
    for reason in decision.reasons():
        out.print(f"  {reason}")
