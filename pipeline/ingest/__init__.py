"""Public-post ingestion: Scrapy spiders per source kind, an item pipeline onto ``posts.raw``.

Modules, one job each:
- ``sources``: ``config/sources.yaml`` (kinds, politeness knobs, default terms from the gazetteer)
- ``text``: HTML stripping and date parsing shared by the spiders
- ``state``: per-source incremental state (cursor, last id, ETag) and the seen-id set
- ``middlewares``: retries with backoff that honour ``Retry-After``
- ``spiders/``: one spider per kind, all yielding ``RawPost``
- ``pipelines``: dedupe + batched publish to the bus, with counts
- ``runner``: Scrapy settings per source and the in-process / subprocess crawl entrypoints
"""
