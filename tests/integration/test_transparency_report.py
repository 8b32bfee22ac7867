"""`threatline report` on a real pipeline's data: the demo's data directory, on both store
adapters, the CLI a user runs, and the monthly run that writes the files and mails the admins."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pipeline.bootstrap import build_bus, build_classifier, report_inputs, runtime
from pipeline.demo import run_demo
from pipeline.report.service import ReportInputs, build_report, month_bounds, monthly_report
from pipeline.store import ItemQuery
from pipeline.store.embedded import EmbeddedStore
from pipeline.store.paging import every_item
from smtp_server import smtp_server

SINCE = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo once for the module: its summary and its settings (embedded, its data dir)."""
    import os

    from pipeline.config import DEFAULT_CONFIG, load_settings

    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("THREATLINE_")}
    try:
        data_dir = tmp_path_factory.mktemp("demo")
        summary, _ = run_demo(load_settings(DEFAULT_CONFIG), data_dir)
    finally:
        os.environ.update(saved)
    return summary


def cli(data_dir, *args):
    from pipeline.cli import app

    env = {"THREATLINE_GENERAL__DATA_DIR": str(data_dir), "THREATLINE_BUS__BACKEND": "embedded",
           "THREATLINE_STORE__BACKEND": "embedded"}
    return CliRunner().invoke(app, ["report", *args], env=env)


def test_report_agrees_with_the_demo(demo, monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("THREATLINE_")]:
        monkeypatch.delenv(key)
    result = cli(demo.data_dir, "--since", "2000-01-01", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["flagged"] == demo.flagged
    assert report["alerts"]["total"] == demo.alerts
    assert report["intake"]["posts"] == demo.crawled and report["intake"]["tips"] == demo.tipped
    for key in ("period", "flagged", "alerts", "by_severity", "by_category", "by_school", "by_source", "outcomes",
                "false_alarm_rate", "median_time_to_ack_s", "model_versions"):
        assert key in report
    assert sum(v for v in report["by_severity"].values() if isinstance(v, int)) <= demo.flagged
    assert report["equity"]["identity_counterfactuals"]["capability"] == "identity_swap"
    assert set(report["equity"]["functional"]) == set(report["model_versions"])
    # no post text: not one flagged item's words are in the report
    with EmbeddedStore(demo.data_dir + "/store.sqlite3") as store:
        texts = [h.doc["message"] for h in every_item(store, ItemQuery())]
        assert any(r["event"]["action"] == "export" for r in store.search_audit(actions=("export",)))
    out = result.stdout.lower()
    assert not [t for t in texts if len(t) > 12 and t.lower()[:40] in out]


def test_html_and_markdown_render(demo, tmp_path, monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("THREATLINE_")]:
        monkeypatch.delenv(key)
    target = tmp_path / "report.html"
    result = cli(demo.data_dir, "--since", "2000-01-01", "--format", "html", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    page = target.read_text()
    assert page.count("data:image/png;base64,") >= 4 and "<h2>Equity: flag and page rates per school</h2>" in page
    md = cli(demo.data_dir, "--since", "2000-01-01").stdout
    assert md.startswith("# threatline transparency report") and "| flagged items | " in md


def test_bad_options_are_one_line_errors(demo, monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("THREATLINE_")]:
        monkeypatch.delenv(key)
    for args, needle in ((("--format", "pdf"), "--format"), (("--since", "yesterday"), "expected a date"),
                         (("--since", "2026-02-01", "--until", "2026-01-01"), "before"), (("--school", "Nowhere"), "unknown school")):
        result = cli(demo.data_dir, *args)
        assert result.exit_code == 2 and needle in result.output, result.output


def _copy(source: EmbeddedStore, target) -> None:
    target.index_items([h.doc for h in every_item(source, ItemQuery())])
    for alert in source.alerts_between():
        target.create_alert(alert.id, alert.doc)
    target.append_audit(list(source.search_audit()))


def test_both_store_adapters_give_the_same_report(demo, store_factory, settings):
    """The demo's documents copied into the store under test; the same bus, model and clock."""
    now = datetime.now(UTC)
    target = store_factory()
    with EmbeddedStore(demo.data_dir + "/store.sqlite3") as source:
        _copy(source, target)
    demo_settings = settings.model_copy(update={"general": settings.general.model_copy(update={"data_dir": Path(demo.data_dir)})})
    bus = build_bus(demo_settings)
    try:
        classifier = build_classifier(settings)
        terms = yaml.safe_load(settings.config_path(settings.classify.identity_file).read_text())["terms"]
        inputs = ReportInputs(target, bus, settings.topic("items.scored"), classifier, terms,
                              settings.config_path(settings.classify.models_dir), 7)
        got = build_report(inputs, SINCE, now, now=now)
    finally:
        bus.close()
    with runtime(demo_settings) as rt:
        expected = build_report(report_inputs(rt), SINCE, now, now=now)
    assert got == expected
    assert got["flagged"] == demo.flagged


def test_school_report_holds_only_that_school(demo, settings):
    demo_settings = settings.model_copy(update={"general": settings.general.model_copy(update={"data_dir": Path(demo.data_dir)})})
    now = datetime.now(UTC)
    with runtime(demo_settings) as rt:
        whole = build_report(report_inputs(rt), SINCE, now, now=now)
        one = build_report(report_inputs(rt), SINCE, now, school="Lincoln High School", now=now)
    assert set(one["by_school"]) == {"Lincoln High School"}
    assert one["flagged"] == whole["by_school"]["Lincoln High School"]
    assert one["intake"]["total"] == whole["intake"]["by_school"]["Lincoln High School"]


def test_month_bounds_follow_the_district_calendar():
    since, until = month_bounds(datetime(2026, 3, 1, 12, tzinfo=UTC), "America/Chicago")
    assert (since, until) == (datetime(2026, 2, 1, 6, tzinfo=UTC), datetime(2026, 3, 1, 6, tzinfo=UTC))
    since, until = month_bounds(datetime(2026, 1, 15, tzinfo=UTC), "America/Chicago")
    assert since.date().isoformat() == "2025-12-01" and until.date().isoformat() == "2026-01-01"


def test_monthly_report_is_written_privately_and_mailed_to_admins(settings, tmp_path):
    from pipeline.alerts.roster import Person

    now = datetime.now(UTC)
    with runtime(settings) as rt:
        rt.setup()
        with smtp_server() as (url, mailbox):
            admins = [Person(id="lee", name="Lee", roles=("admin",), channels=({"type": "email", "url": url("lee@example.org")},)),
                      Person(id="okafor", name="Okafor", roles=("admin",),
                             channels=({"type": "email", "url": "mailto://127.0.0.1:9?from=t@example.org&to=o@example.org"},))]
            run = monthly_report(report_inputs(rt), tmp_path / "reports", admins, "America/Chicago", now=now, retries=0)
    assert run.sent == ["lee"] and run.failed == ["okafor"]
    month = (now - timedelta(days=now.day)).strftime("%Y-%m")
    assert sorted(p.rsplit("/", 1)[1] for p in run.files) == [f"transparency-{month}.{x}" for x in ("html", "json", "md")]
    assert stat.S_IMODE((tmp_path / "reports").stat().st_mode) == 0o700
    assert all(stat.S_IMODE((tmp_path / "reports" / p.rsplit("/", 1)[1]).stat().st_mode) == 0o600 for p in run.files)
    [(to, message)] = mailbox.messages
    assert to == ["lee@example.org"] and "transparency report" in str(message["subject"])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_monthly_flow_runs_under_prefect(settings, tmp_path):
    """The deployment's flow as Prefect runs it: files under <data_dir>/reports, one mail per admin."""
    import os
    import subprocess
    import sys

    from pipeline.config import DEFAULT_CONFIG

    with runtime(settings) as rt:
        rt.setup()
    with smtp_server() as (url, mailbox):
        roster = yaml.safe_load(settings.config_path(settings.alerts.roster_file).read_text())
        # the district's report goes to the admins for all schools (the admin list for `schools: all`)
        [district_admins] = [c for c in roster["escalation"] if c["role"] == "admin" and c["schools"] == "all"]
        admins = district_admins["people"]
        for person in roster["people"]:
            person["channels"] = [{"type": "email", "url": url(f"{person['id']}@example.org")}]
        (tmp_path / "roster.yaml").write_text(yaml.safe_dump(roster))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180", "PYTHONPATH": str(Path(__file__).parents[2]),
                "THREATLINE_ALERTS__ROSTER_FILE": str(tmp_path / "roster.yaml")}
        code = ("import json, sys\nfrom flows.report import transparency_report\n"
                "print(json.dumps(transparency_report(config_path=sys.argv[1])))")
        done = subprocess.run([sys.executable, "-c", code, str(DEFAULT_CONFIG)], env=env, capture_output=True,
                              text=True, timeout=240)
        assert done.returncode == 0, done.stderr
        run = json.loads(done.stdout.strip().splitlines()[-1])
        assert sorted(run["sent"]) == sorted(admins) and admins
        assert sorted(to for (to,), _ in mailbox.messages) == sorted(f"{a}@example.org" for a in admins)
    assert len(list((settings.data_dir / "reports").glob("transparency-*"))) == 3
