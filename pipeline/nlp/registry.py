"""The model registry: models/<version>/ directories, models/CURRENT naming the champion, and
models/promotions.jsonl, the append-only record of every change of champion (who, when, why)."""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pipeline.nlp.model_errors import ModelError

CURRENT = "CURRENT"
PROMOTIONS = "promotions.jsonl"
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


def champion_or_none(models_dir: Path) -> str | None:
    return current_version(models_dir) if (models_dir / CURRENT).exists() else None


@contextmanager
def locked(models_dir: Path) -> Iterator[None]:
    """One champion change at a time, across processes (two analysts promoting at once)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    with (models_dir / ".registry.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def promote(models_dir: Path, version: str) -> None:
    if not (models_dir / version / "manifest.json").is_file():
        raise ModelError(f"no complete model {version!r} in {models_dir}")
    tmp = models_dir / f".{CURRENT}.{os.getpid()}.tmp"
    with tmp.open("w", encoding="utf-8") as f:
        f.write(version + "\n")
        f.flush()
        os.fsync(f.fileno())  # the new name must not point at an empty file after a crash
    tmp.replace(models_dir / CURRENT)  # atomic: a reader sees the old champion or the new one


def change_champion(models_dir: Path, version: str, *, action: str, by: str, reasons: list[str],
                    forced: bool = False) -> dict:
    """Make ``version`` the champion and append the change to promotions.jsonl; return the entry."""
    with locked(models_dir):
        entry = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "action": action, "version": version,
                 "previous": champion_or_none(models_dir), "by": by, "forced": forced, "reasons": reasons}
        promote(models_dir, version)
        with (models_dir / PROMOTIONS).open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return entry


def history(models_dir: Path) -> list[dict]:
    path = models_dir / PROMOTIONS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def previous_champion(models_dir: Path) -> str:
    """The champion before the current one: promotions push onto a stack, rollbacks pop it."""
    stack: list[str] = []
    for entry in history(models_dir):
        if not stack and entry.get("previous"):
            stack.append(entry["previous"])
        if entry["action"] == "rollback":
            while stack and stack[-1] != entry["version"]:
                stack.pop()
            if not stack:
                stack.append(entry["version"])
        else:
            stack.append(entry["version"])
    current = current_version(models_dir)
    while stack and stack[-1] == current:
        stack.pop()
    if not stack:
        raise ModelError(f"no earlier champion than {current} recorded in {models_dir / PROMOTIONS}")
    if not (models_dir / stack[-1]).is_dir():
        raise ModelError(f"the previous champion {stack[-1]} is no longer in {models_dir}")
    return stack[-1]
