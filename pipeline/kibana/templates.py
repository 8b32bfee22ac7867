"""Our Elasticsearch index templates (``config/es/*.json``) as the fields a saved object may name."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.config import REPO_ROOT, Settings

DEFAULT_TEMPLATE_DIR = REPO_ROOT / "config" / "es"  # = pipeline.store.elasticsearch.DEFAULT_TEMPLATE_DIR
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


def field_problem(spec: Mapping[str, Any] | None, need: str) -> str | None:
    """Why a field mapped as ``spec`` (None: not mapped) cannot serve ``need``; None when it can.

    ``need``: ``any``, ``searchable``, ``aggregatable``, ``sortable``, ``date`` or ``numeric``."""
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
