"""The models page: analysts and admins see every version's numbers, the champion, the history
of changes and each model card (escaped); other roles are refused; every view is audited."""

from __future__ import annotations

import json

import pytest
from console_support import AuditSpy, logged_in

PNG = b"\x89PNG\r\n\x1a\n"  # the signature is all the route and the browser's sniffing look at


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
    for name in ("pr_curve.png", "confusion.png"):  # the champion's plots, as training draws them
        (models / "v2-20261120" / name).write_bytes(PNG + name.encode())
    for bait in (models / "pr_curve.png", tmp_path / "pr_curve.png"):  # what a traversal would reach
        bait.write_bytes(PNG + b"not in a version")
    (tmp_path / "outside.png").write_bytes(PNG + b"outside the registry")
    (models / "v1-20261101" / "confusion.png").symlink_to(tmp_path / "outside.png")  # v1: no plot of its own
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


def test_the_models_page_shows_the_plots_of_the_champion_and_a_challenger(console, registry):
    html = logged_in(console, "ana").get("/models").text
    champion, challenger = html.split("<h3>Champion")[1].split("<h3>Challenger")
    assert '<img src="/models/v2-20261120/plots/pr_curve.png" alt="v2-20261120: precision-recall curve' in champion
    assert '<img src="/models/v2-20261120/plots/confusion.png" alt="v2-20261120: confusion matrix' in champion
    assert "v1-20261101</a></h3>" in challenger and "<img" not in challenger.split("</section>")[0]
    assert "No plots for this version." in challenger  # its only file is a link out of the registry
    card = console.get("/models/v2-20261120").text
    assert card.count('<img src="/models/v2-20261120/plots/') == 2
    assert "No plots for this version." in console.get("/models/v1-20261101").text


def test_the_challenger_beside_the_champion_is_the_newest_other_version_or_the_one_asked_for(console, registry):
    (registry / "v3-20261125").mkdir()
    (registry / "v3-20261125" / "metrics.json").write_text("{}")
    (registry / "v3-20261125" / "pr_curve.png").write_bytes(PNG)
    logged_in(console, "ana")

    def challenger(query=""):
        return console.get("/models" + query).text.split("<h3>Challenger")[1].split("</section>")[0]
    assert "v3-20261125</a></h3>" in challenger() and challenger().count("<img") == 1
    assert 'href="/models?challenger=v1-20261101">plots' in console.get("/models").text
    assert "v1-20261101</a></h3>" in challenger("?challenger=v1-20261101")
    for other in ("v2-20261120", "v9-20990101", "..%2F.."):  # the champion itself, or not a version: the default
        assert "v3-20261125</a></h3>" in challenger(f"?challenger={other}")


def test_the_plot_route_serves_only_the_allowed_files_of_registry_versions(console, registry):
    logged_in(console, "ada")
    plot = console.get("/models/v2-20261120/plots/confusion.png")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
    assert plot.content == PNG + b"confusion.png" and plot.headers["x-content-type-options"] == "nosniff"
    served = {}
    for path in ("/models/v9-20990101/plots/pr_curve.png",          # not in the registry
                 "/models/v2-20261120/plots/metrics.json",           # in a version, not a plot
                 "/models/v2-20261120/plots/model_card.md",
                 "/models/v1-20261101/plots/pr_curve.png",           # an allowed name the version lacks
                 "/models/v1-20261101/plots/confusion.png",          # a symlink out of the version
                 "/models/%2E/plots/pr_curve.png",                   # models/pr_curve.png
                 "/models/%2E%2E/plots/pr_curve.png",                # models/../pr_curve.png
                 "/models/v2-20261120/plots/..%2F..%2Fpr_curve.png",
                 "/models/v2-20261120/plots/%2E%2E%2Fv1-20261101%2Fconfusion.png"):
        r = console.get(path)
        served[path] = r.status_code, r.headers["content-type"].split(";")[0]
    assert set(served.values()) == {(404, "text/html")}, served  # the console's error page, no file


def test_the_plot_route_needs_a_login_and_the_role(console, registry):
    r = console.get("/models/v2-20261120/plots/pr_curve.png")
    assert r.status_code == 303 and r.headers["location"].startswith("/login"), r.status_code
    assert PNG not in r.content
    assert logged_in(console, "reyes").get("/models/v2-20261120/plots/pr_curve.png").status_code == 403
