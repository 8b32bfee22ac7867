"""Public-post ingestion: Scrapy spiders per source kind, an item pipeline onto ``posts.raw``.

Modules, one job each:
- ``sources``: ``config/sources.yaml`` (kinds, politeness knobs, default terms from the gazetteer)
- ``text``: HTML stripping and date parsing shared by the spiders
- ``state``: per-source incremental state (cursor, last id, ETag) and the shared seen-key set
- ``items``: ``Harvest``, a RawPost with the key it is deduplicated on across sources
- ``middlewares``: retries with backoff that honour ``Retry-After``
- ``spiders/``: one spider per kind, all yielding ``Harvest``
- ``pipelines``: dedupe + batched publish to the bus, with counts
- ``runner``: Scrapy settings per source, ``select``, the in-process ``crawl`` and
  ``crawl_in_subprocess`` (with a line protocol for live progress)
"""
