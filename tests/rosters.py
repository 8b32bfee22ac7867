"""Roster files for tests: everyone on duty around the clock, reachable on a local receiver."""

from __future__ import annotations

from pathlib import Path

import yaml


def webhook_roster(path: Path, address: str) -> Path:
    """An SRO and a counselor on duty for every school, an admin ending every chain; each posts
    to ``json://{address}/{person}`` (tests/webhook_server.py)."""
    def person(pid: str, role: str) -> dict:
        return {"id": pid, "name": pid.title(), "roles": [role],
                "channels": [{"type": "webhook", "url": f"json://{address}/{pid}"}]}

    def all_day(pid: str, role: str) -> dict:
        return {"role": role, "person": pid, "schools": "all", "days": "daily", "start": "00:00", "end": "00:00"}

    path.write_text(yaml.safe_dump({
        "timezone": "America/Chicago",
        "people": [person("sro1", "sro"), person("counselor1", "counselor"), person("admin1", "admin")],
        "shifts": [all_day("sro1", "sro"), all_day("counselor1", "counselor")],
        "escalation": [{"role": "admin", "schools": "all", "people": ["admin1"]}],
    }))
    return path
