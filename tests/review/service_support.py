"""Helpers for the review service-layer tests (the console tests have console_support.py): flagged items, a pager with a movable clock, tip threads."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from clocks import Clock
from rosters import webhook_roster

from pipeline.alerts.pager import Pager, PagerPolicy
from pipeline.alerts.roster import load_roster
from pipeline.alerts.rules import load_rules
from pipeline.config import DEFAULT_CONFIG
from pipeline.nlp.gazetteer import school_names
from pipeline.schema import ScoredItem, item_document
from pipeline.tipline import passphrase
from pipeline.tipline.threads import SqliteThreadStore

CONFIG = DEFAULT_CONFIG.parent
SCHOOLS = school_names(CONFIG / "schools.yaml")
LINCOLN = "Lincoln High School"
START = datetime(2026, 3, 4, 16, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Chicago
CONTACT = "call me at 555-0100"
TIP_CODE = "K7Q2M4XPAB"
PASSPHRASE = "maple-river-otter-cloud"




def scored(item_id: str, *, category: str = "violence", severity: str = "P1", kind: str = "post",
           author: str | None = "kid1", source: str = "reddit:lincolnhigh", text: str | None = None,
           at: datetime = START, **extra) -> ScoredItem:
    tip = kind == "tip"
    values = dict(id=item_id, kind=kind, text=text or f"bringing a gun to lincoln tomorrow ({item_id})",
                  source="tipline" if tip else source, source_kind="tipline" if tip else source.split(":")[0],
                  author=None if tip else author, created_at=at, threat_score=0.95, self_harm_score=0.1,
                  severity=severity, category=category, school=LINCOLN, school_relevance=1.0, model_version="test",
                  explanation=["threat cue: bring a gun"],
                  tip_code=TIP_CODE if tip else None, tip_contact=CONTACT if tip else None)
    return ScoredItem(**(values | extra))


def index(store, *items: ScoredItem) -> None:
    store.index_items([item_document(i) for i in items])


def version(store, item_id: str) -> str:
    return store.get_item(item_id).version


def build_pager(store, tmp_path: Path, clock: Clock, sent: list) -> Pager:
    """The shipped routing rules; sro1 on duty everywhere, admin1 ending every chain; messages
    land in ``sent``."""
    roster = webhook_roster(tmp_path / "roster.yaml", "127.0.0.1:9")
    return Pager(store, load_roster(roster, SCHOOLS), load_rules(CONFIG / "alert_rules.yaml", SCHOOLS),
                 PagerPolicy(ack_secrets=["s" * 40], console_url="https://review.example.org"),
                 clock=clock, sleep=lambda _: None, notify=lambda url, title, message: sent.append((url, message.text)) or True)


def open_thread_store(tmp_path: Path, code: str = TIP_CODE,
                      first: str = "someone said he'd bring a gun") -> SqliteThreadStore:
    threads = SqliteThreadStore(tmp_path / "tipline.sqlite3")
    salt = passphrase.new_salt()
    threads.create(code, "tip-1", salt, passphrase.hash_passphrase(PASSPHRASE, salt), LINCOLN, first)
    return threads
