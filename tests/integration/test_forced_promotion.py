"""Forcing a promotion the policy refused (`threatline model promote --force`, `retrain --promote
force`): only an enabled admin of the console's users file, only after the table of what the
challenger loses and a yes (the question, or --yes), never waiting on a pipe, and recorded in
models/promotions.jsonl and the audit. A tiny registry of two versions; the models are never
loaded: the measurements are hand-made numbers through the real policy."""

from __future__ import annotations

import json
import os
import re
import sqlite3

import pytest
from rich.console import Console
from typer.testing import CliRunner

from pipeline import cli_retrain
from pipeline.cli import app
from pipeline.config import DEFAULT_CONFIG, load_settings
from pipeline.nlp.promotion import decide, losses
from pipeline.nlp.registry import current_version, history
from pipeline.review.users import UsersFile

CHAMPION, CHALLENGER = "v1-20261101", "v2-20261120"


def head(pr_auc, p1, p2, precision=0.8, roc_auc=0.95, positives=100):
    """evaluate.head_metrics's shape; one precision at every tier."""
    return {"n": 1000, "positives": positives, "roc_auc": roc_auc, "pr_auc": pr_auc,
            "at_threshold": {t: {"recall": r, "precision": precision} for t, r in (("P1", p1), ("P2", p2), ("P3", 0.95))}}


THEIRS = {"heads": {"threat": head(0.86, 0.49, 0.75), "self_harm": head(0.88, 0.33, 0.67)},
          "functional": {"negated": {"passed": 21, "total": 27, "rate": 0.78}}}
# Better threat PR-AUC, but threat P1 recall 0, a lost functional case and lower self-harm precision.
MINE = {"heads": {"threat": head(0.90, 0.0, 0.75), "self_harm": head(0.88, 0.33, 0.67, precision=0.7)},
        "functional": {"negated": {"passed": 20, "total": 27, "rate": 0.74}}}
REFUSED = decide(CHALLENGER, MINE, CHAMPION, THEIRS)
PASSED = decide(CHALLENGER, THEIRS, CHAMPION, THEIRS)


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """Two complete-looking versions, v1 the champion; the console's users; the store set up."""
    models = tmp_path / "models"
    for version in (CHAMPION, CHALLENGER):
        (models / version).mkdir(parents=True)
        (models / version / "manifest.json").write_text(json.dumps({"version": version}))
    (models / "CURRENT").write_text(CHAMPION + "\n")
    users = UsersFile(tmp_path / "users.yaml")
    for username, role in (("ada", "admin"), ("root", "admin"), ("old", "admin"), ("ana", "analyst")):
        users.add(username, role, None)  # single sign-on only: no password to hash
    users.set_disabled("old", True)
    for key in [k for k in os.environ if k.startswith("THREATLINE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("THREATLINE_GENERAL__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("THREATLINE_CLASSIFY__MODELS_DIR", str(models))
    monkeypatch.setenv("THREATLINE_REVIEW__USERS_FILE", str(tmp_path / "users.yaml"))
    assert cli("setup").exit_code == 0
    return models


@pytest.fixture
def measured(monkeypatch):
    """`model promote` measures both models: here it returns ``measured.decision`` (REFUSED unless
    a test sets another) and counts the calls."""
    import pipeline.retraining

    class Measured:
        decision, calls = REFUSED, 0

        def __call__(self, settings, version, **_):
            self.calls += 1
            return self.decision
    fake = Measured()
    monkeypatch.setattr(pipeline.retraining, "compare_with_champion", fake)
    return fake


@pytest.fixture
def terminal(monkeypatch):
    """Someone at a terminal to answer the question (CliRunner's stdin is not one)."""
    monkeypatch.setattr(cli_retrain, "stdin_is_terminal", lambda: True)


def cli(*args, input=None):
    return CliRunner().invoke(app, [*args, "--config", str(DEFAULT_CONFIG)], input=input)


def promote_audits():
    s = load_settings(DEFAULT_CONFIG)
    with sqlite3.connect(s.data_dir / s.store.sqlite_file) as db:
        docs = [json.loads(d) for (d,) in db.execute("SELECT doc FROM audit ORDER BY ts_us")]
    return [d for d in docs if d["event"]["action"] == "promote"]


def nothing_promoted(models):
    return current_version(models) == CHAMPION and history(models) == [] and promote_audits() == []


def one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


@pytest.mark.parametrize("by, says", [
    (None, "needs --by USERNAME"),
    ("Dana Analyst", "'Dana Analyst': no such user"),
    ("old", "'old': that user is disabled"),
    ("ana", "'ana': role analyst, not admin"),
])
def test_force_needs_an_enabled_admin_and_says_so_before_measuring(registry, measured, terminal, by, says):
    done = cli("model", "promote", CHALLENGER, "--force", "--yes", *(["--by", by] if by else []))
    assert done.exit_code == 2
    assert says in one_line(done)
    assert measured.calls == 0 and nothing_promoted(registry)


def test_without_a_terminal_or_yes_it_refuses_and_never_waits(registry, measured):
    done = cli("model", "promote", CHALLENGER, "--force", "--by", "ada", input="y\n")  # a pipe, not a person
    assert done.exit_code == 2
    assert "no terminal to answer; add --yes" in one_line(done)
    assert "Promote anyway?" not in done.output and measured.calls == 0 and nothing_promoted(registry)


def test_declining_the_question_promotes_nothing(registry, measured, terminal):
    done = cli("model", "promote", CHALLENGER, "--force", "--by", "ada", input="n\n")
    assert done.exit_code == 1, done.output
    assert "Promote anyway? [y/N]" in done.stdout
    assert "threat recall at P1" in done.stdout  # the table came before the question
    assert f"not promoted: {CHALLENGER} stays a challenger" in one_line(done)
    assert nothing_promoted(registry)
    assert cli("model", "promote", CHALLENGER, "--force", "--by", "ada", input="\n").exit_code == 1  # default: no
    assert nothing_promoted(registry)


def test_answering_yes_promotes_and_records_who_when_and_what_was_overridden(registry, measured, terminal):
    done = cli("model", "promote", CHALLENGER, "--force", "--by", "ada", input="y\n")
    assert done.exit_code == 0, done.output
    assert current_version(registry) == CHALLENGER and "(forced, audited)" in done.stdout
    [entry] = history(registry)
    assert (entry["version"], entry["previous"], entry["by"], entry["forced"]) == (CHALLENGER, CHAMPION, "ada", True)
    assert entry["at"] and entry["reasons"] == REFUSED.reasons()
    assert any(r.startswith("worse: threat recall at P1: 0 vs champion 0.4900") for r in entry["reasons"])
    [record] = promote_audits()
    assert record["user"] == {"name": "ada", "roles": ["admin"]}
    assert record["details"] == {"version": CHALLENGER, "previous": CHAMPION, "forced": True}
    assert record["review"]["reason"] == "forced: " + "; ".join(REFUSED.reasons())


def test_yes_prints_what_is_lost_with_a_zero_recall_in_red_and_promotes(registry, measured, monkeypatch):
    monkeypatch.setattr(cli_retrain, "out", Console(force_terminal=True, color_system="standard", width=200))
    done = cli("model", "promote", CHALLENGER, "--force", "--by", "ada", "--yes")
    assert done.exit_code == 0, done.output
    assert "Promote anyway?" not in done.output and current_version(registry) == CHALLENGER
    assert f"what {CHALLENGER} loses against the champion {CHAMPION}" in done.stdout
    [zero] = [line for line in done.stdout.splitlines() if "threat recall at P1" in line and "refuses" in line]
    assert "\x1b[1;31m0\x1b[0m" in zero  # bold red
    assert "self_harm precision at P1" in done.stdout and "not checked" in done.stdout
    assert "threat PR-AUC" not in done.stdout.split("loses against")[1]  # better: not a loss
    assert "forcing overrides the policy's 2 refusal(s) above" in done.stdout
    plain = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)
    assert "policy refuses:\n  worse: threat recall at P1: 0 vs champion 0.4900" in plain
    assert history(registry)[-1]["forced"] is True


def test_an_ordinary_promotion_needs_no_admin_and_asks_nothing(registry, measured):
    """Kept as before: the policy is the safeguard; --by is only the name audited (default cli:<user>)."""
    measured.decision = PASSED
    done = cli("model", "promote", CHALLENGER)
    assert done.exit_code == 0, done.output
    [entry] = history(registry)
    assert entry["forced"] is False and entry["by"].startswith("cli:") and "Promote anyway" not in done.output
    assert promote_audits()[0]["user"]["roles"] == ["analyst"]


def test_a_refusal_without_force_changes_nothing(registry, measured):
    done = cli("model", "promote", CHALLENGER, "--by", "Dana Analyst")
    assert done.exit_code == 1 and "use --force --by ADMIN" in one_line(done)
    assert nothing_promoted(registry)


# --- `threatline retrain --promote force`: the same rules, the question after training ----------


@pytest.fixture
def trained(monkeypatch, registry):
    """`retrain` trains nothing: the challenger is the registry's v2, refused by the policy."""
    import pipeline.nlp.retrain
    from pipeline.nlp.retrain import Retrained

    calls = []

    def fake(cases, *, models_dir, **_):
        calls.append(cases)
        return Retrained(CHALLENGER, models_dir / CHALLENGER,
                         {"retrain": {"labels": {"trained_on": 0}, "warnings": []}}, REFUSED)
    monkeypatch.setattr(pipeline.nlp.retrain, "retrain", fake)
    return calls


@pytest.mark.parametrize("args, says", [
    (["--by", "ana", "--yes"], "'ana': role analyst, not admin"),
    (["--by", "ada"], "no terminal to answer"),
])
def test_retrain_force_is_refused_before_training(trained, registry, args, says):
    done = cli("retrain", "--promote", "force", *args)
    assert done.exit_code == 2 and says in one_line(done)
    assert trained == [] and nothing_promoted(registry)


def test_retrain_force_asks_after_training_and_a_no_keeps_the_champion(trained, registry, terminal):
    done = cli("retrain", "--promote", "force", "--by", "ada", input="n\n")
    assert done.exit_code == 1, done.output
    assert trained and "Promote anyway? [y/N]" in done.stdout and "loses against the champion" in done.stdout
    assert "not promoted" in one_line(done) and nothing_promoted(registry)


def test_retrain_force_with_yes_promotes_and_records_it(trained, registry):
    done = cli("retrain", "--promote", "force", "--by", "ada", "--yes")
    assert done.exit_code == 0, done.output
    assert done.stdout.count("policy refuses:") == 1  # the decision is printed once, before the table
    assert current_version(registry) == CHALLENGER
    [entry] = history(registry)
    assert (entry["by"], entry["forced"], entry["reasons"]) == ("ada", True, REFUSED.reasons())
    assert promote_audits()[0]["user"] == {"name": "ada", "roles": ["admin"]}


def test_an_admin_disabled_during_the_retrain_cannot_force(trained, registry, tmp_path, monkeypatch):
    """The name is checked again at the switch: training takes minutes."""
    import pipeline.nlp.retrain

    train = pipeline.nlp.retrain.retrain  # the fake of ``trained``

    def disable_then_train(*args, **kwargs):
        UsersFile(tmp_path / "users.yaml").set_disabled("ada", True)
        return train(*args, **kwargs)
    monkeypatch.setattr(pipeline.nlp.retrain, "retrain", disable_then_train)
    done = cli("retrain", "--promote", "force", "--by", "ada", "--yes")
    assert done.exit_code == 2 and "'ada': that user is disabled" in one_line(done)
    assert nothing_promoted(registry)


def test_losses_lists_every_number_the_challenger_is_worse_on_grouped_per_head():
    found = [(loss.what, loss.policy) for loss in losses(REFUSED)]
    assert found == [("threat recall at P1", "refuses"), ("self_harm precision at P1", "not checked"),
                     ("self_harm precision at P2", "not checked"), ("functional negated (passed of 27)", "refuses")]
    assert [loss.zero_recall for loss in losses(REFUSED)] == [True, False, False, False]
    assert losses(PASSED) == []
