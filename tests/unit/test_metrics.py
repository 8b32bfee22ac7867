"""pipeline/metrics.py: the registry's names and labels, the scrape-time metrics, multiprocess
aggregation across real processes, and the shipped Prometheus rules and Grafana dashboard
(every metric they name exists; promtool checks and unit-tests the rules)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pipeline import metrics
from pipeline.config import DEFAULT_CONFIG
from pipeline.stage_health import StageHealth

CONFIG = DEFAULT_CONFIG.parent
RULES = CONFIG / "prometheus-rules.yml"
DASHBOARD = CONFIG / "grafana-dashboard.json"
ROOT = Path(__file__).resolve().parents[2]
# What a label may be: bounded sets only (never an id, an author, a school or any text).
ALLOWED_LABELS = {"stage", "kind", "severity", "category", "channel", "version", "state", "source"}
PROMQL_BUILTINS = {"up"}  # series Prometheus itself makes for every scrape target


def sample_names() -> set[str]:
    """The series names a scrape can hold: counters end in _total, histograms have buckets."""
    names = set(metrics.SCRAPED)
    for family in metrics.REGISTRY.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}.get(family.type, [""])
        names |= {family.name + s for s in suffixes}
    return names


def named_metrics(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers not followed by '(' (functions) and not
    inside {...} or [...] or quotes, minus keywords and the labels of by/on/without (...)."""
    expr = re.sub(r'"[^"]*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    words = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", expr))
    return words - {"and", "or", "unless", "bool", "offset"}


def test_the_extractor_finds_names_and_skips_functions_labels_and_keywords():
    expr = 'sum by (severity) (rate(threatline_pages_failed_total{job="x"}[5m])) > 0 and on(stage) up == 1'
    assert named_metrics(expr) == {"threatline_pages_failed_total", "up"}


def test_every_metric_is_prefixed_documented_and_has_bounded_labels():
    families = list(metrics.REGISTRY.collect())
    assert len(families) >= 9
    for family in families:
        assert family.name.startswith("threatline_") and family.documentation, family.name
    for collector in metrics.REGISTRY._collector_to_names:  # the labels each metric was declared with
        assert set(collector._labelnames) <= ALLOWED_LABELS, collector._name
    for name, (text, labels) in metrics.SCRAPED.items():
        assert name.startswith("threatline_") and text and set(labels) <= ALLOWED_LABELS
    assert metrics.metric_names() == {f.name for f in families} | set(metrics.SCRAPED)


def test_pipeline_state_reads_lag_dead_letters_and_health_and_survives_a_failing_source():
    def bus_down():
        raise ConnectionError("bus unreachable\nat host")

    health = [StageHealth(stage="classify", pid=1, state="retrying", heartbeat=1700000000.5),
              StageHealth(stage="classify-2", pid=2, state="running", heartbeat=1700000001.0)]
    state = metrics.PipelineState(lag=bus_down, dead_letters=lambda: 3, health=lambda: health,
                                  stages=("classify", "classify-tips"))
    text = metrics.exposition(state).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("threatline_metrics_source_up", (("source", "bus_lag"),))] == 0
    assert samples[("threatline_metrics_source_up", (("source", "dead_letters"),))] == 1
    assert samples[("threatline_dead_letters_waiting", ())] == 3
    assert samples[("threatline_stage_heartbeat_timestamp_seconds", (("stage", "classify"),))] == 1700000000.5
    assert samples[("threatline_stage_state", (("stage", "classify"), ("state", "retrying")))] == 1
    assert samples[("threatline_stage_state", (("stage", "classify"), ("state", "running")))] == 0
    assert samples[("threatline_stage_state", (("stage", "classify"), ("state", "never_started")))] == 0
    # classify-2 is a replica of classify; classify-tips has no health file at all
    assert samples[("threatline_stage_state", (("stage", "classify-tips"), ("state", "never_started")))] == 1
    assert samples[("threatline_stage_state", (("stage", "classify-tips"), ("state", "running")))] == 0
    assert not any(name == "threatline_consumer_lag" for name, _ in samples)


# --- multiprocess: what `threatline run` does -----------------------------------------------------

CHILD = """
import sys
from pathlib import Path
from pipeline.metrics_dir import prepare
prepare(Path(sys.argv[1])) if sys.argv[2] == "prepare" else None
from pipeline import metrics
metrics.PAGES_SENT.labels("P1", "email").inc(int(sys.argv[3]))
metrics.model_in_use("classify", sys.argv[4])
"""


def child(tmp_path: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != metrics.MULTIPROC_ENV}
    if args[0] != "prepare":
        env[metrics.MULTIPROC_ENV] = str(tmp_path / "data" / "metrics")
    subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "data"), *args], check=True, env=env, cwd=ROOT,
                   timeout=60)


def scrape(directory: Path) -> dict[tuple[str, tuple], float]:
    text = metrics.exposition(directory=directory).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_counters_add_up_over_processes_and_the_gauges_of_dead_ones_are_dropped(tmp_path):
    directory = tmp_path / "data" / "metrics"
    directory.mkdir(parents=True)
    (directory / "counter_999999999.db").write_bytes(b"left over from the last run")
    child(tmp_path, "prepare", "2", "v1")  # empties the directory, as `threatline run` does
    assert not (directory / "counter_999999999.db").exists()
    child(tmp_path, "join", "3", "v2")  # a second process, e.g. the stage after a restart

    samples = scrape(directory)
    assert samples[("threatline_pages_sent_total", (("channel", "email"), ("severity", "P1")))] == 5
    # Both processes have exited: the model they scored with is no longer anyone's.
    assert not any(name == "threatline_model_info" for name, _ in samples)
    assert not list(directory.glob("gauge_live*"))


ONE_SHOT = """
import sys
from pipeline.cli import settings
settings()  # what every CLI command does first
from pipeline import metrics
metrics.PAGES_SENT.labels("P2", "sms").inc()
"""


def test_a_one_shot_command_on_the_data_dir_of_a_run_counts_in_its_metrics(tmp_path):
    """`threatline alerts ack` or `alerts test-page` beside a running `threatline run`: the
    review server's /metrics must include what they did, though they exit at once."""
    child(tmp_path, "prepare", "1", "v1")  # the run
    env = {k: v for k, v in os.environ.items() if k != metrics.MULTIPROC_ENV}
    env["THREATLINE_GENERAL__DATA_DIR"] = str(tmp_path / "data")
    subprocess.run([sys.executable, "-c", ONE_SHOT], check=True, env=env, cwd=ROOT, timeout=60)
    samples = scrape(tmp_path / "data" / "metrics")
    assert samples[("threatline_pages_sent_total", (("channel", "sms"), ("severity", "P2")))] == 1
    assert samples[("threatline_pages_sent_total", (("channel", "email"), ("severity", "P1")))] == 1


def test_prepare_refuses_once_prometheus_client_is_imported(tmp_path, monkeypatch):
    from pipeline.metrics_dir import prepare

    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    with pytest.raises(RuntimeError, match="imported before"):
        prepare(tmp_path)  # this test process imported it, for the line above
    assert metrics.MULTIPROC_ENV not in os.environ


# --- the shipped rules and dashboard -------------------------------------------------------------


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_every_rule_is_complete_and_names_only_defined_metrics():
    known = sample_names() | PROMQL_BUILTINS
    alerts = {rule["alert"] for rule in rules()}
    assert {"ThreatlineStageNotHeartbeating", "ThreatlineConsumerLagGrowing", "ThreatlineDeadLetters",
            "ThreatlinePageFailures"} <= alerts
    used = set()
    for rule in rules():
        assert {"alert", "expr", "for", "labels", "annotations"} <= set(rule), rule.get("alert")
        assert rule["labels"].get("severity") in ("critical", "warning")
        assert rule["annotations"].get("summary") and rule["annotations"].get("description")
        names = named_metrics(rule["expr"])
        assert names and names <= known, (rule["alert"], names - known)
        used |= names
    assert len(used) >= 6


def test_every_dashboard_panel_queries_defined_metrics():
    dashboard = json.loads(DASHBOARD.read_text())
    known = sample_names()
    used = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = named_metrics(target["expr"])
            assert names and names <= known, (panel["title"], names - known)
            used |= names
    # Every counted metric is on the dashboard somewhere.
    assert used >= {n for n in known if not n.endswith(("_count", "_sum"))}, "a metric no panel shows"


PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus; make test installs it)")


@needs_promtool
def test_promtool_accepts_the_rules_and_the_dashboard_queries(tmp_path):
    subprocess.run([PROMTOOL, "check", "rules", str(RULES)], check=True, capture_output=True, timeout=60)
    # The dashboard's queries as recording rules: promtool parses each one.
    exprs = [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]]
    recorded = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump(recorded))
    result = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / "dashboard.yml")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def firing(alert: str, labels: dict, summary: str) -> dict:
    """What promtool must see: the rule's own labels plus ``labels``, the summary as rendered and
    the description as written in the rules file."""
    rule = next(r for r in rules() if r.get("alert") == alert)
    return {"exp_labels": {**rule["labels"], **labels},
            "exp_annotations": {"summary": summary, "description": rule["annotations"]["description"]}}


RULE_TESTS = {
    "rule_files": [str(RULES)],
    "evaluation_interval": "1m",
    "tests": [
        {   # a dead letter arrives at minute 10; a P1 page fails at minute 20; classify stops beating at 30
            "interval": "1m",
            "input_series": [
                {"series": "threatline_dead_letters_waiting", "values": "0x9 1x20"},
                {"series": 'threatline_pages_failed_total{severity="P1"}', "values": "0x19 1x10"},
                {"series": 'threatline_stage_heartbeat_timestamp_seconds{stage="classify"}',
                 "values": "0+60x30 1800x10"},
                {"series": 'threatline_stage_state{stage="classify",state="stopped"}', "values": "0x40"},
                {"series": 'threatline_consumer_lag{stage="index"}', "values": "5+10x40"},
                {"series": 'threatline_consumer_lag{stage="alert"}', "values": "0x40"},
                {"series": 'up{job="threatline"}', "values": "1x40"},
                {"series": 'threatline_stage_state{stage="alert",state="never_started"}', "values": "1x40"},
            ],
            "alert_rule_test": [
                {"eval_time": "9m", "alertname": "ThreatlineDeadLetters", "exp_alerts": []},
                {"eval_time": "16m", "alertname": "ThreatlineDeadLetters", "exp_alerts": [firing(
                    "ThreatlineDeadLetters", {}, "1 dead letter(s) waiting on the dlq topic")]},
                {"eval_time": "19m", "alertname": "ThreatlinePageFailures", "exp_alerts": []},
                {"eval_time": "21m", "alertname": "ThreatlinePageFailures", "exp_alerts": [firing(
                    "ThreatlinePageFailures", {}, "about 1 page(s) could not be delivered in the last 15 minutes")]},
                {"eval_time": "31m", "alertname": "ThreatlineStageNotHeartbeating", "exp_alerts": []},
                {"eval_time": "36m", "alertname": "ThreatlineStageNotHeartbeating", "exp_alerts": [firing(
                    "ThreatlineStageNotHeartbeating", {"stage": "classify"},
                    "stage classify has not written its health file for over 2 minutes")]},
                {"eval_time": "25m", "alertname": "ThreatlineConsumerLagGrowing", "exp_alerts": [firing(
                    "ThreatlineConsumerLagGrowing", {"stage": "index"},
                    # the backlog's low point over the 10 minutes before 25m: 5 + 10 * 15
                    "stage index is falling behind (at least 155 messages waiting for 10 minutes)")]},
                {"eval_time": "5m", "alertname": "ThreatlineConsumerLagGrowing", "exp_alerts": []},
                {"eval_time": "25m", "alertname": "ThreatlineMetricsDown", "exp_alerts": []},
                {"eval_time": "4m", "alertname": "ThreatlineStageNeverStarted", "exp_alerts": []},
                {"eval_time": "6m", "alertname": "ThreatlineStageNeverStarted", "exp_alerts": [firing(
                    "ThreatlineStageNeverStarted", {"stage": "alert", "state": "never_started"},
                    "stage alert has never written a health file in this data dir")]},
            ],
        },
    ],
}


@needs_promtool
def test_the_rules_fire_when_they_should_and_not_before(tmp_path):
    """promtool's rule unit tests: each alert silent before its cause, firing after its `for`."""
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(RULE_TESTS, sort_keys=False))
    result = subprocess.run([PROMTOOL, "test", "rules", str(tmp_path / "tests.yml")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
