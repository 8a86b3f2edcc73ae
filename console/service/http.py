"""The service's HTTP side, on aiohttp: Mandrill's webhook and Prometheus's /metrics.

aiohttp serves on the service's own event loop (where the scheduler's polls run), caps a
request body before reading it, and parses the form Mandrill posts. The webhook answers:

- HEAD: 200 (Mandrill checks a new URL with it);
- POST with a good signature: 200 once the batch is durable; 403 (nothing stored) for a
  missing or wrong one; 413 past `[webhooks] max_body_mb`; 400 for a body that is not
  Mandrill's form; 500 when the batch could not be stored (Mandrill retries it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from console.secret import Secret
from console.service.metrics import WebhookCounters
from console.textsafe import visible
from console.webhook import (
    SIGNATURE_HEADERS,
    TEST_KEY,
    WebhookBatch,
    WebhookRejected,
    parse_batch,
    signed_by,
)

log = logging.getLogger(__name__)

Receive = Callable[[WebhookBatch], Awaitable[object]]


@dataclass(frozen=True)
class WebhookEndpoint:
    """What the webhook handler needs: the signed URL, the key, the limit, where to put it."""

    url: str
    key: Secret
    max_body: int
    receive: Receive
    counters: WebhookCounters


def webhook_app(endpoint: WebhookEndpoint, path: str) -> web.Application:
    """The webhook's application: HEAD and POST on the path of the configured URL."""
    app = web.Application(client_max_size=endpoint.max_body)
    handler = _Webhook(endpoint)
    app.router.add_route("HEAD", path or "/", handler.head)
    app.router.add_route("POST", path or "/", handler.post)
    return app


def metrics_app(registry: CollectorRegistry) -> web.Application:
    """GET /metrics: the registry in Prometheus's text format, built off the event loop."""

    async def metrics(request: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


class _Webhook:
    def __init__(self, endpoint: WebhookEndpoint) -> None:
        self.e = endpoint

    async def head(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def post(self, request: web.Request) -> web.Response:
        if (request.content_length or 0) > self.e.max_body:
            return self._refuse("too_large", 413, f"body over {self.e.max_body} bytes")
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            return self._refuse("too_large", 413, f"body over {self.e.max_body} bytes")
        except ValueError:
            return self._refuse("bad_form", 400, "not a form")
        fields = [(k, v) for k, v in form.items() if isinstance(v, str)]
        events = form.get("mandrill_events")
        header = next((request.headers[h] for h in SIGNATURE_HEADERS if h in request.headers), "")
        if not header:
            return self._refuse("missing_signature", 403, "no X-Mandrill-Signature")
        if not self._signed(fields, header, events):
            return self._refuse("bad_signature", 403, "wrong signature")
        if not isinstance(events, str):
            return self._refuse("bad_form", 400, "no mandrill_events field")
        try:
            batch = parse_batch(events)
        except WebhookRejected as exc:
            return self._refuse(exc.reason, 400, str(exc))
        try:
            await self.e.receive(batch)
        except Exception:  # a full disk, a bug: Mandrill keeps the batch and retries it
            log.exception("webhook batch of %d events could not be stored", batch.size)
            self.e.counters.refused("not_stored")
            return web.Response(status=500, text="not stored; retry\n")
        self.e.counters.taken(dict(batch.by_type))
        log.info("webhook batch: %d events, %d stored as messages", batch.size, len(batch.messages))
        return web.Response(status=200, text="ok\n")

    def _signed(self, fields: list[tuple[str, str]], header: str, events: object) -> bool:
        """Signed with the webhook's key; or the empty test batch, signed with Mandrill's
        literal test key."""
        if signed_by(self.e.url, fields, header, self.e.key.reveal()):
            return True
        test = isinstance(events, str) and events.strip() == "[]"
        return test and signed_by(self.e.url, fields, header, TEST_KEY)

    def _refuse(self, reason: str, status: int, why: str) -> web.Response:
        self.e.counters.refused(reason)
        log.warning("webhook request refused (%d): %s", status, visible(why))
        return web.Response(status=status, text=f"{why}\n")
