"""``import_objects`` and ``export_objects``: the shipped NDJSON in and out of Kibana's saved-objects API."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.kibana.checks import validate
from pipeline.kibana.client import KibanaApi
from pipeline.kibana.errors import KibanaError
from pipeline.kibana.objects import DEFAULT_PREFIX, TYPES, dump_ndjson, load_objects, parse_ndjson, type_id, with_prefix
from pipeline.kibana.templates import load_templates, template_dir

IMPORT_PATH = "/api/saved_objects/_import"
EXPORT_PATH = "/api/saved_objects/_export"
# What export keeps: Kibana adds bookkeeping (updated_at, version, namespaces...) that would make
# every export a diff.
KEPT_KEYS = ("id", "type", "attributes", "references", "coreMigrationVersion", "typeMigrationVersion", "managed")


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
    api = KibanaApi(settings, url)
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
    api = KibanaApi(settings, url)
    body = {"type": list(TYPES), "includeReferencesDeep": True, "excludeExportDetails": False}
    response = api.post(EXPORT_PATH, json=body)
    objects = parse_ndjson(response.text, "export")
    details = objects.pop() if objects and "exportedCount" in objects[-1] and "type" not in objects[-1] else {}
    cleaned = [{k: o[k] for k in KEPT_KEYS if k in o} for o in objects]
    text = dump_ndjson(with_prefix(cleaned, DEFAULT_PREFIX, current=settings.store.index_prefix))
    if out is not None:
        _write_atomically(Path(out), text)
    missing = [type_id(m) for m in details.get("missingReferences", [])]
    return ExportResult(len(cleaned), api.where, text, missing)


def _import_error(error: Mapping[str, Any]) -> str:
    detail = error.get("error") or {}
    line = f"{type_id(error)}: {detail.get('type', 'unknown')}"
    refs = [type_id(r) for r in detail.get("references", [])]
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

