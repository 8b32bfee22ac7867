"""The model registry: models/<version>/ directories and models/CURRENT naming the champion."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from pipeline.nlp.model_errors import ModelError

CURRENT = "CURRENT"
_VERSION = re.compile(r"^v(\d+)-\d{8}$")


def versions(models_dir: Path) -> list[str]:
    found = [p.name for p in models_dir.iterdir() if p.is_dir() and _VERSION.match(p.name)] if models_dir.is_dir() else []
    return sorted(found, key=lambda v: int(_VERSION.match(v).group(1)))


def next_version(models_dir: Path, today: datetime | None = None) -> str:
    taken = versions(models_dir)
    number = int(_VERSION.match(taken[-1]).group(1)) + 1 if taken else 1
    return f"v{number}-{(today or datetime.now(UTC)).strftime('%Y%m%d')}"


def current_version(models_dir: Path) -> str:
    marker = models_dir / CURRENT
    try:
        version = marker.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ModelError(f"{marker}: missing; train a model (`threatline train --promote`)") from None
    if not (models_dir / version).is_dir():
        raise ModelError(f"{marker} names {version!r}, but {models_dir / version} does not exist")
    return version


def promote(models_dir: Path, version: str) -> None:
    if not (models_dir / version).is_dir():
        raise ModelError(f"no model {version!r} in {models_dir}")
    tmp = models_dir / f".{CURRENT}.tmp"
    tmp.write_text(version + "\n", encoding="utf-8")
    tmp.replace(models_dir / CURRENT)  # atomic: a reader sees the old champion or the new one
