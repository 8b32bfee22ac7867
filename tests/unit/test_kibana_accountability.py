"""The "threatline — Accountability" dashboard in config/kibana/threatline.ndjson: the figures of a
school board's transparency report, as counts only.

test_kibana_objects.py checks every object of the file against the index templates (``validate``).
This file adds what only this dashboard promises: a panel for each figure of the report; no panel
that names post text, a person or a handle, and no saved search (a saved search lists documents);
every field a panel aggregates on is mapped *and* is actually written by the store, on documents
made by the real code paths (index, view, dismiss, resolve, alert, retention purge); the values its
queries compare with are values the pipeline writes, and no terms column is too short for them.
The broken copies at the end prove each of these checks can fail.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest

from pipeline.config import DEFAULT_CONFIG, load_settings
from pipeline.kibana import kql_terms, load_objects, load_templates, validate
from pipeline.retention import purge_items, purge_reason, retention_days
from pipeline.review import actions
from pipeline.schema import (
    Alert, AlertStatus, Category, ReviewEvent, ReviewStatus, ScoredItem, Severity, alert_document, dotted,
    item_document,
)
from pipeline.store.elasticsearch import DEFAULT_TEMPLATE_DIR
from pipeline.store.embedded import EmbeddedStore

OBJECTS_FILE = DEFAULT_CONFIG.parent / "kibana" / "threatline.ndjson"
TEMPLATES = load_templates(DEFAULT_TEMPLATE_DIR)
DASHBOARD = "threatline-accountability"
VIEW_KIND = {"threatline-flagged": "flagged", "threatline-alerts": "alerts", "threatline-audit": "audit"}

# Fields that hold post text, a person or a handle (or free text a reviewer wrote about one): no
# panel of the dashboard may aggregate, filter or query on them. Per index, as the templates map them.
PERSONAL = {
    "flagged": {"message", "message.keyword", "user.name", "url.full", "threat.explanation",
                "threat.explanation.keyword", "threat.tip.code", "threat.tip.contact", "threat.thread_id",
                "review.assignee", "review.updated_by", "review.labeled_by", "review.replied_by", "review.notes.by",
                "review.notes.text", "review.reason", "review.reason.keyword"},
    "alerts": {"excerpt", "explanation", "person", "acknowledged_by", "recipients", "tried", "history.by",
               "history.person", "history.detail", "last_error", "dedup_key"},
    "audit": {"user.name", "review.note", "review.reason"},
}
# Free text in general, but one fixed string per retention class on a purge record
# (pipeline.retention.purge_reason): allowed only under a query that keeps purges alone.
PURGE_ONLY = {("audit", "review.reason")}

# What the pipeline writes into the fields the figures count (pipeline.schema, pipeline.review.actions).
WRITTEN = {
    ("flagged", "threat.severity"): set(get_args(Severity)) - {"none"},  # "none" is never flagged
    ("flagged", "threat.category"): set(get_args(Category)),
    ("flagged", "review.status"): set(get_args(ReviewStatus)),
    ("flagged", "review.outcome"): set(actions.OUTCOMES),
    ("flagged", "review.label"): set(actions.LABELS),
    ("alerts", "status"): set(get_args(AlertStatus)),
    ("alerts", "severity"): set(get_args(Severity)) - {"none"},
    ("audit", "event.action"): set(get_args(ReviewEvent.model_fields["action"].annotation)),
    ("audit", "review.label"): set(actions.LABELS),
    ("audit", "threat.item_id"): {"*"},  # only "has an item"
}


# --- reading the dashboard ----------------------------------------------------------------------


def by_id(objects, object_id):
    return next(o for o in objects if o["id"] == object_id)


def panels_of(objects, dashboard_id=DASHBOARD):
    """(panel, the object it shows or None) for each panel of the dashboard."""
    dashboard = by_id(objects, dashboard_id)
    refs = {r["name"]: r for r in dashboard["references"]}
    keyed = {(o["type"], o["id"]): o for o in objects}
    shown = []
    for panel in json.loads(dashboard["attributes"]["panelsJSON"]):
        ref = refs.get(f"{panel['panelIndex']}:{panel['panelRefName']}")
        shown.append((panel, keyed.get((ref["type"], ref["id"])) if ref else None))
    return shown


def lens_layers(obj):
    """(index kind, layer) for each data layer of a Lens object."""
    refs = {r["name"]: r["id"] for r in obj["references"]}
    layers = obj["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
    return [(VIEW_KIND.get(refs.get(f"indexpattern-datasource-layer-{lid}")), layer) for lid, layer in layers.items()]


def panel_uses(obj):
    """Every (index kind, field, how) a Lens panel names: its columns, its query, its filters."""
    state = obj["attributes"]["state"]
    query = state["query"]["query"]
    used = []
    for kind, layer in lens_layers(obj):
        for column in layer["columns"].values():
            if column["operationType"] != "count":
                used.append((kind, column["sourceField"], column["operationType"]))
        used += [(kind, t.field, "query") for t in kql_terms(query)]
        used += [(kind, f.get("meta", {}).get("key", ""), "filter") for f in state.get("filters", [])]
    return used


def figure_of(obj):
    """What a Lens panel counts: (kind, chart, bucket fields, metric ops, query clauses, number display)."""
    (kind, layer), = lens_layers(obj)
    columns = layer["columns"].values()
    buckets = frozenset((c["operationType"], c["sourceField"]) for c in columns if c["isBucketed"])
    metrics = frozenset((c["operationType"], c["sourceField"]) for c in columns if not c["isBucketed"])
    clauses = frozenset((t.field, t.values) for t in kql_terms(obj["attributes"]["state"]["query"]["query"]))
    vis = obj["attributes"]["state"]["visualization"]
    display = {v.get("numberDisplay") for v in vis.get("layers", [vis])}
    return kind, obj["attributes"]["visualizationType"], buckets, metrics, clauses, display


# --- the checks, as problem lists so the broken copies can show each one failing -----------------


FIGURES = {  # figure of the report -> does a panel's figure_of(...) show it?
    "flagged by severity": lambda k, v, b, m, q, d: k == "flagged" and ("terms", "threat.severity") in b,
    "flagged by category": lambda k, v, b, m, q, d: k == "flagged" and ("terms", "threat.category") in b,
    "flagged by school": lambda k, v, b, m, q, d: k == "flagged" and bool(
        {("terms", "threat.school"), ("terms", "labels.school")} & b),
    "flagged by source": lambda k, v, b, m, q, d: k == "flagged" and ("terms", "event.provider") in b,
    "flagged per model version": lambda k, v, b, m, q, d: k == "flagged" and ("terms", "threat.model_version") in b,
    "outcomes of closed items": lambda k, v, b, m, q, d: (
        k == "flagged" and ("terms", "review.outcome") in b and ("review.status", ("dismissed", "resolved")) in q),
    "share dismissed": lambda k, v, b, m, q, d: (
        k == "flagged" and v == "lnsPie" and d == {"percent"} and ("terms", "review.status") in b and not q),
    "share labelled not_a_concern": lambda k, v, b, m, q, d: (
        k == "flagged" and v == "lnsPie" and d == {"percent"} and ("terms", "review.label") in b and not q),
    "alerts by status": lambda k, v, b, m, q, d: k == "alerts" and ("terms", "status") in b,
    "reads of flagged items by role": lambda k, v, b, m, q, d: (
        k == "audit" and ("terms", "user.roles") in b and ("event.action", ("view",)) in q
        and ("threat.item_id", ("*",)) in q),
    "retention purges over time": lambda k, v, b, m, q, d: (
        k == "audit" and ("date_histogram", "@timestamp") in b and ("event.action", ("purge",)) in q),
}


def missing_figures(objects):
    lens = [obj for _, obj in panels_of(objects) if obj is not None and obj["type"] == "lens"]
    return sorted(name for name, shows in FIGURES.items() if not any(shows(*figure_of(o)) for o in lens))


def privacy_problems(objects):
    """Panels that are not aggregate Lens charts, or that name text, a person or a handle."""
    problems = []
    dashboard = by_id(objects, DASHBOARD)
    problems += [f"dashboard references a {r['type']}: {r['id']}" for r in dashboard["references"] if r["type"] != "lens"]
    for panel, obj in panels_of(objects):
        if panel["type"] != "lens" or obj is None or obj["type"] != "lens":
            problems.append(f"panel {panel['panelIndex']!r} is not a Lens chart in the file")
            continue
        problems += [f"{obj['id']} references a {r['type']}" for r in obj["references"] if r["type"] != "index-pattern"]
        purge_only = ("event.action", ("purge",)) in figure_of(obj)[4]
        for kind, name, how in panel_uses(obj):
            if name in PERSONAL.get(kind, set()) and not ((kind, name) in PURGE_ONLY and purge_only):
                problems.append(f"{obj['id']}: {how} on {kind} field {name!r}")
        if "message" in json.dumps(obj["attributes"]["state"]):
            problems.append(f"{obj['id']}: names 'message' somewhere")
    return problems


def value_problems(objects):
    """Query values the pipeline never writes; terms columns too short for the values it does."""
    problems = []
    for _, obj in panels_of(objects):
        terms = kql_terms(obj["attributes"]["state"]["query"]["query"])
        for kind, layer in lens_layers(obj):
            for t in terms:
                known = WRITTEN.get((kind, t.field))
                if known is None or not set(t.values) <= known:
                    problems.append(f"{obj['id']}: {t.field} compared with {t.values}, not a known value")
            for column in layer["columns"].values():
                name = column["sourceField"]
                known = set(WRITTEN.get((kind, name), ()))
                for t in terms:  # the panel's query keeps only these values (no "not" in our queries)
                    if t.field == name and t.op == ":":
                        known &= set(t.values)
                if column["operationType"] == "terms" and column["params"]["size"] < len(known):
                    problems.append(f"{obj['id']}: terms on {name} shows {column['params']['size']} "
                                    f"of {len(known)} values")
    return problems


# --- documents as the store writes them -----------------------------------------------------------


START = datetime(2026, 3, 4, 16, 0, tzinfo=UTC)


def _scored(item_id, **extra):
    return ScoredItem(**{
        "id": item_id, "kind": "post", "text": f"bringing a gun to lincoln tomorrow ({item_id})",
        "source": "reddit:lincolnhigh", "source_kind": "reddit", "author": "kid1", "created_at": START,
        "threat_score": 0.95, "self_harm_score": 0.1, "severity": "P1", "category": "violence",
        "school": "Lincoln High School", "school_relevance": 1.0, "model_version": "test-1", **extra})


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Index kind -> the documents the embedded store holds after the code paths the report counts."""
    store = EmbeddedStore(tmp_path_factory.mktemp("store") / "store.sqlite3")
    store.setup()
    try:
        store.index_items([item_document(_scored("item-d")),
                           item_document(_scored("item-r", severity="P2", category="self_harm"))])
        actions.view(store, "item-d", "officer.reyes", "sro", now=START)
        actions.view(store, "item-r", "counselor.ng", "counselor", now=START)  # an SRO sees P1 self-harm only
        v = store.get_item("item-d").version
        actions.dismiss(store, "item-d", "officer.reyes", "sro", reason="a quote from a film", label="not_a_concern",
                        expected_version=v, now=START)
        v = store.get_item("item-r").version
        actions.resolve(store, "item-r", "counselor.ng", "counselor", outcome="counseling_referral",
                        label="threat_transient", expected_version=v, now=START)
        items = [store.get_item(i).doc for i in ("item-d", "item-r")]
        alert = Alert(item_id="item-r", role="sro", severity="P2", category="violence", school="Lincoln High School",
                      excerpt="bringing a gun", status="sent", created_at=START)
        store.create_alert(alert.id, alert_document(alert))
        alerts = [store.get_alert(alert.id).doc]
        report = purge_items(store, load_settings(DEFAULT_CONFIG), START + timedelta(days=400))
        assert sum(report.purged.values()) == 2
        audit = [r for i in ("item-d", "item-r") for r in store.audit_for(i)]
    finally:
        store.close()
    assert {r["event"]["action"] for r in audit} >= {"view", "dismiss", "resolve", "purge"}
    return {"flagged": items, "alerts": alerts, "audit": audit}


def unwritten_fields(objects, written):
    """Fields a panel names that its index template does not map, or no stored document carries."""
    problems = []
    for _, obj in panels_of(objects):
        for kind, name, how in panel_uses(obj):
            if kind is None:
                problems.append(f"{obj['id']}: a layer reads a data view that is not ours")
            elif name not in TEMPLATES[kind]:
                problems.append(f"{obj['id']}: {how} field {name!r} is not mapped in {kind}.json")
            elif not any(dotted(doc, name) not in (None, [], "") for doc in written[kind]):
                problems.append(f"{obj['id']}: {how} field {name!r} is on no {kind} document the store wrote")
    return problems


# --- the shipped dashboard --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def objects():
    return load_objects(OBJECTS_FILE)


def test_dashboard_is_the_accountability_report_over_its_own_time_range(objects):
    dashboard = by_id(objects, DASHBOARD)
    assert dashboard["type"] == "dashboard"
    assert dashboard["attributes"]["title"] == "threatline — Accountability"
    assert dashboard["attributes"]["timeRestore"] is True
    # Every chart counts over the dashboard's time picker: no panel pins its own time range.
    for _, obj in panels_of(objects):
        assert "timeRange" not in obj["attributes"], obj["id"]
        for _, layer in lens_layers(obj):
            for column in layer["columns"].values():
                assert "timeShift" not in column and "reducedTimeRange" not in column, obj["id"]


def test_every_reference_resolves_to_an_object_in_the_file(objects):
    keyed = {(o["type"], o["id"]) for o in objects}
    dashboard = by_id(objects, DASHBOARD)
    shown = panels_of(objects)
    assert shown and all(obj is not None for _, obj in shown)
    assert len(dashboard["references"]) == len(shown), "one reference per panel, each used"
    for obj in [dashboard, *(o for _, o in shown)]:
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in keyed, f"{obj['id']} -> {ref['type']}/{ref['id']}"
    assert validate(objects, TEMPLATES) == []


def test_new_ids_are_stable_prefixed_and_unique(objects):
    ids = [o["id"] for o in objects]
    assert len(ids) == len(set(ids))
    ours = [DASHBOARD, "threatline-audit", *(o["id"] for _, o in panels_of(objects))]
    assert all(i.startswith("threatline-") and i == i.lower() for i in ours)


def test_audit_data_view_reads_the_audit_alias_and_its_rolled_over_indices(objects):
    view = by_id(objects, "threatline-audit")
    assert view["type"] == "index-pattern"
    assert view["attributes"]["title"] == "threatline-audit*" and view["attributes"]["timeFieldName"] == "@timestamp"
    assert sum(o["type"] == "index-pattern" and o["attributes"]["title"] == "threatline-audit*" for o in objects) == 1


def test_dashboard_has_a_panel_for_each_figure_of_the_report(objects):
    assert missing_figures(objects) == []


def test_no_panel_shows_text_people_handles_or_a_document_list(objects):
    assert privacy_problems(objects) == []


def test_queries_compare_with_values_the_pipeline_writes_and_no_value_falls_into_other(objects):
    assert value_problems(objects) == []


def test_every_field_a_panel_names_is_mapped_and_written_by_the_store(objects, written):
    assert unwritten_fields(objects, written) == []
    fields = {(kind, name) for _, obj in panels_of(objects) for kind, name, _ in panel_uses(obj)}
    assert {("flagged", "review.outcome"), ("flagged", "review.label"), ("audit", "user.roles"),
            ("audit", "review.reason"), ("alerts", "status")} <= fields


def test_written_documents_carry_the_values_the_figures_count(written):
    items = {dotted(d, "event.id"): d for d in written["flagged"]}
    assert dotted(items["item-d"], "review.status") == "dismissed"
    assert dotted(items["item-d"], "review.outcome") == "no_action"
    assert dotted(items["item-d"], "review.label") == "not_a_concern"
    assert dotted(items["item-r"], "review.outcome") == "counseling_referral"
    purges = [r for r in written["audit"] if dotted(r, "event.action") == "purge"]
    days = retention_days(load_settings(DEFAULT_CONFIG))
    assert {dotted(r, "review.reason") for r in purges} == {purge_reason(c, days[c]) for c in ("dismissed", "actioned")}
    assert {tuple(dotted(r, "user.roles")) for r in written["audit"] if dotted(r, "event.action") == "view"} == {
        ("sro",), ("counselor",)}


# --- the checks can fail -------------------------------------------------------------------------


def _column(obj, column_id):
    layers = obj["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
    return next(layer["columns"][column_id] for layer in layers.values() if column_id in layer["columns"])


def _query(obj, query):
    obj["attributes"]["state"]["query"]["query"] = query


def _add_search_panel(objects):
    dashboard = by_id(objects, DASHBOARD)
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    panels.append({"type": "search", "panelIndex": "open", "gridData": {"x": 0, "y": 200, "w": 48, "h": 20, "i": "open"},
                   "embeddableConfig": {"enhancements": {}}, "panelRefName": "panel_open"})
    dashboard["attributes"]["panelsJSON"] = json.dumps(panels)
    dashboard["references"].append({"id": "threatline-open-p1-p2", "name": "open:panel_open", "type": "search"})


def _drop_panel(objects, panel_index):
    dashboard = by_id(objects, DASHBOARD)
    panels = [p for p in json.loads(dashboard["attributes"]["panelsJSON"]) if p["panelIndex"] != panel_index]
    dashboard["attributes"]["panelsJSON"] = json.dumps(panels)
    dashboard["references"] = [r for r in dashboard["references"] if not r["name"].startswith(f"{panel_index}:")]


BREAKAGES = {  # name -> (check, change, expected message part)
    "a saved search on the dashboard": (privacy_problems, _add_search_panel, "references a search"),
    "terms on the author": (privacy_problems, lambda objs: _column(
        by_id(objs, "threatline-acct-reads-by-role"), "role").update(sourceField="user.name"), "field 'user.name'"),
    "terms on the post text": (privacy_problems, lambda objs: _column(
        by_id(objs, "threatline-acct-flags-by-model"), "model").update(sourceField="message.keyword"), "message"),
    "a query on the text": (privacy_problems, lambda objs: _query(
        by_id(objs, "threatline-acct-share-dismissed"), 'message : "gun"'), "query on flagged field 'message'"),
    "dismissal reasons by terms": (privacy_problems, lambda objs: _query(
        by_id(objs, "threatline-acct-purges"), 'event.action : "dismiss"'), "field 'review.reason'"),
    "purges panel gone": (missing_figures, lambda objs: _drop_panel(objs, "purges"), "retention purges over time"),
    "reads of every page, not items": (missing_figures, lambda objs: _query(
        by_id(objs, "threatline-acct-reads-by-role"), 'event.action : "view"'), "reads of flagged items by role"),
    "share shown as counts": (missing_figures, lambda objs: by_id(objs, "threatline-acct-share-not-a-concern")[
        "attributes"]["state"]["visualization"]["layers"][0].update(numberDisplay="value"),
        "share labelled not_a_concern"),
    "status value the pipeline never writes": (value_problems, lambda objs: _query(
        by_id(objs, "threatline-acct-closed-outcomes"), 'review.status : ("dismissed" or "closed")'), "not a known value"),
    "too few alert statuses": (value_problems, lambda objs: _column(
        by_id(objs, "threatline-acct-alerts-by-status"), "status")["params"].update(size=5), "shows 5 of 6"),
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_a_broken_copy_is_caught(objects, name):
    check, change, expected = BREAKAGES[name]
    broken = copy.deepcopy(objects)
    change(broken)
    problems = check(broken)
    assert any(expected in p for p in problems), problems
    assert check(objects) == [], "the fixture must stay intact"


@pytest.mark.parametrize(("object_id", "column", "field", "expected"), [
    ("threatline-acct-flags-by-model", "model", "threat.model", "is not mapped in flagged.json"),
    ("threatline-acct-alerts-by-status", "status", "merged_into", "is on no alerts document the store wrote"),
])
def test_a_field_not_mapped_or_not_written_is_caught(objects, written, object_id, column, field, expected):
    broken = copy.deepcopy(objects)
    _column(by_id(broken, object_id), column).update(sourceField=field)
    assert any(expected in p for p in unwritten_fields(broken, written))
    assert unwritten_fields(objects, written) == []
