"""`threatline corpus | train | eval`: the model lifecycle commands (heavy imports stay inside)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.actors import cli_actor
from pipeline.cli import ConfigOption, app, fail, settings

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "models" / "data" / "templates"
FREE = ROOT / "models" / "data" / "free"
CORPUS = ROOT / "models" / "data" / "corpus.jsonl"
FUNCTIONAL = ROOT / "tests" / "functional" / "cases"
out = Console()


@contextmanager
def progress_bars() -> Iterator:
    """A `Phase` (pipeline.nlp.train) drawn as rich progress bars, one line per phase."""
    columns = (SpinnerColumn(), TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=out, transient=not out.is_terminal) as progress:
        @contextmanager
        def phase(name: str, total: int | None = None):
            task = progress.add_task(name, total=total)
            yield lambda n=1: progress.advance(task, n)
            progress.update(task, total=total or 1, completed=total or 1)
        yield phase


@app.command()
def corpus(
    templates: Annotated[Path, typer.Option(help="template families (YAML)")] = TEMPLATES,
    free: Annotated[Path, typer.Option(help="free-written families (YAML), taken as written")] = FREE,
    output: Annotated[Path, typer.Option("--output", "-o")] = CORPUS,
    config: ConfigOption = None,
) -> None:
    """Generate the labelled training corpus from our template families (deterministic)."""
    from pipeline.nlp.corpus import generate, load_families, slot_values, write_jsonl

    s = settings(config)
    names: set[str] = set()
    families = load_families(templates, seen=names) + (load_families(free, free=True, seen=names) if free.is_dir() else [])
    rows = generate(families, slot_values(templates.parent / "slots.yaml", s.config_path(s.classify.schools_file)))
    write_jsonl(rows, output)
    negatives = [r for r in rows if not (r["threat"] or r["self_harm"] or r["bullying"])]
    hard = [r for r in negatives if r["kind"] != "benign_school"]
    out.print(f"{len(rows)} rows -> {output}: threat {sum(r['threat'] for r in rows)}, self-harm "
              f"{sum(r['self_harm'] for r in rows)}, bullying {sum(r['bullying'] for r in rows)}, "
              f"hard negatives {len(hard)} ({len(hard) / len(rows):.0%}), benign {len(negatives) - len(hard)}")
    out.print("splits: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(r["split"] for r in rows).items())))


@app.command()
def train(
    corpus_file: Annotated[Path, typer.Option("--corpus")] = CORPUS,
    version: Annotated[Optional[str], typer.Option(help="default: next vN-YYYYMMDD")] = None,
    promote: Annotated[bool, typer.Option("--promote/--no-promote", help="make it the champion (models/CURRENT)")] = False,
    external: Annotated[Optional[Path], typer.Option(help="third-party JSONL {text, label} for external validation")] = None,
    everyday: Annotated[Optional[Path], typer.Option(help="JSONL {text} of ordinary posts: pages per 10,000 in the card")] = None,
    functional: Annotated[Path, typer.Option(help="functional suite cases")] = FUNCTIONAL,
    config: ConfigOption = None,
) -> None:
    """Train a new model version, evaluate it on the held-out split and write its model card."""
    from pipeline.nlp.lexicon import LexiconClassifier
    from pipeline.nlp.registry import change_champion as make_champion, next_version
    from pipeline.nlp.train import ConfigFiles, train as run_training
    from pipeline.nlp.verdict import Thresholds

    s = settings(config)
    c = s.classify
    models_dir = s.config_path(c.models_dir)
    version = version or next_version(models_dir)
    if (models_dir / version).exists():
        fail(f"error: {models_dir / version} already exists; a released version is never overwritten", 2)
    files = ConfigFiles(s.config_path(c.lexicon_dir), s.config_path(c.cues_file), s.config_path(c.identity_file),
                        s.config_path(c.schools_file))
    baseline = LexiconClassifier.from_dirs(files.lexicon_dir, files.schools_file,
                                           Thresholds(c.p1_threshold, c.p2_threshold, c.p3_threshold))
    with progress_bars() as phase:
        metrics = run_training(corpus_file, files, models_dir / version, version, functional_dir=functional,
                               external=external, everyday=everyday, baseline=baseline, log=out.print, phase=phase)
    _print_heads(f"{version}: test split", metrics["test"]["heads"])
    if promote:  # no comparison with the champion here: `threatline model promote` applies the policy
        make_champion(models_dir, version, action="promote", by=cli_actor(),
                      reasons=["threatline train --promote (not compared with the champion)"])
        out.print(f"{version} is now the champion ({models_dir / 'CURRENT'})")


@app.command("eval")
def evaluate_command(
    input: Annotated[Optional[Path], typer.Option("--input", "-i", help="JSONL with text and 0/1 threat, self_harm, bullying (or label)")] = None,
    unlabeled: Annotated[Optional[Path], typer.Option(help="JSONL of the district's own posts ({text}): a dry run, "
                                                              "pages and review items per 10,000")] = None,
    positive_label: Annotated[Optional[int], typer.Option(help="treat `label == N` as threat (e.g. 2 for ThreatGram101)")] = None,
    model: Annotated[Optional[Path], typer.Option(help="a model directory to dry-run instead of the champion")] = None,
    config: ConfigOption = None,
) -> None:
    """ROC-AUC, PR-AUC and precision/recall at the P1/P2/P3 thresholds, per category; or, with
    --unlabeled, what the model would page on a district's own posts."""
    from pipeline.bootstrap import build_classifier
    from pipeline.nlp.evaluate import head_metrics
    from pipeline.nlp.features import HEADS
    from pipeline.nlp.model import TrainedClassifier
    from pipeline.nlp.train import in_chunks

    if (input is None) == (unlabeled is None):
        fail("error: give one of --input (labelled rows) or --unlabeled (the district's own posts)", 2)
    s = settings(config)
    if model is not None:
        classifier = TrainedClassifier.load(model, s.config_path(s.classify.schools_file))
    else:
        classifier = build_classifier(s)
        classifier = getattr(classifier, "current", classifier)  # the champion a ReloadingClassifier holds
    if not isinstance(classifier, TrainedClassifier):
        fail("error: eval needs classify.model: trained", 2)
    if unlabeled is not None:
        _dry_run(classifier, unlabeled, s)
        return
    rows = _labeled_rows(input)
    if positive_label is not None:
        rows = [{**r, "threat": int(r.get("label") == positive_label)} for r in rows]
    with progress_bars() as phase, phase(f"score {input.name}", len(rows)) as advance:
        scored = in_chunks(classifier.score_detailed, [r["text"] for r in rows], advance)
    report = {}
    for head in HEADS:
        labelled = [(r[head], s.scores[head]) for r, s in zip(rows, scored) if head in r]
        if labelled:
            report[head] = head_metrics([y for y, _ in labelled], [p for _, p in labelled], classifier.thresholds[head].points())
    if not report:
        fail(f"error: {input}: no rows carry threat, self_harm or bullying labels (use --positive-label for `label`)", 2)
    _print_heads(f"{classifier.version} on {input.name} ({len(rows)} rows)", report)


def _dry_run(classifier, path: Path, s) -> None:
    """Score a district's own posts through the classify stage's path and report the load an
    officer on duty would feel. Only counts and our own cue names are printed, never post text."""
    from pipeline.classify import score_stream
    from pipeline.nlp.corpus import text_rows
    from pipeline.nlp.realworld import our_phrases, stream_report

    try:
        texts = [row["text"] for _, row in text_rows(path)]
    except ValueError as exc:
        fail(f"error: {exc}", 2)
    with progress_bars() as phase, phase(f"score {path.name}", len(texts)) as advance:
        verdicts = score_stream(texts, classifier, advance)
    report = stream_report(verdicts, our_phrases(s.config_path(s.classify.lexicon_dir), s.config_path(s.classify.cues_file)))
    out.print(f"{classifier.version} on {path.name} ({report['n']} posts, unlabelled)", highlight=False)
    table = Table()
    for column in ("per 10,000 posts", "value"):
        table.add_column(column)
    table.add_row("pages (P1/P2)", f"{report['pages_per_10k']}")
    for category, rate in report["pages_by_category_per_10k"].items():
        table.add_row(f"  pages: {category}", f"{rate}")
    table.add_row("P1", f"{report['p1_per_10k']}")
    table.add_row("review queue (P3)", f"{report['review_per_10k']}")
    out.print(table)
    if report["top_cues_behind_pages"]:
        out.print("cues most often behind pages: " + ", ".join(f"{c} ({n})" for c, n in report["top_cues_behind_pages"]))


def _labeled_rows(path: Path) -> list[dict]:
    """Every row must be scorable: one clear error naming the line, not a traceback or a skip."""
    from pipeline.nlp.corpus import text_rows

    rows = []
    try:
        numbered = text_rows(path)
    except ValueError as exc:
        fail(f"error: {exc}", 2)
    for number, row in numbered:
        bad = [h for h in ("threat", "self_harm", "bullying") if h in row and row[h] not in (0, 1)]
        if bad:
            fail(f"error: {path}:{number}: {bad[0]} must be 0 or 1", 2)
        rows.append(row)
    return rows


def _print_heads(title: str, report: dict) -> None:
    from pipeline.nlp.evaluate import format_table

    table = Table(title=title)
    for column in ("head", "n", "positives", "ROC-AUC", "PR-AUC", "P/R at P1", "P/R at P2", "P/R at P3"):
        table.add_column(column, justify="left" if column == "head" else "right")
    for row in format_table(report):
        table.add_row(*row)
    out.print(table)
