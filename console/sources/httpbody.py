"""Reading an HTTP answer with a size cap, under one deadline for the whole exchange.

httpx reads a whole body into memory, and its timeout is per socket read: an
endless body grows the process until the kernel kills it, and a server that
trickles a byte every few seconds holds a request for ever. Every HTTP source
streams the body through `read_capped` instead, inside `asyncio.timeout`, so
what a server may cost is bounded by the cap (bytes) and the deadline (time).
"""

from __future__ import annotations

import httpx


class BodyTooLarge(Exception):
    """The answer passed its cap: `declared` when its Content-Length said so up front."""

    def __init__(self, limit: int, declared: bool) -> None:
        super().__init__(f"over {limit} bytes")
        self.limit = limit
        self.declared = declared


async def read_capped(resp: httpx.Response, limit: int) -> bytes:
    """The (decoded) body of a streamed response, or BodyTooLarge as soon as it passes
    `limit` bytes; a Content-Length above the cap fails before any of it is read."""
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit, declared=True)
    buf = bytearray()
    async for chunk in resp.aiter_bytes():
        buf += chunk
        if len(buf) > limit:
            raise BodyTooLarge(limit, declared=False)
    return bytes(buf)
