"""Bulk-index flagged-item documents into both store adapters and compare throughput.

    .venv/bin/python bench/store_bulk.py [--docs 20000] [--batch 500]

Embedded: a fresh SQLite file (WAL, synchronous=FULL) in a temporary directory. Elasticsearch:
an osmem server started here (DESIGN.md §5), so the number measures the adapter plus osmem on
loopback, not a real cluster. Every batch is refreshed before the next one, as in production.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fixtures_search import realistic_documents  # noqa: E402
from servers_osmem import es_client, osmem_server  # noqa: E402

from pipeline.store import ItemQuery, Store  # noqa: E402
from pipeline.store.elasticsearch import ElasticsearchStore  # noqa: E402
from pipeline.store.embedded import EmbeddedStore  # noqa: E402


def bulk_rate(open_store: Callable[[], Store], docs: list[dict], batch: int) -> float:
    """Docs per second for indexing ``docs`` in batches; checks every doc landed once."""
    with open_store() as store:
        store.setup()
        start = time.perf_counter()
        created = sum(store.index_items(docs[i:i + batch]) for i in range(0, len(docs), batch))
        elapsed = time.perf_counter() - start
        total = store.search_items(ItemQuery(size=0)).total
        if created != len(docs) or total != len(docs):
            raise SystemExit(f"{type(store).__name__}: created {created}, found {total}, expected {len(docs)}")
        return len(docs) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()

    docs = realistic_documents(args.docs, seed=2024)
    with tempfile.TemporaryDirectory() as tmp:
        embedded = bulk_rate(lambda: EmbeddedStore(Path(tmp) / "store.sqlite3"), docs, args.batch)
    with osmem_server() as url:
        elastic = bulk_rate(lambda: ElasticsearchStore(es_client(url, request_timeout=60), index_prefix="bench"),
                            docs, args.batch)

    print(f"store bulk index: {args.docs} docs, batches of {args.batch}")
    print(f"  {'embedded (SQLite+FTS5)':<28}{embedded:>10,.0f} docs/s")
    print(f"  {'elasticsearch (osmem)':<28}{elastic:>10,.0f} docs/s")
    print(f"  embedded / elasticsearch ratio: {embedded / elastic:.2f}x")


if __name__ == "__main__":
    main()
