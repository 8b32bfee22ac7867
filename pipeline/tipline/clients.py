"""Who a request comes from, for rate limiting only: the TCP peer, or behind a trusted reverse
proxy the address that proxy saw. The answer is hashed by the limiter and never stored or logged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import Request


class ClientAddress:
    def __init__(self, trusted_proxies: Iterable[str] = ()):
        self._proxies = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    def __call__(self, request: Request) -> str:
        peer = request.client.host if request.client else "unknown"
        if not self._trusted(peer):
            # Anyone can send X-Forwarded-For; only a proxy we run may tell us who the client is.
            return peer
        hops = [hop.strip() for header in request.headers.getlist("x-forwarded-for") for hop in header.split(",")]
        # Each proxy appends the address it saw, so the nearest untrusted hop is the client;
        # anything left of it was written by the client and proves nothing.
        for hop in reversed(hops):
            if hop and not self._trusted(hop):
                return hop
        return peer

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._proxies)
