"""`threatline demo`: the whole pipeline once, on bundled sample data, on the embedded backends."""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipeline.bootstrap import STAGE_NAMES, runtime
from pipeline.bus import OutMessage
from pipeline.config import Settings
from pipeline.schema import SEVERITY_RANK, RawPost, Tip
from pipeline.store import ItemQuery, StoredDoc

SEVERITY_STYLE = {"P1": "bold white on red", "P2": "bold red", "P3": "yellow"}


@dataclass
class DemoSummary:
    ingested: int
    classified: int
    flagged: int
    indexed: int
    alerts: int
    dead_lettered: int
    data_dir: str

    def as_dict(self) -> dict:
        return asdict(self)


def load_samples() -> tuple[list[RawPost], list[Tip]]:
    folder = resources.files("pipeline") / "samples"
    posts = [RawPost.model_validate(json.loads(line)) for line in _lines(folder / "posts.jsonl")]
    tips = [Tip(**json.loads(line)) for line in _lines(folder / "tips.jsonl")]
    return posts, tips


def _lines(path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def demo_settings(settings: Settings, data_dir: Path) -> Settings:
    """The same config, forced onto the embedded backends in ``data_dir``, with short polls."""
    return settings.model_copy(update={
        "general": settings.general.model_copy(update={"data_dir": data_dir}),
        "bus": settings.bus.model_copy(update={"backend": "embedded"}),
        "store": settings.store.model_copy(update={"backend": "embedded"}),
        "stages": settings.stages.model_copy(update={"poll_timeout_s": 0.1, "idle_polls_before_exit": 1}),
    })


def run_demo(settings: Settings, data_dir: Path | None = None) -> tuple[DemoSummary, list[StoredDoc]]:
    data_dir = Path(data_dir or tempfile.mkdtemp(prefix="threatline-demo-")).resolve()
    s = demo_settings(settings, data_dir)
    posts, tips = load_samples()
    with runtime(s) as rt:
        rt.setup()
        rt.bus.publish([OutMessage(s.topic("posts.raw"), p.id, p.to_bytes()) for p in posts])
        rt.bus.publish([OutMessage(s.topic("tips.raw"), t.id, t.to_bytes()) for t in tips])
        reports = {name: rt.runner(name).run() for name in STAGE_NAMES}
        flagged = rt.store.search_items(ItemQuery(size=1000)).hits
    classify, index, alert = reports["classify"], reports["index"], reports["alert"]
    summary = DemoSummary(
        ingested=len(posts) + len(tips),
        classified=classify.consumed - classify.dead_lettered,
        flagged=index.consumed,
        indexed=index.written,
        alerts=alert.written,
        dead_lettered=sum(r.dead_lettered for r in reports.values()),
        data_dir=str(data_dir),
    )
    flagged.sort(key=lambda h: (-SEVERITY_RANK[h.doc["threat"]["severity"]], -h.doc["threat"]["score"]))
    return summary, flagged


def print_triage(console: Console, summary: DemoSummary, flagged: list[StoredDoc], limit: int = 40) -> None:
    table = Table(title=f"threatline triage — {summary.flagged} flagged of {summary.ingested} ingested",
                  show_lines=True, expand=True)
    for column, ratio in (("sev", 0), ("category", 0), ("school", 1), ("source", 1), ("text", 3), ("why", 3)):
        table.add_column(column, ratio=ratio or None, no_wrap=not ratio, overflow="fold")
    for hit in flagged[:limit]:
        threat = hit.doc["threat"]
        severity = threat["severity"]
        # Untrusted text goes in as Text, never as markup.
        table.add_row(
            Text(severity, style=SEVERITY_STYLE.get(severity, "")),
            Text(threat["category"]),
            Text(threat.get("school") or "—"),
            Text(hit.doc["event"]["provider"]),
            Text(_excerpt(hit.doc["message"])),
            Text("\n".join(threat.get("explanation", [])[:3])),
        )
    console.print(table)
    if len(flagged) > limit:
        console.print(f"… and {len(flagged) - limit} more in the store.")
    console.print(Text(
        f"ingested {summary.ingested} · classified {summary.classified} · flagged {summary.flagged} · "
        f"indexed {summary.indexed} · alerts {summary.alerts} · dead-lettered {summary.dead_lettered}\n"
        f"data: {summary.data_dir}"
    ))


def _excerpt(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
