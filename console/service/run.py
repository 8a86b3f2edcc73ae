"""`mailops serve`: every poll, rule, notification, seed schedule, DMARC import and content
check of the console, without a screen, as the one writer of the state dir; plus the
webhook receiver and the metrics endpoint when configured.

Logs go to stderr, one line an event (journald adds the time). SIGTERM or SIGINT stop
it: the listeners close first (no batch is taken that cannot be stored), then the polls
in flight are cancelled, then the state is committed once more.

Exit codes: 0 stopped by a signal; 3 unusable (bad config, missing key, the state dir in
use by another mailops, a listen address taken).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import CollectorRegistry

from console.checkreport import EXIT_OK, EXIT_UNUSABLE
from console.config import Config, ConfigError, parse_listen, resolve_webhook_key
from console.jobs import Jobs, Pipeline
from console.received import receive
from console.service.control import ControlServer, ServiceControl
from console.service.http import WebhookEndpoint, metrics_app, webhook_app
from console.service.metrics import StateCollector, WebhookCounters
from console.sources.control import socket_path
from console.textsafe import SafeFormatter
from console.webhook import WebhookBatch

log = logging.getLogger("mailops.serve")

MB = 1024 * 1024


def log_to_stderr() -> None:
    """One line an event on stderr, outside text made visible; no timestamp (journald's)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for chatty in ("httpx", "httpcore", "apscheduler", "aiohttp.access"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


class Service:
    """The pipeline's scheduler and the HTTP listeners, started and stopped together."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.config: Config = pipeline.config
        self.jobs = Jobs(pipeline)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(StateCollector(pipeline))
        self.counters = WebhookCounters(self.registry)
        self.runners: list[web.AppRunner] = []
        self.control = ControlServer(
            socket_path(pipeline.store.dir), ServiceControl(pipeline, self.jobs).handle
        )
        #: where each listener ended up ("webhooks"/"metrics" → host, port): port 0 in the
        #: config (tests) picks a free one
        self.bound: dict[str, tuple[str, int]] = {}

    async def start(self) -> None:
        """Listeners first (a taken port fails before any poll starts), then the polls."""
        w = self.config.webhooks
        if w.url:
            endpoint = WebhookEndpoint(
                url=w.url,
                key=resolve_webhook_key(self.config),
                max_body=int(w.max_body_mb * MB),
                receive=self._receive,
                counters=self.counters,
            )
            await self._listen("webhooks", w.listen, webhook_app(endpoint, urlsplit(w.url).path))
        if self.config.metrics.listen:
            await self._listen("metrics", self.config.metrics.listen, metrics_app(self.registry))
        await self.control.start()
        self.jobs.start()

    async def _receive(self, batch: WebhookBatch) -> None:
        await receive(self.pipeline, batch)

    async def _listen(self, name: str, listen: str, app: web.Application) -> None:
        host, port = parse_listen(listen)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self.runners.append(runner)
        site = web.TCPSite(runner, host, port)
        await site.start()
        addresses = runner.addresses  # the port the system picked, when the config says 0
        bound = int(addresses[0][1]) if addresses else port
        self.bound[name] = (host, bound)
        log.info("%s listening on %s:%d", name, host, bound)

    async def stop(self) -> None:
        await self.control.stop()
        for runner in self.runners:
            await runner.cleanup()
        self.runners.clear()
        await self.jobs.shutdown()
        await asyncio.to_thread(self.pipeline.store.commit)
        await self.pipeline.aclose()


async def serve(pipeline: Pipeline, *, started: Callable[[Service], None] | None = None) -> int:
    """Run until SIGTERM or SIGINT; the exit code."""
    service = Service(pipeline)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await service.start()
    except ConfigError as exc:
        log.error("%s", exc)
        await service.stop()
        return EXIT_UNUSABLE
    except OSError as exc:
        log.error("cannot listen: %s", exc.strerror or exc)
        await service.stop()
        return EXIT_UNUSABLE
    names = ", ".join(pipeline.sources)
    log.info("serving %s: polling %s", pipeline.store.dir, names)
    if started is not None:
        started(service)
    await stop.wait()
    log.info("stopping")
    await service.stop()
    log.info("stopped; state committed")
    return EXIT_OK
