"""Store fixtures: the osmem server for the session and ``store_factory`` over both adapters.

Also the realistic flagged-item generator the store tests and ``bench/store_bulk.py`` share.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from servers_osmem import es_client, osmem_server

from pipeline.schema import ScoredItem, item_document, stable_id
from pipeline.store import Store
from pipeline.store.elasticsearch import ElasticsearchStore
from pipeline.store.embedded import EmbeddedStore

__all__ = ["osmem_url", "store_factory", "StoreFactory", "flagged_item", "realistic_documents"]


@pytest.fixture(scope="session")
def osmem_url():
    """One writable osmem server for the whole session (tests separate by index prefix)."""
    with osmem_server() as url:
        yield url


class StoreFactory:
    """Opens fresh ``Store`` objects on one backing data set (one SQLite file, or one osmem index
    prefix), each set up; closes them all at teardown."""

    def __init__(self, backend: str, *, sqlite_path: Path | None = None, url: str | None = None):
        self.backend = backend
        self.sqlite_path = sqlite_path
        self.url = url
        self.index_prefix = f"t{uuid.uuid4().hex[:12]}"
        self._opened: list[Store] = []

    def __call__(self, **options: Any) -> Store:
        if self.backend == "embedded":
            store: Store = EmbeddedStore(self.sqlite_path, **options)
        else:
            options.setdefault("backoff_initial_s", 0.01)
            store = ElasticsearchStore(es_client(self.url), index_prefix=self.index_prefix, **options)
        self._opened.append(store)
        store.setup()
        return store

    def close(self) -> None:
        for store in self._opened:
            store.close()
        if self.backend == "elasticsearch":
            client = es_client(self.url)
            try:  # osmem keeps everything in memory: leave it as empty as we found it
                client.options(ignore_status=404).indices.delete(index=f"{self.index_prefix}-*")
                for kind in ("flagged", "alerts", "audit"):
                    client.options(ignore_status=404).indices.delete_index_template(name=f"{self.index_prefix}-{kind}")
            finally:
                client.close()


@pytest.fixture(params=["embedded", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)])
def store_factory(request, tmp_path):
    if request.param == "embedded":
        factory = StoreFactory("embedded", sqlite_path=tmp_path / "store.sqlite3")
    else:
        factory = StoreFactory("elasticsearch", url=request.getfixturevalue("osmem_url"))
    yield factory
    factory.close()


# --- realistic flagged items ------------------------------------------------------------------

SCHOOLS = ["Lincoln High", "Roosevelt Middle", "Jefferson Elementary", "Westview Academy", "Eastside High"]
SOURCES = ["reddit:lincolnhigh", "mastodon:district.social", "rss:local-news", "bluesky:students", "tipline"]
_OPENERS = ["honestly", "ngl", "fr", "so", "listen", "idk", "ok but", "lol", "not gonna lie", "real talk"]
_THREATS = [
    ("violence", "P1", "im bringing my dads gun to {school} tomorrow at lunch and everyone in the cafeteria is done"),
    ("violence", "P1", "going to shoot up {school} friday, dont come to school"),
    ("violence", "P2", "someone should teach those kids at {school} a lesson they wont forget, i know where they park"),
    ("weapons", "P2", "got a knife in my locker at {school} in case anybody tries something again"),
    ("self_harm", "P2", "i cant do this anymore, after school today im ending it, nobody at {school} will notice"),
    ("bullying", "P3", "everyone at {school} should spam her account until she deletes it, she deserves it"),
    ("drugs", "P3", "selling carts behind the gym at {school}, dm me before 3rd period"),
    ("violence", "P3", "that math test at {school} is going to kill me, i swear im dead tired"),
    ("violence", "P3", "we are going to destroy {school} in the game tonight, shooting hoops till midnight"),
    ("bullying", "P3", "the kids in the back of the bus at {school} keep threatening him every day"),
]
_CLOSERS = ["", "", " seriously", " not joking", " watch", " 💀", " 🔫", " idc anymore", " you'll see", " smh"]
_EXPLANATIONS = {
    "violence": ["threat verb: shoot", "target: school", "time: tomorrow", "weapon mention: gun"],
    "weapons": ["weapon mention: knife", "place: locker"],
    "self_harm": ["self-harm cue: ending it", "time: after school"],
    "bullying": ["harassment cue: spam her account", "group target"],
    "drugs": ["drug term: carts", "place: behind the gym"],
}
_SCORES = {"P1": (0.86, 0.99), "P2": (0.6, 0.85), "P3": (0.3, 0.6)}


def flagged_item(
    text: str,
    *,
    native_id: str | None = None,
    source: str = "reddit:lincolnhigh",
    severity: str = "P3",
    category: str = "violence",
    school: str | None = "Lincoln High",
    score: float = 0.5,
    at: datetime | None = None,
    explanation: list[str] | None = None,
    kind: str = "post",
) -> dict[str, Any]:
    """The store document of one classified item, built the way the index stage builds it."""
    item = ScoredItem(
        id=stable_id(source, native_id or text),
        kind=kind,
        text=text,
        source=source,
        source_kind=source.split(":")[0],
        url=f"https://example.org/{source.replace(':', '/')}/{native_id or 'x'}" if kind == "post" else None,
        author="user_" + stable_id(text)[:6] if kind == "post" else None,
        created_at=at or datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        threat_score=score,
        self_harm_score=0.9 if category == "self_harm" else 0.05,
        severity=severity,
        category=category,
        school=school,
        school_relevance=0.9 if school else 0.1,
        explanation=explanation if explanation is not None else [f"category: {category}"],
        cues=[category],
        model_version="lexicon-2024.05",
        tip_code="ABCDEFGH23" if kind == "tip" else None,
    )
    return item_document(item)


def realistic_documents(count: int, *, seed: int = 7, start: datetime | None = None) -> list[dict[str, Any]]:
    """``count`` varied flagged-item documents spread over about a month, reproducible by seed."""
    rng = random.Random(seed)
    start = start or datetime(2024, 4, 1, tzinfo=UTC)
    docs = []
    for n in range(count):
        category, severity, template = rng.choice(_THREATS)
        school = rng.choice(SCHOOLS)
        source = rng.choice(SOURCES)
        low, high = _SCORES[severity]
        text = f"{rng.choice(_OPENERS)} {template.format(school=school)}{rng.choice(_CLOSERS)}"
        docs.append(flagged_item(
            text,
            native_id=f"{seed}-{n}",
            source=source,
            severity=severity,
            category=category,
            school=school if rng.random() < 0.9 else None,
            score=round(rng.uniform(low, high), 4),
            at=start + timedelta(seconds=rng.randrange(30 * 86_400)),
            explanation=rng.sample(_EXPLANATIONS.get(category, ["lexicon match"]), k=1) + [f"school: {school}"],
            kind="tip" if source == "tipline" else "post",
        ))
    return docs
