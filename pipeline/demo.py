"""`threatline demo`: the whole pipeline once, on bundled sample data, on the embedded backends."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import yaml
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from pipeline.alerts.inbox import webhook_server
from pipeline.bootstrap import STAGE_NAMES, runtime
from pipeline.config import Settings
from pipeline.schema import SEVERITY_RANK, RawPost, Tip
from pipeline.store import ItemQuery, StoredDoc
from pipeline.terminal import safe_text

SEVERITY_STYLE = {"P1": "bold white on red", "P2": "bold red", "P3": "yellow"}


@dataclass
class DemoSummary:
    ingested: int
    crawled: int
    tipped: int
    classified: int
    flagged: int
    indexed: int
    alerts: int
    dead_lettered: int
    data_dir: str
    pages: list[dict]  # what the demo inbox received: {"to": roster id, "title": ...}

    def as_dict(self) -> dict:
        return asdict(self)


def load_samples() -> tuple[list[RawPost], list[Tip]]:
    folder = resources.files("pipeline") / "samples"
    posts = [RawPost.model_validate(json.loads(line)) for line in _lines(folder / "posts.jsonl")]
    tips = [Tip(**json.loads(line)) for line in _lines(folder / "tips.jsonl")]
    return posts, tips


def _lines(path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def demo_settings(settings: Settings, data_dir: Path, inbox_address: str) -> Settings:
    """The same config, forced onto the embedded backends in ``data_dir``, with short polls; the
    tip line lets the demo's one client send every sample tip; the roster's channels all lead
    to the demo's inbox."""
    roster = settings.config_path(settings.alerts.roster_file)
    return settings.model_copy(update={
        "alerts": settings.alerts.model_copy(update={
            "roster_file": demo_roster(roster, data_dir / "demo-roster.yaml", inbox_address),
            "delivery_backoff_s": 0.0}),
        "tipline": settings.tipline.model_copy(update={"submit_limit": 1000}),
        "general": settings.general.model_copy(update={"data_dir": data_dir}),
        "bus": settings.bus.model_copy(update={"backend": "embedded"}),
        "store": settings.store.model_copy(update={"backend": "embedded"}),
        "stages": settings.stages.model_copy(update={"poll_timeout_s": 0.1, "idle_polls_before_exit": 1}),
    })


def run_demo(settings: Settings, data_dir: Path | None = None) -> tuple[DemoSummary, list[StoredDoc]]:
    """Crawl the sample posts with the real spiders from a loopback replay of each source's API,
    send the sample tips through the tip line's HTTP API, then run every stage once; pages go to
    the configured roster's people, whose channels point at a loopback inbox."""
    data_dir = Path(data_dir or tempfile.mkdtemp(prefix="threatline-demo-")).resolve()
    posts, tips = load_samples()
    with webhook_server() as (inbox_address, inbox):
        s = demo_settings(settings, data_dir, inbox_address)
        with runtime(s) as rt:
            rt.setup()
            crawled = crawl_samples(s, posts)
            tipped = submit_samples(rt, tips)
            reports = {name: rt.runner(name).run() for name in STAGE_NAMES}
            flagged = rt.store.search_items(ItemQuery(size=1000)).hits
            pages = [(path.strip("/"), body) for path, body in zip(inbox.paths, inbox.bodies, strict=True)]
    scored = [reports["classify"], reports["classify-tips"]]
    index, alert = reports["index"], reports["alert"]
    summary = DemoSummary(
        ingested=crawled + tipped,
        crawled=crawled,
        tipped=tipped,
        classified=sum(r.consumed - r.dead_lettered for r in scored),
        flagged=index.consumed,
        indexed=index.written,
        alerts=alert.written,
        dead_lettered=sum(r.dead_lettered for r in reports.values()),
        data_dir=str(data_dir),
        pages=[{"to": to, "title": body.get("title", "")} for to, body in pages],
    )
    flagged.sort(key=lambda h: (-SEVERITY_RANK[h.doc["threat"]["severity"]], -h.doc["threat"]["score"]))
    return summary, flagged


def demo_roster(roster: Path, out: Path, inbox_address: str) -> Path:
    """The configured roster (people, shifts, chains) with every channel replaced by one webhook
    to ``inbox_address``, its path naming the person."""
    data = yaml.safe_load(roster.read_text(encoding="utf-8"))
    for person in data.get("people", []):
        person["channels"] = [{"type": "webhook", "url": f"json://{inbox_address}/{person['id']}"}]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out


def crawl_samples(s: Settings, posts: list[RawPost]) -> int:
    """Crawl the sample posts with the real spiders, one source per sample source, each served
    from a loopback replay of its kind's API."""
    from pipeline.ingest.replay import ReplayServer
    from pipeline.ingest.runner import crawl_in_subprocess

    by_source: dict[tuple[str, str], list[RawPost]] = {}
    for post in posts:
        by_source.setdefault((post.source, post.source_kind), []).append(post)
    with ReplayServer() as replay, tempfile.TemporaryDirectory() as tmp:
        entries = [{"name": name, "kind": kind, **replay.serve(name, kind, mine), "delay_s": 0, "max_pages": 20}
                   for (name, kind), mine in sorted(by_source.items())]
        sources_file = Path(tmp) / "sources.yaml"
        sources_file.write_text(yaml.safe_dump({"sources": entries}), encoding="utf-8")
        env = {**os.environ, "THREATLINE_GENERAL__DATA_DIR": str(s.data_dir), "THREATLINE_BUS__BACKEND": "embedded"}
        results = crawl_in_subprocess(s.config_file, sources_file, None, env=env, log_level="ERROR")
    return sum(r["produced"] for r in results.values())


def submit_samples(rt, tips: list[Tip]) -> int:
    """POST each sample tip to the tip line's JSON API on loopback; 201 means durable on tips.raw."""
    import httpx

    from pipeline.tipline.app import create_app
    from pipeline.tipline.server import in_background

    with in_background(create_app(rt)) as url, httpx.Client(base_url=url, timeout=30) as http:
        for tip in tips:
            body = tip.model_dump(include={"message", "school", "when_where", "urgent", "contact"}, exclude_none=True)
            response = http.post("/api/tips", json=body)
            response.raise_for_status()
    return len(tips)


WIDE = 120  # columns a six-column table needs before school names and sources stop wrapping letter by letter


def print_triage(console: Console, summary: DemoSummary, flagged: list[StoredDoc], limit: int = 40) -> None:
    if console.width < WIDE:  # a laptop terminal, or piped into a file or `less` (rich assumes 80)
        print_records(console, summary, flagged, limit)
    else:
        print_table(console, summary, flagged, limit)
    if len(flagged) > limit:
        console.print(f"… and {len(flagged) - limit} more in the store.")
    if summary.pages:
        paged = Table(title="pages sent (each roster channel points at the demo's loopback inbox)")
        paged.add_column("to")
        paged.add_column("title")
        for page in summary.pages:
            paged.add_row(safe_text(page["to"]), safe_text(page["title"]))
        console.print(paged)
    console.print(Text(
        f"crawled {summary.crawled} posts · {summary.tipped} tips through the tip line · classified {summary.classified} · flagged {summary.flagged} · "
        f"indexed {summary.indexed} · alerts {summary.alerts} · dead-lettered {summary.dead_lettered}\n"
        f"data: {summary.data_dir}"
    ))


def print_records(console: Console, summary: DemoSummary, flagged: list[StoredDoc], limit: int) -> None:
    """One block per item, full width for the text and the reasons: readable at 80 columns."""
    console.print(Text(f"threatline triage — {summary.flagged} flagged of {summary.ingested} ingested", style="bold"))
    for hit in flagged[:limit]:
        threat = hit.doc["threat"]
        head = Text("\n")
        head.append(threat["severity"], style=SEVERITY_STYLE.get(threat["severity"], ""))
        head.append(f" {threat['category']} · ")
        head.append_text(safe_text(threat.get("school") or "no school named"))
        head.append(" · ")
        head.append_text(safe_text(hit.doc["event"]["provider"]))
        console.print(head)
        # Untrusted text goes in as Text, never as markup, its control characters shown not obeyed.
        console.print(Padding(safe_text(_excerpt(hit.doc["message"])), (0, 0, 0, 2)))
        for line in threat.get("explanation", [])[:3]:
            console.print(Padding(Text("· ", style="dim").append_text(safe_text(line)), (0, 0, 0, 2)))


def print_table(console: Console, summary: DemoSummary, flagged: list[StoredDoc], limit: int) -> None:
    table = Table(title=f"threatline triage — {summary.flagged} flagged of {summary.ingested} ingested",
                  show_lines=True, expand=True)
    for column, ratio in (("sev", 0), ("category", 0), ("school", 1), ("source", 1), ("text", 3), ("why", 3)):
        table.add_column(column, ratio=ratio or None, no_wrap=not ratio, overflow="fold")
    for hit in flagged[:limit]:
        threat = hit.doc["threat"]
        severity = threat["severity"]
        # Untrusted text goes in as Text, never as markup, its control characters shown not obeyed.
        table.add_row(
            Text(severity, style=SEVERITY_STYLE.get(severity, "")),
            Text(threat["category"]),
            safe_text(threat.get("school") or "—"),
            safe_text(hit.doc["event"]["provider"]),
            safe_text(_excerpt(hit.doc["message"])),
            safe_text("\n".join(threat.get("explanation", [])[:3])),
        )
    console.print(table)


def _excerpt(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
