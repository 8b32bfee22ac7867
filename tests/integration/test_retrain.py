"""The analysts' retraining loop end to end on a small slice of the corpus, in a temporary
registry and data dir: retrain with console and file labels, the policy's decision, a worse
challenger refused, a forced promotion audited, rollback, `model list`. The shipped models/ is
never touched."""

from __future__ import annotations

import json
import random
import sqlite3
from datetime import UTC, datetime

import pytest
from fixtures_search import flagged_item
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.config import DEFAULT_CONFIG, REPO_ROOT, load_settings
from pipeline.nlp.corpus import read_jsonl, write_jsonl
from pipeline.nlp.promotion import decide
from pipeline.nlp.registry import current_version, history, versions
from pipeline.retraining import run_retrain

SHIPPED = REPO_ROOT / "models"


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """Env for a registry of its own whose corpus is every 10th template family (every label and
    split, ~800 rows: seconds to fit), and a first retrain that makes the first champion."""
    root = tmp_path_factory.mktemp("retrain")
    models = root / "models"
    rows = read_jsonl(SHIPPED / "data" / "corpus.jsonl")
    keep = set(sorted({r["family"] for r in rows})[::10])
    write_jsonl([r for r in rows if r["family"] in keep], models / "data" / "corpus.jsonl")
    shipped_champion = (SHIPPED / "CURRENT").read_text()
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in __import__("os").environ if k.startswith("THREATLINE_")]:
            mp.delenv(key)
        mp.setenv("THREATLINE_GENERAL__DATA_DIR", str(root / "data"))
        mp.setenv("THREATLINE_CLASSIFY__MODELS_DIR", str(models))
        assert cli("setup").exit_code == 0
        first = cli("retrain", "--promote", "auto")
        assert first.exit_code == 0, first.output
        yield load_settings(DEFAULT_CONFIG), models, first
    assert (SHIPPED / "CURRENT").read_text() == shipped_champion


def label_in_console(settings, tmp_path, docs, labels):
    """Index ``docs``, then log in to the review console as sro.kim and label each item of
    ``labels`` through its item page form, on 2026-12-01 at 15:00 UTC."""
    import re

    from argon2 import PasswordHasher
    from fastapi.testclient import TestClient

    from pipeline.bootstrap import runtime
    from pipeline.review import users
    from pipeline.review.app import create_review_app

    s = settings.model_copy(update={"review": settings.review.model_copy(update={"users_file": tmp_path / "users.yaml"})})
    with pytest.MonkeyPatch.context() as mp, runtime(s) as rt:
        mp.setattr(users, "default_hasher", lambda: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
        users.UsersFile(tmp_path / "users.yaml").add("sro.kim", "sro", "a long enough password", "Officer Kim")
        rt.store.index_items(docs)
        when = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
        with TestClient(create_review_app(rt, clock=lambda: when), follow_redirects=False) as console:
            login = console.get("/login").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
            assert console.post("/login", data={"username": "sro.kim", "password": "a long enough password",
                                                "csrf_token": csrf}).status_code == 303
            for item_id, label in labels.items():
                page = console.get(f"/items/{item_id}").text
                form = {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
                        "version": re.search(r'name="version" value="([^"]+)"', page).group(1), "label": label}
                done = console.post(f"/items/{item_id}/label", data=form)
                assert done.status_code == 303, done.text


def cli(*args):
    return CliRunner().invoke(app, [*args, "--config", str(DEFAULT_CONFIG)])


def audit_records(settings, action):
    with sqlite3.connect(settings.data_dir / settings.store.sqlite_file) as db:
        docs = [json.loads(d) for (d,) in db.execute("SELECT doc FROM audit ORDER BY ts_us")]
    return [d for d in docs if d["event"]["action"] == action]


def test_the_first_retrain_becomes_the_champion(loop):
    settings, models, first = loop
    [v1] = versions(models)
    assert current_version(models) == v1
    assert "no labeled cases" in first.output and "no champion to compare with" in first.output
    [entry] = history(models)
    assert (entry["action"], entry["version"], entry["previous"], entry["forced"]) == ("promote", v1, None, False)
    [record] = audit_records(settings, "promote")
    assert record["details"] == {"version": v1, "forced": False}  # no previous champion


def test_a_retrain_with_labels_writes_a_version_and_follows_the_policy(loop, tmp_path):
    settings, models, _ = loop
    champion = current_version(models)
    corpus = read_jsonl(models / "data" / "corpus.jsonl")
    # A labeling session in the console: an SRO labels three of four flagged items.
    texts = {"lhs": ("everyone in the LHS quad is getting shot friday, not joking", "threat_substantive"),
             "seat": ("take my seat again and ill end you lol", "threat_transient"),
             "sad": ("been cutting again and nobody even notices", "self_harm"),
             "quiz": ("that quiz destroyed me", None)}
    docs = {k: flagged_item(t, native_id=k) for k, (t, _) in texts.items()}
    label_in_console(settings, tmp_path, list(docs.values()),
                     {docs[k]["event"]["id"]: label for k, (_, label) in texts.items() if label})
    # An analyst's file: corpus training texts with their corpus labels, one held-out text, one
    # text the console also labeled (the console wins).
    own = [r for r in corpus if r["split"] == "train"][:20]
    label_of = {(1, 0, 0): "threat_substantive", (0, 1, 0): "self_harm", (0, 0, 1): "bullying", (0, 0, 0): "not_a_concern"}
    lines = [{"text": r["text"], "label": label_of.get((r["threat"], r["self_harm"], r["bullying"]), "threat_substantive")}
             for r in own]
    lines += [{"text": next(r["text"] for r in corpus if r["split"] == "test"), "label": "not_a_concern"},
              {"text": texts["sad"][0].upper(), "label": "not_a_concern", "labeled_by": "dana"}]
    labels = tmp_path / "dana.jsonl"
    labels.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")

    done = cli("retrain", "--labels", str(labels), "--from-store", "--by", "dana")
    assert done.exit_code == 0, done.output
    version = versions(models)[-1]
    assert version != champion
    for name in ("metrics.json", "model_card.md", "manifest.json", "pr_curve.png", "confusion.png", "classifier.skops"):
        assert (models / version / name).is_file(), name
    assert not list(models.glob(".partial-*"))
    metrics = json.loads((models / version / "metrics.json").read_text())
    retrain = metrics["retrain"]
    assert retrain["labels"]["by_origin"] == {"console": 3, "dana.jsonl": 20}
    assert retrain["labels"]["held_out_skipped"] == 1 and retrain["labels"]["duplicates"] == 1
    assert retrain["labels"]["by_label"]["threat_transient"] == 1
    assert retrain["labels"]["new_texts"] == 3 and retrain["labels"]["relabeled_corpus_texts"] == 20
    # The recorded decision is the policy applied to the recorded numbers of both models.
    assert retrain["warnings"] == []  # the champion was trained on this very corpus
    champion_numbers = retrain["champion"]
    assert champion_numbers["version"] == champion
    expected = decide(version, {"heads": metrics["test"]["heads"], "functional": metrics["functional"]},
                      champion, champion_numbers)
    assert retrain["decision"] == expected.as_dict()
    assert current_version(models) == (version if expected.passed else champion)
    lost = {c.what.split()[1] for c in expected.failures if c.what.startswith("functional")}
    assert lost <= set(retrain["functional_regressions"])  # each lost capability names its lost cases
    card = (models / version / "model_card.md").read_text()
    for section in ("## Retraining with analysts' labels", f"### Against the champion {champion}",
                    "### Promotion decision", "| threat_transient | 1 |", "console 3, dana.jsonl 20"):
        assert section in card
    assert ("**passes**" if expected.passed else "**refuses**") in card


def test_labels_export_cli_writes_what_the_console_labeled(loop, tmp_path):
    out = tmp_path / "export.jsonl"
    done = cli("labels", "export", "--output", str(out), "--since", "2026-12-01")
    assert done.exit_code == 0, done.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["label"] for r in rows) == ["self_harm", "threat_substantive", "threat_transient"]
    assert {r["labeled_by"] for r in rows} == {"sro.kim"}
    assert cli("labels", "export", "--since", "2026-12-02").stdout == ""  # 15:00 UTC is 09:00 in Chicago, Dec 1
    assert cli("labels", "export", "--since", "yesterday").exit_code == 2


def test_a_challenger_trained_on_shuffled_labels_is_refused(loop, tmp_path):
    settings, models, _ = loop
    champion = current_version(models)
    corpus = read_jsonl(models / "data" / "corpus.jsonl")
    rng = random.Random(6)
    wrong = ["threat_substantive", "self_harm", "bullying", "not_a_concern"]
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text("".join(json.dumps({"text": r["text"], "label": rng.choice(wrong)}) + "\n"
                                for r in corpus if r["split"] == "train"), encoding="utf-8")
    report = run_retrain(settings, label_files=[shuffled], mode="auto", by="test", log=lambda _: None)
    assert not report.promoted and not report.decision.passed
    assert current_version(models) == champion
    assert any(r.startswith("worse: threat PR-AUC") for r in report.decision.reasons())
    assert "**refuses**" in (models / report.version / "model_card.md").read_text()


def test_promote_applies_the_policy_and_a_forced_promotion_is_audited(loop, tmp_path, monkeypatch):
    from pipeline.review.users import UsersFile

    settings, models, _ = loop
    UsersFile(tmp_path / "users.yaml").add("dana", "admin", None, "Dana Ruiz")  # forcing takes an enabled admin
    monkeypatch.setenv("THREATLINE_REVIEW__USERS_FILE", str(tmp_path / "users.yaml"))
    champion = current_version(models)
    refused = [v for v in versions(models) if not json.loads((models / v / "metrics.json").read_text())
               .get("retrain", {}).get("decision", {}).get("passed", True)][-1]
    done = cli("model", "promote", refused)
    assert done.exit_code == 1 and "policy refuses" in done.output and current_version(models) == champion
    done = cli("model", "promote", refused, "--force")
    assert done.exit_code == 2 and current_version(models) == champion
    done = cli("model", "promote", refused, "--force", "--by", "Dana Analyst", "--yes")
    assert done.exit_code == 2 and current_version(models) == champion  # a user of the console, not any string
    done = cli("model", "promote", refused, "--force", "--by", "dana", "--yes")
    assert done.exit_code == 0, done.output
    assert current_version(models) == refused and "forced, audited" in done.output
    assert f"what {refused} loses against the champion {champion}" in done.output
    entry = history(models)[-1]
    assert (entry["version"], entry["previous"], entry["by"], entry["forced"]) == (refused, champion, "dana", True)
    record = audit_records(settings, "promote")[-1]
    assert record["user"] == {"name": "dana", "roles": ["admin"]}
    assert record["details"] == {"version": refused, "previous": champion, "forced": True}
    assert record["review"]["reason"].startswith("forced: worse:")


def test_rollback_restores_the_previous_champion_and_is_recorded(loop):
    settings, models, _ = loop
    forced, before = history(models)[-1]["version"], history(models)[-1]["previous"]
    assert current_version(models) == forced
    done = cli("model", "rollback", "--by", "sam")
    assert done.exit_code == 0, done.output
    assert current_version(models) == before
    entry = history(models)[-1]
    assert (entry["action"], entry["version"], entry["previous"], entry["by"]) == ("rollback", before, forced, "sam")
    assert audit_records(settings, "rollback")[-1]["details"]["version"] == before
    listing = cli("model", "list")
    assert listing.exit_code == 0 and f"{before}*" in listing.output and forced in listing.output


def test_labels_file_errors_stop_before_training(loop, tmp_path):
    _, models, _ = loop
    before = versions(models)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "hi", "label": "maybe"}\n', encoding="utf-8")
    done = cli("retrain", "--labels", str(bad), "--promote", "never")
    assert done.exit_code == 2 and "bad.jsonl:1: label 'maybe'" in done.output
    assert cli("retrain", "--promote", "force").exit_code == 2  # forced needs a name
    assert versions(models) == before


def test_the_districts_own_posts_train_as_background_and_make_a_shadow_run(loop):
    """Posts the classify stage scored (items.scored on the loop's own bus) come back for a retrain:
    the unflagged ones as low-weight negatives, all of them as a shadow run in the card and the policy."""
    from pipeline.bootstrap import build_bus
    from pipeline.bus import OutMessage
    from pipeline.schema import ScoredItem

    settings, models, _ = loop
    champion = current_version(models)
    everyday = [f"practice moved to {day} at {hour}, bring water" for day in ("monday", "tuesday") for hour in range(3, 8)]
    flagged = ["gonna shoot up the lincoln gym friday with my dads rifle"]
    items = [ScoredItem(id=f"d{i}", kind="post", text=t, source="rss:district", threat_score=0.1, self_harm_score=0.0,
                        severity="P1" if t in flagged else "none", category="violence" if t in flagged else "none",
                        school_relevance=0.0, model_version=champion) for i, t in enumerate(everyday + flagged)]
    bus = build_bus(settings)
    try:
        bus.publish([OutMessage(settings.topic("items.scored"), i.id, i.to_bytes()) for i in items])
    finally:
        bus.close()
    done = cli("retrain", "--district-stream", "--promote", "never")
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())  # rich wraps long lines
    assert "district stream: 11 posts of the last 7 days, 10 unflagged ones as background negatives" in said
    version = versions(models)[-1]
    retrain = json.loads((models / version / "metrics.json").read_text())["retrain"]
    shadow = retrain["shadow"]
    assert (shadow["posts"], shadow["background"], shadow["weight"], shadow["days"]) == (11, 10, 0.2, 7)
    assert shadow["champion"]["n"] == shadow["challenger"]["n"] == 11
    [pages] = [c for c in retrain["decision"]["checks"] if c["lower_is_better"]]
    assert (pages["challenger"], pages["champion"]) == (shadow["challenger"]["pages_per_10k"],
                                                        shadow["champion"]["pages_per_10k"])
    card = (models / version / "model_card.md").read_text()
    assert "### Shadow run: the district's own posts, last 7 days" in card and "pages per 10,000 of the district" in card
    assert "lincoln gym" not in card and "practice moved" not in card  # rates only, never a post
    assert current_version(models) == champion
