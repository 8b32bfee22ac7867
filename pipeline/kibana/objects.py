"""The saved-objects NDJSON: read, written back in canonical form, data view titles moved between prefixes."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.kibana.errors import KibanaError

DEFAULT_PREFIX = "threatline"  # the prefix the shipped NDJSON is written with
TYPES = ("dashboard", "index-pattern", "lens", "search")


def type_id(obj: Mapping[str, Any]) -> str:
    """``type/id``: how messages name an object or a reference to one."""
    return f"{obj.get('type')}/{obj.get('id')}"


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
