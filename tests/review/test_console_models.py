"""The models page: analysts and admins see every version's numbers, the champion, the history
of changes and each model card (escaped); other roles are refused; every view is audited."""

from __future__ import annotations

import json

import pytest
from console_support import AuditSpy, logged_in


@pytest.fixture
def registry(rt, tmp_path, monkeypatch):
    """Two versions in a registry of the test's own, v2 the champion after a forced promotion."""
    models = tmp_path / "models"
    for version, pr_auc, recall in (("v1-20261101", 0.91, 0.88), ("v2-20261120", 0.93, 0.9)):
        (models / version).mkdir(parents=True)
        heads = {"threat": {"pr_auc": pr_auc, "at_threshold": {"P1": {"recall": recall}, "P2": {"recall": 0.95}}},
                 "self_harm": {"pr_auc": 0.97}}
        (models / version / "metrics.json").write_text(json.dumps({"test": {"heads": heads}}))
        (models / version / "manifest.json").write_text(json.dumps({"created": f"{version[3:]}"}))
        (models / version / "model_card.md").write_text(f"# Model {version}\n\n<script>window.pwned=1</script>\n")
    (models / "CURRENT").write_text("v2-20261120\n")
    (models / "promotions.jsonl").write_text(json.dumps({
        "at": "2026-11-20T10:00:00+00:00", "action": "promote", "version": "v2-20261120", "previous": "v1-20261101",
        "by": "ada", "forced": True, "reasons": ["forced by ada"]}) + "\n")
    monkeypatch.setattr(rt.settings.classify, "models_dir", models)
    return models


@pytest.mark.parametrize("who", ["ana", "ada"])
def test_analysts_and_admins_see_every_version_and_the_history(console, registry, rt, monkeypatch, who):
    spy = AuditSpy(rt.store, monkeypatch)
    page = logged_in(console, who).get("/models")
    assert page.status_code == 200, page.text
    html = page.text
    assert html.index("v2-20261120") < html.index("v1-20261101")  # newest first
    assert "v2-20261120</a> ★" in html and "v1-20261101</a> ★" not in html
    assert "0.930" in html and "0.880" in html and "0.970" in html
    assert "<td>promote</td><td>v2-20261120</td><td>v1-20261101</td><td>ada</td><td>yes</td>" in html
    assert [r["details"]["page"] for r in spy.actions("view")] == ["models"]


def test_a_model_card_is_shown_escaped(console, registry, rt, monkeypatch):
    spy = AuditSpy(rt.store, monkeypatch)
    page = logged_in(console, "ana").get("/models/v1-20261101")
    assert page.status_code == 200
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page.text and "<script>window" not in page.text
    assert spy.actions("view")[-1]["details"] == {"via": "console", "page": "model card", "version": "v1-20261101"}
    assert console.get("/models/..%2FCURRENT").status_code == 404
    assert console.get("/models/v9-20990101").status_code == 404


@pytest.mark.parametrize("who", ["reyes", "cole"])
def test_sros_and_counselors_are_refused(console, registry, who):
    assert logged_in(console, who).get("/models").status_code == 403
    assert console.get("/models/v1-20261101").status_code == 403
