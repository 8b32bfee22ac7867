"""The `threatline` console script as a user runs it: real processes, real exit codes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path


THREATLINE = str(Path(sys.executable).with_name("threatline"))
REPO = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args, env=None, input=None, timeout=120):
    base = {k: v for k, v in os.environ.items() if not k.startswith("THREATLINE_")}
    return subprocess.run([THREATLINE, *args], capture_output=True, text=True, cwd=REPO, input=input,
                          env={**base, **(env or {})}, timeout=timeout)


def assert_one_clear_line(result, code, *needles):
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_unknown_key_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("store:\n  backend: embedded\n  shards: 3\n")
    assert_one_clear_line(run("--config", str(bad), "config", "show"), 2, str(bad), "store.shards", "unknown key")


def test_bad_env_value_is_one_line_exit_2():
    result = run("config", "show", env={"THREATLINE_STORE__BACKEND": "mongodb"})
    assert_one_clear_line(result, 2, "store.backend", "'mongodb'")


def test_missing_config_file(tmp_path):
    assert_one_clear_line(run("--config", str(tmp_path / "nope.yaml"), "setup"), 2, "file not found")


def test_unreachable_kafka_is_one_line_exit_1(tmp_path):
    port = closed_port()
    env = {"THREATLINE_BUS__BACKEND": "kafka", "THREATLINE_BUS__KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}",
           "THREATLINE_GENERAL__DATA_DIR": str(tmp_path)}
    assert_one_clear_line(run("setup", env=env), 1, f"127.0.0.1:{port}")


def test_unreachable_elasticsearch_is_one_line_exit_1(tmp_path):
    port = closed_port()
    env = {"THREATLINE_STORE__BACKEND": "elasticsearch",
           "THREATLINE_STORE__ELASTICSEARCH_HOSTS": json.dumps([f"http://127.0.0.1:{port}"]),
           "THREATLINE_STORE__ELASTICSEARCH_TIMEOUT_S": "2", "THREATLINE_STORE__BULK_MAX_RETRIES": "0",
           "THREATLINE_GENERAL__DATA_DIR": str(tmp_path)}
    assert_one_clear_line(run("setup", env=env), 1, f"127.0.0.1:{port}")


def test_classify_honours_the_jsonl_contract(tmp_path):
    lines = [
        {"id": "p1", "text": "i'm bringing a gun to LHS tomorrow and shoot up the cafeteria", "source": "x"},
        {"id": "p2", "text": "good luck to the lynx tonight!!", "created_at": "2026-11-20T18:00:00Z"},
        "this is not json",
        {"id": "p4", "text": "nobody likes you, kys"},
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    dst = tmp_path / "out.jsonl"
    result = run("classify", "--input", str(src), "--output", str(dst))
    assert result.returncode == 0, result.stderr
    champion = (REPO / "models/CURRENT").read_text().strip()
    out = [json.loads(line) for line in dst.read_text().splitlines()]
    assert [o.get("id") for o in out] == ["p1", "p2", None, "p4"]
    assert "error" in out[2]
    for o in (out[0], out[1], out[3]):
        assert 0 <= o["threat_score"] <= 1 and 0 <= o["self_harm_score"] <= 1 and 0 <= o["school_relevance"] <= 1
        assert o["severity"] in ("P1", "P2", "P3", "none")
        assert o["category"] in ("violence", "self_harm", "bullying", "weapons", "drugs", "none")
        assert isinstance(o["explanation"], list) and o["explanation"] or o["severity"] == "none"
        assert o["model_version"] == champion
    assert out[0]["severity"] == "P1" and out[0]["category"] == "violence" and out[0]["school"] == "Lincoln High School"
    assert out[1]["severity"] == "none"
    assert out[3]["category"] == "bullying"
    # stdin → stdout gives the same answers
    piped = run("classify", input=src.read_text())
    assert [json.loads(line) for line in piped.stdout.splitlines()] == out


def test_demo_json_summary_is_consistent(tmp_path):
    result = run("demo", "--json", "--data-dir", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"ingested", "classified", "flagged", "indexed", "alerts"} <= set(summary)
    assert summary["classified"] == summary["ingested"] > 200
    assert summary["indexed"] == summary["flagged"] > 0
    assert 0 < summary["alerts"]
    assert summary["dead_lettered"] == 0


def test_demo_prints_a_triage_table(tmp_path):
    result = run("demo", "--data-dir", str(tmp_path / "demo"), env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert "threatline triage" in result.stdout and "P1" in result.stdout
    assert "indexed" in result.stdout


def test_demo_reads_at_80_columns_and_piped(tmp_path):
    """Piped (rich assumes 80 columns) or on a narrow terminal: one block per item, not a table
    whose school and source columns wrap a few letters per line."""
    result = run("demo", "--data-dir", str(tmp_path / "demo"), env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any(line.startswith("P1 violence · ") and "School · " in line for line in lines)
    assert "┃ sev" not in result.stdout and "indexed" in result.stdout


def test_eval_prints_auc_and_precision_recall_per_category(tmp_path):
    rows = [("im bringing a gun to LHS tomorrow and shooting everyone in the quad", 1, 0, 0),
            ("gonna stab mr davis in the lincoln parking lot after school friday", 1, 0, 0),
            ("this chem test is killing me lol", 0, 0, 0),
            ("we destroyed central in the game last night, absolute massacre", 0, 0, 0),
            ("i dont want to be here anymore. i wrote my note", 0, 1, 0),
            ("nobody at lunch wants u around, go cry in the bathroom again loser", 0, 0, 1),
            ("see you at practice", 0, 0, 0),
            ("my mom is going to kill me, i forgot my lunch", 0, 0, 0)]
    labeled = tmp_path / "labeled.jsonl"
    labeled.write_text("".join(json.dumps({"text": t, "threat": a, "self_harm": b, "bullying": c}) + "\n"
                               for t, a, b, c in rows))
    result = run("eval", "--input", str(labeled), env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    for needle in ("ROC-AUC", "PR-AUC", "P/R at P1", "P/R at P3", "threat", "self_harm", "bullying", "8 rows"):
        assert needle in result.stdout
    unlabeled = tmp_path / "unlabeled.jsonl"
    unlabeled.write_text(json.dumps({"text": "hello"}) + "\n")
    assert_one_clear_line(run("eval", "--input", str(unlabeled)), 2, "no rows carry")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"text": "ok", "threat": 0}) + "\n{not json\n")
    assert_one_clear_line(run("eval", "--input", str(broken)), 2, "broken.jsonl:2: not valid JSON")


def test_train_never_overwrites_a_released_version():
    champion = (REPO / "models/CURRENT").read_text().strip()
    assert_one_clear_line(run("train", "--version", champion), 2, "already exists")


def test_eval_unlabeled_dry_runs_a_model_on_the_districts_posts(tmp_path):
    """Pages and review items per 10,000 on posts that carry no labels, for the champion or any
    version: counts and our own cue names only, never a post's words."""
    posts = ["see you at practice", "this chem test is killing me lol", "go cougars, beat central friday",
             "gonna shoot up the lincoln cafeteria friday at noon with my dads rifle, stay home"]
    district = tmp_path / "district.jsonl"
    district.write_text("".join(json.dumps({"text": t}) + "\n" for t in posts))
    result = run("eval", "--unlabeled", str(district), env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    # the rate is what `threatline classify` does to the same posts: each page of 4 posts is 2,500 per 10,000
    scored = run("classify", input="".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(posts)))
    severities = [json.loads(line)["severity"] for line in scored.stdout.splitlines()]
    assert severities[-1] in ("P1", "P2")  # the plain threat pages
    pages = sum(s in ("P1", "P2") for s in severities)
    for needle in ("4 posts, unlabelled", "pages (P1/P2)", "review queue (P3)", f"{2500.0 * pages}"):
        assert needle in result.stdout
    assert "cafeteria" not in result.stdout and "dads rifle" not in result.stdout
    version = (REPO / "models" / "CURRENT").read_text().strip()
    other = run("eval", "--unlabeled", str(district), "--model", str(REPO / "models" / version), env={"COLUMNS": "200"})
    assert other.returncode == 0 and version in other.stdout
    assert_one_clear_line(run("eval"), 2, "one of --input")
    assert_one_clear_line(run("eval", "--input", str(district), "--unlabeled", str(district)), 2, "one of --input")


def test_classify_with_a_missing_input_file_is_one_line_exit_2(tmp_path):
    missing = tmp_path / "nope.jsonl"
    assert_one_clear_line(run("classify", "--input", str(missing)), 2, str(missing), "No such file")
