"""The transparency report's figures, its small-count suppression and what it never carries."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from pipeline.report.figures import Intake, PeriodData, figures
from pipeline.report.render import RENDERERS
from pipeline.report.suppress import hidden, is_hidden, suppress

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SCHOOLS = ("Lincoln High School", "Hawthorne Middle School", "Sycamore Elementary School")
SOURCES = ("reddit:lincolnlynx", "tipline", "rss:riverton-courier")


def item(i: int, *, severity="P3", category="violence", school=SCHOOLS[0], source=SOURCES[0], status="open",
         label=None, outcome=None, version="v3", text=None, author=None) -> dict:
    return {"@timestamp": (T0 + timedelta(hours=i)).isoformat(), "message": text or f"post number {i}",
            "event": {"id": f"item-{i}", "provider": source}, "user": {"name": author} if author else None,
            "threat": {"severity": severity, "category": category, "school": school, "model_version": version,
                       "kind": "tip" if source == "tipline" else "post"},
            "review": {"status": status, "label": label, "outcome": outcome}}


def alert(i: int, item_id: str, *, status="sent", events=("sent",), ack_s=None, role="sro") -> dict:
    return {"id": f"alert-{i}", "item_id": item_id, "role": role, "status": status, "time_to_ack_s": ack_s,
            "history": [{"event": e} for e in events], "@timestamp": (T0 + timedelta(hours=i)).isoformat()}


def audit(action: str, role: str, item_id: str | None = "item-1", **details) -> dict:
    return {"event": {"action": action}, "user": {"name": "somebody", "roles": [role]},
            "threat": {"item_id": item_id}, "details": details}


def period(items, alerts=(), records=(), intake=Intake()) -> PeriodData:
    return PeriodData(T0, T0 + timedelta(days=30), list(items), list(alerts), list(records), intake)


def test_figures_count_what_happened():
    items = [item(1, severity="P1", status="resolved", outcome="law_enforcement"),
             item(2, severity="P2", category="self_harm", school=SCHOOLS[1], status="resolved", outcome="counseling_referral"),
             item(3, status="dismissed", outcome="no_action"),
             item(4, label="not_a_concern", version="v2"),
             item(5, source="tipline", school=None)]
    alerts = [alert(1, "item-1", status="acknowledged", events=("sent", "escalated", "acknowledged"), ack_s=120.0),
              alert(2, "item-2", status="acknowledged", events=("sent", "acknowledged"), ack_s=600.0),
              alert(3, "item-2", status="failed", events=("failed",)),
              alert(4, "item-1", status="merged", events=("repeat",))]
    records = [audit("view", "sro"), audit("view", "counselor"), audit("view", "sro"), audit("view", "admin", None),
               audit("purge", "system", retention_class="dismissed"), audit("search", "sro")]
    intake = Intake(posts=90, tips=10, by_school={SCHOOLS[0]: 60, SCHOOLS[1]: 40}, by_model={"v3": 95, "v2": 5})
    f = figures(period(items, alerts, records, intake))
    assert f["flagged"] == 5
    assert f["by_severity"] == {"P1": 1, "P2": 1, "P3": 3}
    assert f["by_category"] == {"self_harm": 1, "violence": 4}
    assert f["by_school"]["(no school named)"] == 1
    assert f["outcomes"] == {"no_action": 1, "counseling_referral": 1, "parent_contact": 0, "administration": 0,
                             "law_enforcement": 1}
    # decided: resolved twice, dismissed once, labelled once; false alarms: the dismissal and the label
    assert (f["decided"], f["false_alarms"], f["false_alarm_rate"]) == (4, 2, 0.5)
    a = f["alerts"]
    assert (a["total"], a["merged_repeats"], a["sent"], a["acknowledged"], a["escalated"], a["failed"]) == (3, 1, 2, 2, 1, 1)
    assert f["median_time_to_ack_s"] == 360.0 and f["p90_time_to_ack_s"] == 552.0
    assert f["reads_by_role"] == {"counselor": 1, "sro": 2}  # the admin's view named no item
    assert f["purges"] == {"total": 1, "by_class": {"dismissed": 1}}
    assert f["model_versions"]["v2"]["flagged"] == 1 and f["model_versions"]["v3"]["flagged"] == 4
    assert f["model_versions"]["v3"]["alerts"]["total"] == 3 and f["model_versions"]["v2"]["taken_in"] == 5
    assert f["school_rates"][SCHOOLS[1]] == {"taken_in": 40, "flagged": 1, "paged": 1, "flag_rate": 0.025, "page_rate": 0.025}


def test_small_counts_are_hidden_with_a_second_cell_so_totals_give_nothing_away():
    items = [item(i, severity="P1") for i in range(2)] + [item(i, severity="P3") for i in range(2, 40)] + \
            [item(i, severity="P2") for i in range(40, 48)]
    s = suppress(figures(period(items)), 5)
    sev = s["by_severity"]
    assert sev["P1"] == hidden(5)                # 2: small
    assert sev["P2"] == hidden(5)                # 8: hidden too, or 48 - 38 - 8 would give P1 back
    assert sev["P3"] == 38 and s["flagged"] == 48
    assert s["suppression"]["threshold"] == 5


def test_a_part_beside_its_total_is_hidden_when_the_rest_is_small():
    items = [item(i, status="dismissed") for i in range(9)] + [item(9, status="resolved", outcome="administration")]
    s = suppress(figures(period(items)), 5)
    assert s["decided"] == 10
    assert s["false_alarms"] == hidden(5)        # 9 of 10 would tell that exactly one was not
    assert s["false_alarm_rate"] == "suppressed"


def test_suppression_threshold_is_configurable():
    items = [item(i, severity="P1") for i in range(3)] + [item(i) for i in range(3, 30)]
    assert suppress(figures(period(items)), 3)["by_severity"]["P1"] == 3
    assert suppress(figures(period(items)), 4)["by_severity"]["P1"] == hidden(4)


def test_a_median_of_few_acknowledgements_is_hidden():
    items = [item(i, severity="P1") for i in range(10)]
    alerts = [alert(i, f"item-{i}", status="acknowledged", events=("sent", "acknowledged"), ack_s=60.0 * i) for i in range(3)]
    alerts += [alert(i, f"item-{i}") for i in range(3, 10)]
    s = suppress(figures(period(items, alerts)), 5)
    assert s["alerts"]["acknowledged"] == hidden(5)
    assert s["median_time_to_ack_s"] == "suppressed" and s["p90_time_to_ack_s"] == "suppressed"


def _breakdowns(report: dict):
    """Every published (total, cells) pair whose cells add up to the total."""
    yield report["flagged"], report["by_severity"]
    yield report["flagged"], report["by_category"]
    yield report["flagged"], report["by_school"]
    yield report["flagged"], report["by_source"]
    yield report["intake"]["total"], {"posts": report["intake"]["posts"], "tips": report["intake"]["tips"]}
    versions = report["model_versions"]
    yield report["flagged"], {v: r["flagged"] for v, r in versions.items()}
    yield report["alerts"]["total"], {v: r["alerts"]["total"] for v, r in versions.items()}
    for name in ("by_severity", "by_category", "by_school", "by_source"):
        for cell in report[name]:
            yield report[name][cell], {v: r[name].get(cell, 0) for v, r in versions.items()}
        for r in versions.values():
            yield r["flagged"], r[name]
    yield report["decided"], {"false": report["false_alarms"], "rest": "unpublished"}


def assert_nothing_to_subtract(report: dict, k: int):
    for total, cells in _breakdowns(report):
        values = list(cells.values())
        for v in values:
            assert not (isinstance(v, int) and 0 < v < k), (total, cells)
        if not isinstance(total, int) or "unpublished" in values:
            continue
        lone = [v for v in values if is_hidden(v)]
        assert len(lone) != 1, f"one hidden cell beside its total {total}: {cells}"


@hsettings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(min_value=1, max_value=80), st.integers(min_value=2, max_value=10))
def test_no_hidden_count_can_be_recovered_by_subtraction(seed, n, k):
    """Random districts (severity, category, school, source, model version, review): every small
    count is hidden, and no breakdown whose total is shown has exactly one hidden cell."""
    rng = random.Random(seed)
    items = [item(i, severity=rng.choice(("P1", "P2", "P3", "P3", "P3")),
                  category=rng.choice(("violence", "self_harm", "bullying", "drugs")),
                  school=rng.choice(SCHOOLS + (None,)), source=rng.choice(SOURCES),
                  status=rng.choice(("open", "dismissed", "resolved")), outcome="no_action",
                  version=rng.choice(("v2", "v3", "v3"))) for i in range(n)]
    alerts = [alert(i, f"item-{i}", status=rng.choice(("sent", "acknowledged", "merged")))
              for i in range(n) if items[i]["threat"]["severity"] != "P3"]
    intake = Intake(posts=n * 10 + rng.randrange(5), tips=rng.randrange(8))
    assert_nothing_to_subtract(suppress(figures(period(items, alerts, intake=intake)), k), k)


def test_no_text_name_or_handle_reaches_any_format():
    secrets = ["Tyler Brooks said zxq-unique-phrase", "@tbrooks_2010", "Priya Raman"]
    items = [item(i, text=f"{secrets[0]} number {i}", author=secrets[1], severity="P1") for i in range(12)]
    alerts = [{**alert(i, f"item-{i}"), "excerpt": secrets[0], "person": "okafor", "recipients": ["okafor"]} for i in range(12)]
    records = [{**audit("view", "sro", f"item-{i}"), "user": {"name": secrets[2], "roles": ["sro"]}} for i in range(12)]
    report = suppress(figures(period(items, alerts, records)), 5)
    for fmt, render in RENDERERS.items():
        out = render({**report, "school": None})
        for secret in [*secrets, "zxq-unique-phrase", "tbrooks", "okafor", "Tyler", "Priya"]:
            assert secret.lower() not in out.lower(), (fmt, secret)
    assert json.loads(RENDERERS["json"](report))["flagged"] == 12


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_untrusted_config_strings_are_escaped(fmt):
    report = suppress(figures(period([item(i, source="<script>alert(1)</script>", school=r"$\nosuchmacro$ Academy") for i in range(6)])), 5)
    out = RENDERERS[fmt]({**report, "school": None})
    if fmt == "html":
        assert "<script>" not in out and "&lt;script&gt;" in out
        assert out.count("data:image/png;base64,") >= 3


def test_identity_swap_counts_of_few_items_are_hidden_with_what_would_give_them_away():
    report = figures(period([item(i) for i in range(20)]))
    report["equity"] = {"identity_counterfactuals": {"capability": "identity_swap", "model_version": "v3", "items_checked": 20,
                                                     "items_with_identity_terms": 2, "variants": 8, "changed": 0}}
    swaps = suppress(report, 5)["equity"]["identity_counterfactuals"]
    assert swaps["items_checked"] == 20 and swaps["changed"] == 0
    assert swaps["items_with_identity_terms"] == hidden(5) and swaps["variants"] == "suppressed"
