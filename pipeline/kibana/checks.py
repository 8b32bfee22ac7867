"""``validate``: what would make Kibana reject the saved objects or show an empty panel.

Object types and ids, references that resolve and are used, and every field a query, column, sort
or Lens column names mapped in our index templates with a type that operation accepts."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.kibana.errors import KibanaError
from pipeline.kibana.kql import kql_terms
from pipeline.kibana.objects import DEFAULT_PREFIX, TYPES, type_id
from pipeline.kibana.templates import field_problem

ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
LENS_OPS = {  # operationType -> what its sourceField must be
    "count": None, "date_histogram": "date", "terms": "aggregatable", "unique_count": "aggregatable",
    "average": "numeric", "median": "numeric", "percentile": "numeric", "sum": "numeric",
    "min": "numeric", "max": "numeric",
}
LENS_ACCESSORS = {  # visualizationType -> keys of a visualization layer that name columns
    "lnsXY": ("xAccessor", "accessors", "splitAccessor", "splitAccessors"),
    "lnsPie": ("primaryGroups", "metrics"),
    "lnsMetric": ("metricAccessor", "breakdownByAccessor"),
    "lnsDatatable": ("columns",),
}
DASHBOARD_ATTRIBUTES = {"title", "description", "kibanaSavedObjectMeta", "timeRestore", "timeFrom", "timeTo",
                        "refreshInterval", "controlGroupInput", "panelsJSON", "optionsJSON", "hits", "version"}
SEARCH_INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"
LENS_LAYER_REF = "indexpattern-datasource-layer-"
GRID_COLUMNS = 48


@dataclass
class _Checker:
    objects: list[dict[str, Any]]
    templates: Mapping[str, Mapping[str, dict[str, Any]]]
    prefix: str
    problems: list[str] = field(default_factory=list)
    by_key: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    label: str = ""  # the object being checked, for messages
    used_refs: set[str] = field(default_factory=set)  # reference names the object's content uses

    def run(self) -> list[str]:
        seen_ids: set[str] = set()
        for n, obj in enumerate(self.objects, 1):
            label = type_id(obj)
            if obj.get("type") not in TYPES:
                self.problems.append(f"object {n} ({label}): type must be one of {', '.join(TYPES)}")
                continue
            if not isinstance(obj.get("id"), str) or not ID.match(obj["id"]):
                self.problems.append(f"object {n} ({label}): id must be lowercase letters, digits, '-' or '_'")
                continue
            if obj["id"] in seen_ids:
                self.problems.append(f"{label}: id {obj['id']!r} is used twice")
                continue
            seen_ids.add(obj["id"])
            self.by_key[(obj["type"], obj["id"])] = obj
        for (kind, _), obj in self.by_key.items():
            self.label = type_id(obj)
            self.used_refs = set()
            attributes = obj.get("attributes")
            if not isinstance(attributes, dict) or not str(attributes.get("title", "")).strip():
                self.fail("has no title")
                continue
            self.check_references(obj)
            try:
                getattr(self, "check_" + kind.replace("-", "_"))(attributes, obj)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                self.fail(f"is malformed ({type(exc).__name__}: {exc})")
                continue
            for name in sorted({r.get("name") for r in obj.get("references", [])} - self.used_refs):
                self.fail(f"reference {name!r} is not used by the object")
        return self.problems

    def fail(self, message: str) -> None:
        self.problems.append(f"{self.label}: {message}")

    # references --------------------------------------------------------------------------------
    def check_references(self, obj: dict) -> None:
        names = [r.get("name") for r in obj.get("references", [])]
        for ref in obj.get("references", []):
            if self.target(ref) is None:
                self.fail(f"reference {ref.get('name')!r} -> {type_id(ref)} is not in the file")
        for name in {n for n in names if names.count(n) > 1}:
            self.fail(f"reference name {name!r} is used twice")

    def ref(self, obj: dict, name: str, kind: str | None = None) -> dict | None:
        self.used_refs.add(name)
        for ref in obj.get("references", []):
            if ref.get("name") == name:
                if kind and ref.get("type") != kind:
                    self.fail(f"reference {name!r} must point to a {kind}, not a {ref.get('type')}")
                    return None
                return self.target(ref)
        self.fail(f"has no reference named {name!r}")
        return None

    def target(self, ref: Mapping[str, Any]) -> dict | None:
        """The object in the file a reference points to; None when it is not there."""
        return self.by_key.get((ref.get("type"), ref.get("id")))

    # fields ------------------------------------------------------------------------------------
    def index_kind(self, data_view: dict) -> str | None:
        title = data_view["attributes"].get("title", "")
        m = re.fullmatch(rf"{re.escape(self.prefix)}-([a-z]+)\*?", title)
        return m.group(1) if m and m.group(1) in self.templates else None

    def need(self, data_view: dict | None, name: str, need: str, where: str) -> None:
        if data_view is None:
            return
        kind = self.index_kind(data_view)
        if kind is None:
            return  # the data view itself is reported
        problem = field_problem(self.templates[kind].get(name), need)
        if problem:
            self.fail(f"{where}: field {name!r} {problem} in {kind}.json")

    def kql(self, data_views: list[dict | None], query: Any, where: str) -> None:
        if not isinstance(query, dict) or query.get("language") != "kuery":
            self.fail(f"{where}: query must be KQL (language 'kuery')")
            return
        try:
            terms = kql_terms(query.get("query", ""))
        except KibanaError as exc:
            self.fail(f"{where}: {exc}")
            return
        for term in terms:
            for data_view in data_views:
                self.need(data_view, term.field, "searchable", f"{where} KQL")

    # per type ------------------------------------------------------------------------------------
    def check_index_pattern(self, attributes: dict, obj: dict) -> None:
        kind = self.index_kind(obj)
        if kind is None:
            self.fail(f"title {attributes['title']!r} is not {self.prefix}-<index>* for one of our index "
                      f"templates ({', '.join(sorted(self.templates))})")
            return
        self.need(obj, attributes.get("timeFieldName", ""), "date", "timeFieldName")
        for name in json.loads(attributes.get("fieldFormatMap") or "{}"):
            self.need(obj, name, "any", "fieldFormatMap")
        for hidden in json.loads(attributes.get("sourceFilters") or "[]"):
            if "*" not in hidden["value"]:  # a pattern may match nothing yet; a name must exist
                self.need(obj, hidden["value"], "any", "sourceFilters")

    def check_search(self, attributes: dict, obj: dict) -> None:
        source = json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
        data_view = self.ref(obj, source.get("indexRefName", SEARCH_INDEX_REF), "index-pattern")
        self.kql([data_view], source.get("query"), "query")
        for flt in source.get("filter", []):
            self.need(data_view, flt.get("meta", {}).get("key", ""), "searchable", "filter")
        for column in attributes.get("columns", []):
            self.need(data_view, column, "any", "column")
        sort = attributes.get("sort", [])
        for name, direction in [sort] if sort and isinstance(sort[0], str) else sort:
            self.need(data_view, name, "sortable", "sort")
            if direction not in ("asc", "desc"):
                self.fail(f"sort on {name!r}: direction must be asc or desc")

    def check_lens(self, attributes: dict, obj: dict) -> None:
        state = attributes["state"]
        layers = state["datasourceStates"]["formBased"]["layers"]
        data_views = []
        for layer_id, layer in layers.items():
            data_view = self.ref(obj, LENS_LAYER_REF + layer_id, "index-pattern")
            data_views.append(data_view)
            columns = layer["columns"]
            if sorted(layer.get("columnOrder", [])) != sorted(columns):
                self.fail(f"layer {layer_id!r}: columnOrder does not list exactly its columns")
            for column_id, column in columns.items():
                op = column.get("operationType")
                if op not in LENS_OPS:
                    self.fail(f"column {column_id!r}: operation {op!r} is not one threatline checks")
                elif LENS_OPS[op]:
                    self.need(data_view, column.get("sourceField", ""), LENS_OPS[op], f"column {column_id!r} ({op})")
                order = column.get("params", {}).get("orderBy", {})
                if order.get("type") == "column" and order.get("columnId") not in columns:
                    self.fail(f"column {column_id!r}: orders by missing column {order.get('columnId')!r}")
        self.kql(data_views, state.get("query"), "query")
        accessor_keys = LENS_ACCESSORS.get(attributes.get("visualizationType"))
        if accessor_keys is None:
            self.fail(f"visualizationType {attributes.get('visualizationType')!r} is not one threatline checks")
            return
        visualization = state["visualization"]
        for vis_layer in visualization.get("layers", [visualization]):
            layer_id = vis_layer.get("layerId")
            if layer_id not in layers:
                self.fail(f"visualization layer {layer_id!r} has no data layer")
                continue
            for key in accessor_keys:
                value = vis_layer.get(key)
                ids = value if isinstance(value, list) else [value] if value else []
                for column_id in (c["columnId"] if isinstance(c, dict) else c for c in ids):
                    if column_id not in layers[layer_id]["columns"]:
                        self.fail(f"visualization {key} names missing column {column_id!r}")

    def check_dashboard(self, attributes: dict, obj: dict) -> None:
        for key in sorted(set(attributes) - DASHBOARD_ATTRIBUTES):
            self.fail(f"attribute {key!r} is not a dashboard attribute")
        panels = json.loads(attributes.get("panelsJSON", "[]"))
        data_views, placed = [], {}
        for panel in panels:
            index, grid = panel["panelIndex"], panel["gridData"]
            if index in placed:
                self.fail(f"panel {index!r} appears twice")
            if grid.get("i") != index or grid["x"] < 0 or grid["w"] < 1 or grid["x"] + grid["w"] > GRID_COLUMNS:
                self.fail(f"panel {index!r}: gridData must have i = panelIndex and fit {GRID_COLUMNS} columns")
            for other, g in placed.items():
                if (grid["x"] < g["x"] + g["w"] and g["x"] < grid["x"] + grid["w"]
                        and grid["y"] < g["y"] + g["h"] and g["y"] < grid["y"] + grid["h"]):
                    self.fail(f"panel {index!r} overlaps panel {other!r}")
            placed[index] = grid
            target = self.ref(obj, f"{index}:{panel['panelRefName']}", panel["type"])
            data_views += self.data_views_of(target)
        source = json.loads(attributes.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON", "{}"))
        if "query" in source:
            self.kql(data_views, source["query"], "dashboard query")

    def data_views_of(self, obj: dict | None) -> list[dict]:
        found = []
        for ref in (obj or {}).get("references", []):
            target = self.target(ref)
            if target is not None and target["type"] == "index-pattern":
                found.append(target)
        return found


def validate(objects: list[dict[str, Any]], templates: Mapping[str, Mapping[str, dict[str, Any]]],
             prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Problems that would make Kibana reject the objects or show empty panels; [] when none."""
    return _Checker(objects, templates, prefix).run()
