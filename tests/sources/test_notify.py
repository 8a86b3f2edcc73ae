"""Off-screen notifications against a real HTTP server on loopback and a real command."""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from console.model import Alert
from console.sim import ManualClock, SimServer
from console.sources.base import SourceError
from console.sources.notify import payload, post_webhook, run_command
from console.store import Store

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ALERT = Alert("k|1", "k", "blocklist", "198.51.100.13 on bl.spamcop.net", "critical",
              "listed", NOW, NOW, "critical")  # fmt: skip


class Hook:
    def __init__(self, statuses: list[int], delay: float = 0.0) -> None:
        self.statuses = statuses
        self.bodies: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(n)))
                if delay:
                    threading.Event().wait(delay)
                code = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(code)
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/SECRET-TOKEN"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def no_sleep(_: float) -> None:
    return None


async def test_webhook_posts_the_alert_and_retries_server_errors() -> None:
    hook = Hook([500, 503])
    try:
        await post_webhook(hook.url, payload(ALERT), sleep=no_sleep)
        assert len(hook.bodies) == 3
        assert hook.bodies[-1]["rule"] == "blocklist" and hook.bodies[-1]["severity"] == "critical"
    finally:
        hook.close()


async def test_webhook_failures_name_the_host_never_the_token() -> None:
    hook = Hook([404])
    try:
        with pytest.raises(SourceError) as exc:
            await post_webhook(hook.url, payload(ALERT), sleep=no_sleep)
        assert "HTTP 404" in exc.value.title and "after 1 tries" in exc.value.title
        assert "SECRET-TOKEN" not in exc.value.title and "127.0.0.1" in exc.value.title
    finally:
        hook.close()
    slow = Hook([], delay=1.0)
    try:
        with pytest.raises(SourceError, match=r"did not answer within 0.2s \(after 2 tries\)"):
            await post_webhook(slow.url, payload(ALERT), timeout=0.2, tries=2, sleep=no_sleep)
    finally:
        slow.close()


async def test_command_gets_the_alert_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    script = f"import sys, pathlib; pathlib.Path({str(out)!r}).write_text(sys.stdin.read())"
    await run_command(f"{sys.executable} -c {json.dumps(script)}", payload(ALERT))
    assert json.loads(out.read_text())["subject"] == "198.51.100.13 on bl.spamcop.net"
    with pytest.raises(SourceError, match="exited 3: boom"):
        cmd = f"{sys.executable} -c \"import sys; print('boom', file=sys.stderr); sys.exit(3)\""
        await run_command(cmd, payload(ALERT))
    with pytest.raises(SourceError, match=r"ran longer than 0\.3s"):
        await run_command(f"{sys.executable} -c 'import time; time.sleep(5)'", {}, timeout=0.3)
    with pytest.raises(SourceError, match="could not start"):
        await run_command("/nonexistent/pager", {})


async def test_a_new_critical_alert_notifies_once(
    server: SimServer, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    from dataclasses import replace

    from console.cli import demo_config
    from console.jobs import Pipeline
    from console.secret import Secret
    from console.sim import DEMO_KEY
    from console.sources.mandrill import MandrillClient
    from tests.helpers import wait_for

    hook = Hook([])
    try:
        cfg = demo_config(server.base_url, str(store.dir))
        cfg = replace(cfg, alerts=replace(cfg.alerts, webhook_url=hook.url))
        p = Pipeline(MandrillClient(server.base_url, Secret(DEMO_KEY)), store, cfg, clock=clock)
        for name in p.sources:
            await p.run(name)
        await wait_for(lambda: p.statuses.get("notify") is not None)
        subjects = [b["subject"] for b in hook.bodies]
        assert "customer dandelion" in subjects
        assert p.statuses["notify"].ok is True
        sent = len(hook.bodies)
        await p.run("subaccounts")  # still open: no second notification
        assert len(hook.bodies) == sent
        await p.client.aclose()
    finally:
        hook.close()
