"""config/kibana/threatline.ndjson checked the way Kibana would trip over it, since no Kibana runs here.

Every object must be a type we ship, with a unique readable id; every reference must resolve inside
the file; every field a query, column, sort or Lens column names must be mapped in the index
template of the data view it reads, with a type the operation accepts; the values the queries
compare with must be values the pipeline writes. The broken copies at the end prove each check can fail.
"""

from __future__ import annotations

import copy
import json
from typing import get_args

import pytest

from pipeline.config import DEFAULT_CONFIG, ConfigError, load_settings, masked
from pipeline.kibana import (
    DEFAULT_PREFIX,
    TYPES,
    KibanaError,
    dump_ndjson,
    kql_terms,
    load_objects,
    load_templates,
    mapped_fields,
    parse_ndjson,
    validate,
    with_prefix,
)
from pipeline.schema import Category, ReviewStatus, ScoredItem, Severity
from pipeline.store.elasticsearch import DEFAULT_TEMPLATE_DIR

OBJECTS_FILE = DEFAULT_CONFIG.parent / "kibana" / "threatline.ndjson"
TEMPLATES = load_templates(DEFAULT_TEMPLATE_DIR)
SAVED_SEARCHES = {"Open P1/P2", "New tips", "Self-harm — counselor", "Dismissed last 7 days", "Alert history"}
# What the pipeline writes into the fields the saved queries compare (pipeline.schema); "assigned"
# is the console's status for an item someone took on.
KNOWN_VALUES = {
    "threat.severity": set(get_args(Severity)),
    "threat.category": set(get_args(Category)),
    "threat.kind": set(get_args(ScoredItem.model_fields["kind"].annotation)),
    "review.status": set(get_args(ReviewStatus)) | {"assigned"},
}


@pytest.fixture(scope="module")
def objects():
    return load_objects(OBJECTS_FILE)


def by_id(objects, object_id):
    return next(o for o in objects if o["id"] == object_id)


def search_source(obj):
    return json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])


def lens_columns(obj):
    layers = obj["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
    return [column for layer in layers.values() for column in layer["columns"].values()]


def data_view_of(objects, obj):
    (ref,) = [r for r in obj["references"] if r["type"] == "index-pattern"]
    return by_id(objects, ref["id"])


# --- the shipped file ------------------------------------------------------------------------------


def test_every_line_is_one_saved_object_of_a_shipped_type_with_a_unique_readable_id():
    lines = OBJECTS_FILE.read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 16
    ids = []
    for line in lines:
        obj = json.loads(line)
        assert obj["type"] in TYPES, obj["type"]
        assert obj["id"].startswith("threatline-") and obj["id"] == obj["id"].lower(), obj["id"]
        assert obj["attributes"]["title"].strip()
        assert obj["coreMigrationVersion"] and obj["typeMigrationVersion"]  # an 8.x export: Kibana 9 migrates it
        ids.append(obj["id"])
    assert len(ids) == len(set(ids))


def test_shipped_objects_pass_every_check(objects):
    assert validate(objects, TEMPLATES) == []


def test_file_is_in_the_canonical_form_export_writes(objects):
    # `threatline kibana export` writes this form, so an export of unchanged objects is no diff.
    assert dump_ndjson(objects) == OBJECTS_FILE.read_text(encoding="utf-8")


def test_data_views_read_flagged_alerts_and_audit_on_the_default_prefix(objects):
    views = {o["id"]: o["attributes"] for o in objects if o["type"] == "index-pattern"}
    assert views["threatline-flagged"]["title"] == f"{DEFAULT_PREFIX}-flagged*"
    assert views["threatline-alerts"]["title"] == f"{DEFAULT_PREFIX}-alerts*"
    assert views["threatline-audit"]["title"] == f"{DEFAULT_PREFIX}-audit*"  # the alias and its rolled-over indices
    for attributes in views.values():
        assert attributes["timeFieldName"] == "@timestamp"
    formats = json.loads(views["threatline-alerts"]["fieldFormatMap"])
    assert formats["time_to_ack_s"]["params"]["inputFormat"] == "seconds"
    # Discover hides the tipster's contact (a display filter, not access control: see docs/kibana.md).
    assert {"value": "threat.tip.contact"} in json.loads(views["threatline-flagged"]["sourceFilters"])


@pytest.mark.parametrize(("title", "view", "expected"), [
    ("Open P1/P2", "threatline-flagged", {("threat.severity", ("P1", "P2")), ("review.status", ("open", "escalated"))}),
    ("New tips", "threatline-flagged", {("threat.kind", ("tip",)), ("review.status", ("open",))}),
    ("Self-harm — counselor", "threatline-flagged",
     {("threat.category", ("self_harm",)), ("review.status", ("dismissed", "resolved"))}),
    ("Dismissed last 7 days", "threatline-flagged", {("review.status", ("dismissed",)), ("review.updated", ("now-7d",))}),
    ("Alert history", "threatline-alerts", set()),
])
def test_saved_searches_query_the_issue_asks_for(objects, title, view, expected):
    (search,) = [o for o in objects if o["type"] == "search" and o["attributes"]["title"] == title]
    source = search_source(search)
    assert source["query"]["language"] == "kuery"
    assert {(t.field, t.values) for t in kql_terms(source["query"]["query"])} == expected
    assert data_view_of(objects, search)["id"] == view
    assert search["attributes"]["sort"], "a triage list needs a stable order"


def test_self_harm_search_excludes_closed_items_and_dismissed_search_looks_back_seven_days(objects):
    self_harm = search_source(by_id(objects, "threatline-self-harm-counselor"))["query"]["query"]
    assert 'not review.status : ("dismissed" or "resolved")' in self_harm
    dismissed = kql_terms(search_source(by_id(objects, "threatline-dismissed-7d"))["query"]["query"])
    assert [(t.field, t.op, t.values) for t in dismissed if t.field == "review.updated"] == [
        ("review.updated", ">=", ("now-7d",))]


def test_alert_history_shows_who_was_told_how_and_what_happened(objects):
    columns = set(by_id(objects, "threatline-alert-history")["attributes"]["columns"])
    assert {"person", "channel", "status", "delivered_at", "acknowledged_at", "acknowledged_by", "time_to_ack_s",
            "escalation_level", "history.event"} <= columns


def test_query_values_are_values_the_pipeline_writes(objects):
    compared = 0
    for obj in objects:
        queries = []
        if obj["type"] == "search":
            queries.append(search_source(obj)["query"]["query"])
        if obj["type"] == "lens":
            queries.append(obj["attributes"]["state"]["query"]["query"])
        for term in (t for q in queries for t in kql_terms(q)):
            if term.field in KNOWN_VALUES:
                compared += 1
                assert set(term.values) <= KNOWN_VALUES[term.field], f"{obj['id']}: {term}"
    assert compared >= 7


def test_dashboard_has_every_panel_the_issue_asks_for(objects):
    dashboard = by_id(objects, "threatline-triage")
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    refs = {r["name"]: r for r in dashboard["references"]}
    shown = set()
    for panel in panels:
        target = by_id(objects, refs[f"{panel['panelIndex']}:{panel['panelRefName']}"]["id"])
        view = data_view_of(objects, target)["id"]
        if target["type"] == "search":
            shown.add(("search", target["attributes"]["title"]))
            continue
        ops = {(c["operationType"], c["sourceField"]) for c in lens_columns(target)}
        shown |= {(view, op, f) for op, f in ops}
        if ("date_histogram", "@timestamp") in ops and ("terms", "threat.severity") in ops:
            shown.add("flags over time by severity")
    assert "flags over time by severity" in shown
    for field in ("threat.school", "threat.category", "event.provider", "review.status"):
        assert ("threatline-flagged", "terms", field) in shown, field
    assert {("threatline-alerts", "median", "time_to_ack_s"), ("threatline-alerts", "percentile", "time_to_ack_s"),
            ("threatline-alerts", "terms", "severity")} <= shown
    assert ("search", "Open P1/P2") in shown
    assert dashboard["attributes"]["timeRestore"] is True


def test_every_field_named_anywhere_is_mapped_in_its_index_template(objects):
    """A second, independent walk over the fields: columns, sorts, KQL and Lens source fields."""
    used = []
    for obj in objects:
        if obj["type"] == "search":
            kind = data_view_of(objects, obj)["attributes"]["title"].split("-")[1].rstrip("*")
            used += [(kind, c) for c in obj["attributes"]["columns"]]
            used += [(kind, s[0]) for s in obj["attributes"]["sort"]]
            used += [(kind, t.field) for t in kql_terms(search_source(obj)["query"]["query"])]
        elif obj["type"] == "lens":
            kind = data_view_of(objects, obj)["attributes"]["title"].split("-")[1].rstrip("*")
            used += [(kind, c["sourceField"]) for c in lens_columns(obj) if c["operationType"] != "count"]
    assert len({f for _, f in used}) >= 30
    for kind, name in used:
        assert name in TEMPLATES[kind], f"{name} is not in {kind}.json"


# --- templates, KQL, prefix ------------------------------------------------------------------------


def test_templates_are_the_ones_the_elasticsearch_store_puts(tmp_path):
    from pipeline import kibana

    assert kibana.DEFAULT_TEMPLATE_DIR == DEFAULT_TEMPLATE_DIR
    assert kibana.template_dir(load_settings(DEFAULT_CONFIG)) == DEFAULT_TEMPLATE_DIR
    own = tmp_path / "threatline.yaml"
    own.write_text("general: {}\n")
    (tmp_path / "es").mkdir()
    assert kibana.template_dir(load_settings(own)) == tmp_path / "es", "a deployment's own templates win, as in the store"


def test_mapped_fields_walks_objects_and_multi_fields():
    flagged = TEMPLATES["flagged"]
    assert flagged["message"]["type"] == "text" and flagged["message.keyword"]["type"] == "keyword"
    assert flagged["threat.tip.code"]["type"] == "keyword" and "threat" not in flagged and "threat.tip" not in flagged
    assert mapped_fields({"template": {"mappings": {"properties": {"a": {"properties": {"b": {"type": "long"}}}}}}}) == {
        "a.b": {"type": "long"}}


def test_alerts_template_stores_the_alert_history():
    alerts = json.loads((DEFAULT_TEMPLATE_DIR / "alerts.json").read_text())["template"]["mappings"]["properties"]
    fields = TEMPLATES["alerts"]
    expected = {"acknowledged_at": "date_nanos", "acknowledged_by": "keyword", "time_to_ack_s": "double",
                "escalation_level": "integer", "person": "keyword", "channel": "keyword", "delivered_at": "date_nanos",
                "history.at": "date_nanos", "history.event": "keyword", "history.by": "keyword",
                "history.person": "keyword", "history.channel": "keyword", "history.detail": "text"}
    assert {name: fields[name]["type"] for name in expected} == expected
    assert alerts["history"].get("type", "object") == "object", "history is a plain object array, not nested"


@pytest.mark.parametrize(("query", "expected"), [
    ("", []),
    ('threat.severity : ("P1" or "P2") and review.status : open',
     [("threat.severity", ":", ("P1", "P2")), ("review.status", ":", ("open",))]),
    ('not review.status:("dismissed" or resolved)', [("review.status", ":", ("dismissed", "resolved"))]),
    ('review.updated >= "now-7d" and time_to_ack_s<300', [("review.updated", ">=", ("now-7d",)),
                                                          ("time_to_ack_s", "<", ("300",))]),
    ('message : "at 3:15 tomorrow" and gun', [("message", ":", ("at 3:15 tomorrow",))]),  # ':' inside quotes is a value
    ("knife", []),
])
def test_kql_terms(query, expected):
    assert [(t.field, t.op, t.values) for t in kql_terms(query)] == expected


def test_unparseable_kql_is_an_error():
    with pytest.raises(KibanaError, match="cannot parse"):
        kql_terms('threat.severity : "P1')


def test_prefix_rewrite_moves_only_data_view_titles_and_back(objects):
    moved = with_prefix(objects, "district7")
    titles = {o["id"]: o["attributes"]["title"] for o in moved if o["type"] == "index-pattern"}
    assert titles == {"threatline-flagged": "district7-flagged*", "threatline-alerts": "district7-alerts*",
                      "threatline-audit": "district7-audit*"}
    assert [o for o in moved if o["type"] != "index-pattern"] == [o for o in objects if o["type"] != "index-pattern"]
    assert validate(moved, TEMPLATES, prefix="district7") == []
    assert validate(moved, TEMPLATES) != [], "titles on another prefix must not pass as the default prefix"
    assert with_prefix(moved, DEFAULT_PREFIX, current="district7") == objects
    first_view = next(o for o in objects if o["type"] == "index-pattern")
    assert first_view["attributes"]["title"].startswith(DEFAULT_PREFIX), "with_prefix must not modify its input"


def test_a_line_that_is_not_json_is_reported_with_its_line_number():
    with pytest.raises(KibanaError, match=r"x\.ndjson:2: not JSON"):
        parse_ndjson('{"type": "search", "id": "a"}\n{"type": \n', "x.ndjson")


# --- the checks can fail -------------------------------------------------------------------------


def _query(obj, query, language="kuery"):
    source = search_source(obj)
    source["query"] = {"query": query, "language": language}
    obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"] = json.dumps(source)


def _lens_column(obj, column_id):
    layers = obj["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
    return next(layer["columns"][column_id] for layer in layers.values() if column_id in layer["columns"])


def _panels(obj, change):
    panels = json.loads(obj["attributes"]["panelsJSON"])
    change(panels)
    obj["attributes"]["panelsJSON"] = json.dumps(panels)


def _dup_first(objects):
    objects.append(copy.deepcopy(objects[-1]))


BREAKAGES = {  # name -> (object id, change, expected message part)
    "unknown type": ("threatline-new-tips", lambda o, _: o.update(type="visualisation"), "type must be one of"),
    "duplicate id": ("threatline-new-tips", lambda o, objs: _dup_first(objs), "is used twice"),
    "id not readable": ("threatline-new-tips", lambda o, _: o.update(id="New Tips"), "id must be lowercase"),
    "dangling reference": ("threatline-triage", lambda o, _: o["references"][0].update(id="threatline-gone"),
                           "lens/threatline-gone is not in the file"),
    "KQL field typo": ("threatline-open-p1-p2", lambda o, _: _query(o, 'threat.severty : "P1"'),
                       "field 'threat.severty' is not mapped in flagged.json"),
    "KQL on an unindexed field": ("threatline-new-tips", lambda o, _: _query(o, 'threat.tip.contact : *'),
                                  "'threat.tip.contact' is not indexed"),
    "KQL not parseable": ("threatline-new-tips", lambda o, _: _query(o, 'threat.kind : "tip'), "cannot parse"),
    "Lucene instead of KQL": ("threatline-new-tips", lambda o, _: _query(o, "threat.kind:tip", "lucene"),
                              "query must be KQL"),
    "column not mapped": ("threatline-open-p1-p2", lambda o, _: o["attributes"]["columns"].append("threat.schol"),
                          "column: field 'threat.schol' is not mapped"),
    "sort on text": ("threatline-new-tips", lambda o, _: o["attributes"].update(sort=[["message", "desc"]]),
                     "sort: field 'message' cannot be aggregated or sorted (text)"),
    "sort direction": ("threatline-new-tips", lambda o, _: o["attributes"].update(sort=[["@timestamp", "down"]]),
                       "direction must be asc or desc"),
    "alerts field on the flagged view": (
        "threatline-time-to-ack", lambda o, _: o["references"][0].update(id="threatline-flagged"),
        "field 'time_to_ack_s' is not mapped in flagged.json"),
    "terms on text": ("threatline-flags-by-school",
                      lambda o, _: _lens_column(o, "bucket").update(sourceField="threat.explanation"),
                      "'threat.explanation' cannot be aggregated"),
    "median of a keyword": ("threatline-time-to-ack", lambda o, _: _lens_column(o, "median").update(sourceField="person"),
                            "'person' is keyword, not a number"),
    "histogram on a keyword": ("threatline-flags-by-severity",
                               lambda o, _: _lens_column(o, "time").update(sourceField="threat.school"),
                               "'threat.school' is keyword, not a date"),
    "unchecked operation": ("threatline-flags-by-severity",
                            lambda o, _: _lens_column(o, "count").update(operationType="formula"),
                            "operation 'formula' is not one threatline checks"),
    "order by a missing column": (
        "threatline-flags-by-school", lambda o, _: _lens_column(o, "bucket")["params"]["orderBy"].update(columnId="nope"),
        "orders by missing column 'nope'"),
    "accessor names a missing column": (
        "threatline-flags-by-severity",
        lambda o, _: o["attributes"]["state"]["visualization"]["layers"][0].update(splitAccessor="gone"),
        "splitAccessor names missing column 'gone'"),
    "lens layer without its reference": (
        "threatline-flags-by-category", lambda o, _: o["references"][0].update(name="indexpattern-datasource-layer-x"),
        "has no reference named 'indexpattern-datasource-layer-flags'"),
    "unused reference": ("threatline-flags-by-source", lambda o, _: o["references"].append(
        {"type": "index-pattern", "id": "threatline-alerts", "name": "extra"}), "reference 'extra' is not used"),
    "reference of the wrong type": (
        "threatline-new-tips", lambda o, _: o["references"][0].update(type="lens", id="threatline-flags-by-source"),
        "must point to a index-pattern, not a lens"),
    "data view on another prefix": ("threatline-flagged", lambda o, _: o["attributes"].update(title="tl-flagged*"),
                                    "title 'tl-flagged*' is not threatline-<index>*"),
    "data view time field not a date": ("threatline-alerts", lambda o, _: o["attributes"].update(timeFieldName="status"),
                                        "timeFieldName: field 'status' is keyword, not a date"),
    "format for an unmapped field": ("threatline-alerts", lambda o, _: o["attributes"].update(
        fieldFormatMap='{"time_to_ack":{"id":"duration"}}'), "fieldFormatMap: field 'time_to_ack' is not mapped"),
    "hidden field not mapped": ("threatline-flagged", lambda o, _: o["attributes"].update(
        sourceFilters='[{"value":"threat.tip.contacts"}]'), "sourceFilters: field 'threat.tip.contacts' is not mapped"),
    "panel reference renamed": ("threatline-triage", lambda o, _: _panels(o, lambda p: p[0].update(panelRefName="panel_x")),
                                "has no reference named 'severity:panel_x'"),
    "panels overlap": ("threatline-triage", lambda o, _: _panels(o, lambda p: p[1]["gridData"].update(x=20)),
                       "panel 'status' overlaps panel 'severity'"),
    "panel wider than the grid": ("threatline-triage", lambda o, _: _panels(o, lambda p: p[-1]["gridData"].update(w=49)),
                                  "fit 48 columns"),
    "unknown dashboard attribute": ("threatline-triage", lambda o, _: o["attributes"].update(panels=[]),
                                    "attribute 'panels' is not a dashboard attribute"),
    "panelsJSON not JSON": ("threatline-triage", lambda o, _: o["attributes"].update(panelsJSON="[{"), "is malformed"),
    "no title": ("threatline-alert-outcomes", lambda o, _: o["attributes"].update(title=" "), "has no title"),
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_a_broken_copy_is_rejected_with_a_message_naming_the_problem(objects, name):
    object_id, change, expected = BREAKAGES[name]
    broken = copy.deepcopy(objects)
    change(by_id(broken, object_id), broken)
    problems = validate(broken, TEMPLATES)
    assert any(expected in p for p in problems), problems
    assert validate(objects, TEMPLATES) == [], "the fixture must stay intact"


# --- config ----------------------------------------------------------------------------------------


def test_kibana_config_defaults_env_overrides_and_masking(monkeypatch):
    for key in ("URL", "USERNAME", "PASSWORD", "API_KEY", "SPACE"):
        monkeypatch.delenv(f"THREATLINE_KIBANA__{key}", raising=False)
    s = load_settings(DEFAULT_CONFIG)
    assert s.kibana.url == "http://localhost:5601" and s.kibana.space is None and s.kibana.verify_certs
    assert s.config_path(s.kibana.objects_file) == OBJECTS_FILE
    monkeypatch.setenv("THREATLINE_KIBANA__PASSWORD", "kibana-secret-1")
    monkeypatch.setenv("THREATLINE_KIBANA__API_KEY", "kibana-secret-2")
    monkeypatch.setenv("THREATLINE_KIBANA__SPACE", "district7")
    s = load_settings(DEFAULT_CONFIG)
    assert s.kibana.space == "district7"
    shown = json.dumps(masked(s))
    assert "kibana-secret" not in shown and masked(s)["kibana"]["password"] == "********"
    monkeypatch.setenv("THREATLINE_KIBANA__SPACE", "My Space")
    with pytest.raises(ConfigError, match="kibana.space"):
        load_settings(DEFAULT_CONFIG)
