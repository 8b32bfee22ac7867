"""The osmem stand-in for Elasticsearch (DESIGN.md §5): a launcher and a client that it accepts.

Test-only code; ``pipeline/`` never imports it. The bench reuses it by putting ``tests/`` on
``sys.path``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from elastic_transport import Urllib3HttpNode
from elasticsearch import Elasticsearch
from osmem_server import OsmemServer

# elasticsearch-py 9 sends e.g. "application/vnd.elasticsearch+x-ndjson; compatible-with=9";
# osmem answers those with 406, so the plain type underneath is sent instead.
_VENDOR_MEDIA_TYPE = re.compile(r"application/vnd\.elasticsearch\+([\w.-]+)(\s*;\s*compatible-with=\d+)?")


def plain_media_type(value: str) -> str:
    return _VENDOR_MEDIA_TYPE.sub(r"application/\1", value)


class PlainJsonNode(Urllib3HttpNode):
    """A transport node that rewrites the vendor media types to plain ``application/json``."""

    def perform_request(self, method, target, body=None, headers=None, **kwargs):
        if headers:
            headers = headers.copy()
            for name in ("accept", "content-type"):
                if name in headers:
                    headers[name] = plain_media_type(headers[name])
        return super().perform_request(method, target, body=body, headers=headers, **kwargs)


def es_client(url: str, **kwargs) -> Elasticsearch:
    """An ``Elasticsearch`` client for an osmem URL."""
    kwargs.setdefault("request_timeout", 10)
    return Elasticsearch(url, node_class=PlainJsonNode, **kwargs)


@contextmanager
def osmem_server() -> Iterator[str]:
    """Start an empty, writable osmem-server on an ephemeral loopback port; yield its base URL.

    Reuses the wheel's own launcher: it binds ``127.0.0.1:0``, waits for the ready line and makes
    the server exit with this process, so a crashed test run leaves no orphan behind.
    """
    server = OsmemServer.start(freeze=False, japanese=False, addr="127.0.0.1:0")
    try:
        yield server.url
    finally:
        server.close()
