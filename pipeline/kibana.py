"""Kibana saved objects: the shipped NDJSON, its checks, and Kibana's saved-objects import/export API.

Kibana cannot run where threatline is built (DESIGN.md §5), so ``validate`` checks what would make
Kibana reject an object or show an empty panel: object types, ids, references that resolve, and
every field a query, column, sort or Lens column names mapped in our index templates with a type
that operation accepts. ``import`` runs the same checks before it sends anything.
"""

from __future__ import annotations

import copy
import json
import os
import re
import ssl
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from pipeline.config import REPO_ROOT, Settings

DEFAULT_TEMPLATE_DIR = REPO_ROOT / "config" / "es"  # = pipeline.store.elasticsearch.DEFAULT_TEMPLATE_DIR
DEFAULT_PREFIX = "threatline"  # the prefix the shipped NDJSON is written with
TYPES = ("dashboard", "index-pattern", "lens", "search")
IMPORT_PATH = "/api/saved_objects/_import"
EXPORT_PATH = "/api/saved_objects/_export"
# What export keeps: Kibana adds bookkeeping (updated_at, version, namespaces...) that would make
# every export a diff.
KEPT_KEYS = ("id", "type", "attributes", "references", "coreMigrationVersion", "typeMigrationVersion", "managed")
ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class KibanaError(Exception):
    """A Kibana or saved-objects problem, phrased as one line."""


# --- NDJSON ------------------------------------------------------------------------------------


def parse_ndjson(text: str, source: str = "NDJSON") -> list[dict[str, Any]]:
    objects = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise KibanaError(f"{source}:{lineno}: not JSON ({exc})") from None
        if not isinstance(value, dict):
            raise KibanaError(f"{source}:{lineno}: a saved object must be a JSON object")
        objects.append(value)
    return objects


def load_objects(path: Path) -> list[dict[str, Any]]:
    try:
        return parse_ndjson(Path(path).read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise KibanaError(f"{path}: {exc.strerror or exc}") from None


def dump_ndjson(objects: Iterable[Mapping[str, Any]]) -> str:
    """One object per line, sorted by type and id, keys sorted: the same objects give the same bytes."""
    ordered = sorted(objects, key=lambda o: (str(o.get("type")), str(o.get("id"))))
    return "".join(json.dumps(o, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n" for o in ordered)


def with_prefix(objects: Iterable[Mapping[str, Any]], prefix: str, *, current: str = DEFAULT_PREFIX) -> list[dict]:
    """Data view titles moved from ``current-`` to ``prefix-``; everything else untouched.

    Ids stay the same whatever the prefix, so references between objects never change."""
    moved = []
    for obj in objects:
        obj = copy.deepcopy(dict(obj))
        title = obj.get("attributes", {}).get("title")
        if obj.get("type") == "index-pattern" and isinstance(title, str) and title.startswith(f"{current}-"):
            obj["attributes"]["title"] = f"{prefix}-{title[len(current) + 1:]}"
        moved.append(obj)
    return moved


# --- index templates -----------------------------------------------------------------------------

NUMERIC = {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long"}
DATES = {"date", "date_nanos"}


def mapped_fields(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every leaf field of an index template, multi-fields included, by dotted path."""
    fields: dict[str, dict[str, Any]] = {}

    def walk(properties: Mapping[str, Any], prefix: str) -> None:
        for name, spec in properties.items():
            path = f"{prefix}{name}"
            if "properties" in spec:
                walk(spec["properties"], f"{path}.")
                continue
            fields[path] = spec
            for sub, sub_spec in spec.get("fields", {}).items():
                fields[f"{path}.{sub}"] = sub_spec

    walk(template["template"]["mappings"]["properties"], "")
    return fields


def load_templates(template_dir: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Index kind (``flagged``, ``alerts``, ``audit``) -> its mapped fields."""
    return {path.stem: mapped_fields(json.loads(path.read_text(encoding="utf-8")))
            for path in sorted(Path(template_dir).glob("*.json"))}


def template_dir(settings: Settings) -> Path:
    # The Elasticsearch store's choice, without importing its client (a second of start-up).
    configured = settings.config_dir / "es"
    return configured if configured.is_dir() else DEFAULT_TEMPLATE_DIR


def _field_problem(spec: Mapping[str, Any] | None, need: str) -> str | None:
    if spec is None:
        return "is not mapped"
    kind = spec.get("type", "object")
    aggregatable = kind not in ("text", "object") and spec.get("doc_values", True) is not False
    if need == "searchable" and spec.get("index", True) is False:
        return f"is not indexed ({kind}, index: false)"
    if need in ("aggregatable", "sortable") and not aggregatable:
        return f"cannot be aggregated or sorted ({kind})"
    if need == "date" and not (kind in DATES and aggregatable):
        return f"is {kind}, not a date"
    if need == "numeric" and not (kind in NUMERIC and aggregatable):
        return f"is {kind}, not a number"
    return None


# --- KQL -------------------------------------------------------------------------------------------

_KQL_TOKEN = re.compile(r'\s*(?:(?P<quoted>"(?:[^"\\]|\\.)*")|(?P<op><=|>=|<|>|:)|(?P<paren>[()])|(?P<word>[^\s()<>:"]+))')
_KQL_KEYWORDS = {"and", "or", "not"}


@dataclass(frozen=True)
class KqlTerm:
    field: str
    op: str
    values: tuple[str, ...]


def kql_terms(query: str) -> list[KqlTerm]:
    """The ``field <op> value`` clauses of a KQL query; ``field : ("a" or "b")`` gives both values.

    Enough KQL to find every field a saved query names; free-text words are not clauses."""
    tokens, pos, text = [], 0, query.rstrip()
    while pos < len(text):
        m = _KQL_TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise KibanaError(f"KQL {query!r}: cannot parse near {text[pos:pos + 20]!r}")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    terms, i = [], 0
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "word" and i + 1 < len(tokens) and tokens[i + 1][0] == "op":
            op, j, values = tokens[i + 1][1], i + 2, []
            if j < len(tokens) and tokens[j] == ("paren", "("):
                depth, j = 1, j + 1
                while j < len(tokens) and depth:
                    depth += {"(": 1, ")": -1}.get(tokens[j][1], 0) if tokens[j][0] == "paren" else 0
                    if tokens[j][0] in ("word", "quoted") and tokens[j][1].lower() not in _KQL_KEYWORDS:
                        values.append(_unquote(tokens[j][1]))
                    j += 1
            elif j < len(tokens) and tokens[j][0] in ("word", "quoted"):
                values.append(_unquote(tokens[j][1]))
                j += 1
            terms.append(KqlTerm(value, op, tuple(values)))
            i = j
        else:
            i += 1
    return terms


def _unquote(token: str) -> str:
    return json.loads(token) if token.startswith('"') else token


# --- validation ------------------------------------------------------------------------------------

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
            label = f"{obj.get('type')}/{obj.get('id')}"
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
            self.label = f"{kind}/{obj['id']}"
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
            if (ref.get("type"), ref.get("id")) not in self.by_key:
                self.fail(f"reference {ref.get('name')!r} -> {ref.get('type')}/{ref.get('id')} is not in the file")
        for name in {n for n in names if names.count(n) > 1}:
            self.fail(f"reference name {name!r} is used twice")

    def ref(self, obj: dict, name: str, kind: str | None = None) -> dict | None:
        self.used_refs.add(name)
        for ref in obj.get("references", []):
            if ref.get("name") == name:
                if kind and ref.get("type") != kind:
                    self.fail(f"reference {name!r} must point to a {kind}, not a {ref.get('type')}")
                    return None
                return self.by_key.get((ref.get("type"), ref.get("id")))
        self.fail(f"has no reference named {name!r}")
        return None

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
        problem = _field_problem(self.templates[kind].get(name), need)
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
            target = self.by_key.get((ref.get("type"), ref.get("id")))
            if target is not None and target["type"] == "index-pattern":
                found.append(target)
        return found


def validate(objects: list[dict[str, Any]], templates: Mapping[str, Mapping[str, dict[str, Any]]],
             prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Problems that would make Kibana reject the objects or show empty panels; [] when none."""
    return _Checker(objects, templates, prefix).run()


# --- Kibana's saved-objects API -----------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    count: int
    where: str


@dataclass(frozen=True)
class ExportResult:
    count: int
    where: str
    text: str
    missing_references: list[str]


def import_objects(settings: Settings, url: str | None = None, file: Path | None = None,
                   check: bool = True) -> ImportResult:
    """POST the objects to ``_import?overwrite=true``, data view titles moved to our index prefix."""
    path = Path(file) if file else settings.config_path(settings.kibana.objects_file)
    objects = load_objects(path)
    if check:
        problems = validate(objects, load_templates(template_dir(settings)))
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise KibanaError(f"{path}: {len(problems)} problem(s), nothing sent: {'; '.join(problems[:3])}{more}")
    body = dump_ndjson(with_prefix(objects, settings.store.index_prefix)).encode("utf-8")
    api = _Api(settings, url)
    # Kibana refuses a file whose name does not end in .ndjson.
    data = api.post_json(IMPORT_PATH, params={"overwrite": "true"},
                         files={"file": ("threatline.ndjson", body, "application/ndjson")})
    errors = data.get("errors") or []
    if errors or data.get("success") is not True:
        failed = "; ".join(_import_error(e) for e in errors) or "Kibana answered success: false without errors"
        raise KibanaError(f"import into {api.where}: {len(errors)} of {len(objects)} objects failed: {failed}")
    return ImportResult(int(data.get("successCount", len(objects))), api.where)


def export_objects(settings: Settings, url: str | None = None, out: Path | None = None) -> ExportResult:
    """POST ``_export`` for our object types; write the objects back in the shipped form."""
    api = _Api(settings, url)
    body = {"type": list(TYPES), "includeReferencesDeep": True, "excludeExportDetails": False}
    response = api.post(EXPORT_PATH, json=body)
    objects = parse_ndjson(response.text, "export")
    details = objects.pop() if objects and "exportedCount" in objects[-1] and "type" not in objects[-1] else {}
    cleaned = [{k: o[k] for k in KEPT_KEYS if k in o} for o in objects]
    text = dump_ndjson(with_prefix(cleaned, DEFAULT_PREFIX, current=settings.store.index_prefix))
    if out is not None:
        _write_atomically(Path(out), text)
    missing = [f"{m.get('type')}/{m.get('id')}" for m in details.get("missingReferences", [])]
    return ExportResult(len(cleaned), api.where, text, missing)


def _import_error(error: Mapping[str, Any]) -> str:
    detail = error.get("error") or {}
    line = f"{error.get('type')}/{error.get('id')}: {detail.get('type', 'unknown')}"
    refs = [f"{r.get('type')}/{r.get('id')}" for r in detail.get("references", [])]
    if refs:
        line += f" ({', '.join(refs)})"
    if detail.get("message"):
        line += f" ({detail['message']})"
    return line


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Api:
    """One Kibana, one space, one identity. Messages never contain credentials."""

    def __init__(self, settings: Settings, url: str | None):
        k = settings.kibana
        try:
            base = httpx.URL((url or k.url).rstrip("/"))
        except httpx.InvalidURL as exc:
            raise KibanaError(f"Kibana URL: {exc}") from None
        if base.userinfo:
            raise KibanaError("put Kibana credentials in kibana.username/password or kibana.api_key, not in the URL")
        if base.scheme not in ("http", "https") or not base.host:
            raise KibanaError(f"Kibana URL {base} must be http(s)://host[:port]")
        self.base = str(base)
        self.space_path = f"/s/{k.space}" if k.space and k.space != "default" else ""
        self.where = f"{self.base} (space {k.space or 'default'})"
        self.timeout = k.timeout_s
        self.headers = {"kbn-xsrf": "true"}  # Kibana's CSRF guard for API calls
        self.auth = None
        if k.api_key is not None and k.api_key.get_secret_value():
            self.headers["Authorization"] = f"ApiKey {k.api_key.get_secret_value()}"
        elif k.username:
            if k.password is None:
                raise KibanaError("kibana.username is set but kibana.password is not")
            self.auth = httpx.BasicAuth(k.username, k.password.get_secret_value())
        self.verify: ssl.SSLContext | bool = k.verify_certs
        if k.verify_certs and k.ca_certs:
            try:
                self.verify = ssl.create_default_context(cafile=str(Path(k.ca_certs).expanduser()))
            except (OSError, ssl.SSLError) as exc:
                raise KibanaError(f"kibana.ca_certs {k.ca_certs}: {exc}") from None

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        full = f"{self.space_path}{path}"
        try:
            with httpx.Client(base_url=self.base, headers=self.headers, auth=self.auth, verify=self.verify,
                              timeout=self.timeout) as client:
                response = client.post(full, **kwargs)
        except httpx.TimeoutException:
            raise KibanaError(f"Kibana at {self.where} did not answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise KibanaError(f"cannot reach Kibana at {self.where}: {str(exc) or type(exc).__name__}") from None
        if response.status_code >= 400:
            raise KibanaError(self._refusal(full, response))
        return response

    def post_json(self, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.post(path, **kwargs)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise KibanaError(f"{self.base}{self.space_path}{path} answered {response.status_code} without a JSON "
                              "object: is this Kibana?")
        return data

    def _refusal(self, path: str, response: httpx.Response) -> str:
        try:
            message = response.json().get("message") or response.reason_phrase
        except (ValueError, AttributeError):
            message = response.reason_phrase
        status = response.status_code
        if status == 401:
            return f"Kibana at {self.where} rejected the credentials (401: {message})"
        if status == 403:
            return f"Kibana at {self.where}: this user may not manage saved objects (403: {message})"
        if status == 404:
            return f"{self.base}{path} not found (404): is this Kibana, and does the space exist?"
        return f"Kibana at {self.where} answered {status} to {path}: {message}"
