"""`mailops serve` as a process: it starts, takes batches while it polls, stops cleanly on
SIGTERM, and a kill -9 in the middle of a batch loses nothing once Mandrill retries it."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from console.sim import DEMO_KEY, SimServer
from console.store import Store
from tests.helpers import free_port, offline_config, stop_process
from tests.sources.test_webhooks import KEY, event, mandrill_signature

PATH = "/mandrill/events"


class Served:
    """One `mailops serve` process on a config of its own."""

    def __init__(self, tmp_path: Path, base_url: str) -> None:
        self.port, self.metrics_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}{PATH}"
        extra = (
            f'[webhooks]\nlisten = "127.0.0.1:{self.port}"\nurl = "{self.url}"\n'
            f'[metrics]\nlisten = "127.0.0.1:{self.metrics_port}"\n'
            "[mandrill.poll]\nmessages = 3600\nrescan = 3600\n"  # searches at start only
        )
        self.config = offline_config(tmp_path, base_url, extra)
        self.state = tmp_path / "state"
        self.log = tmp_path / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "MANDRILL_API_KEY": DEMO_KEY, "MAILOPS_WEBHOOK_KEY": KEY}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "console", "serve", "--config", str(self.config)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=env,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.head(self.url, timeout=1).status_code == 200:
                    return self.proc
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError(f"serve did not start: {self.log.read_text()}")

    def post(self, events: list[dict[str, Any]], timeout: float = 30) -> httpx.Response:
        fields = {"mandrill_events": json.dumps(events)}
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Mandrill-Signature": mandrill_signature(self.url, fields, KEY),
        }
        return httpx.post(self.url, content=urlencode(fields), headers=headers, timeout=timeout)


@pytest.fixture
def served(tmp_path: Path, server: SimServer) -> Iterator[Served]:
    s = Served(tmp_path, server.base_url)
    yield s
    if s.proc is not None and s.proc.poll() is None:
        stop_process(s.proc)


def batch_of(n: int, prefix: str) -> list[dict[str, Any]]:
    start = datetime.now(UTC) - timedelta(hours=1)
    kinds = [("hard_bounce", "bounced"), ("spam", "sent"), ("soft_bounce", "soft-bounced")]
    return [
        event(kinds[i % 3][0], f"{prefix}{i:05d}", start + timedelta(seconds=i), kinds[i % 3][1])
        for i in range(n)
    ]


def post_quietly(served: Served, batch: list[dict[str, Any]]) -> None:
    """Post a batch whose process is about to be killed: no answer is expected."""
    try:
        served.post(batch)
    except httpx.TransportError:
        pass  # the connection died with the process


def stored_counts(state: Path) -> dict[str, int]:
    store = Store(state, read_only=True).open()
    try:
        return store.feed_kind_counts()
    finally:
        store.close()


def test_serve_stops_cleanly_on_sigterm_with_the_batch_durable(served: Served) -> None:
    proc = served.start()
    r = served.post(batch_of(300, "t"))
    assert r.status_code == 200, r.text
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    log = served.log.read_text()
    assert "stopped; state committed" in log
    assert KEY not in log and DEMO_KEY not in log
    counts = stored_counts(served.state)
    assert counts["hard"] == 100 and counts["spam"] == 100 and counts["soft"] == 100


def test_a_second_serve_on_the_same_state_is_refused(served: Served, tmp_path: Path) -> None:
    served.start()
    env = {**os.environ, "MANDRILL_API_KEY": DEMO_KEY, "MAILOPS_WEBHOOK_KEY": KEY}
    other = subprocess.run(
        [sys.executable, "-m", "console", "serve", "--config", str(served.config)],
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert other.returncode == 3
    assert b"only writer" in other.stderr


def test_serve_without_the_webhook_key_says_where_to_put_it(served: Served) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MAILOPS_WEBHOOK_KEY"}
    out = subprocess.run(
        [sys.executable, "-m", "console", "serve", "--config", str(served.config)],
        capture_output=True,
        env={**env, "MANDRILL_API_KEY": DEMO_KEY},
        timeout=60,
    )
    assert out.returncode == 3
    assert b"$MAILOPS_WEBHOOK_KEY" in out.stderr and b"Traceback" not in out.stderr


def test_kill_9_in_the_middle_of_a_batch_then_the_retry_stores_each_event_once(
    served: Served,
) -> None:
    rounds = int(os.environ.get("MAILOPS_WEBHOOK_CRASH_ROUNDS", "3"))
    rng = random.Random(7)
    batches = [batch_of(1000, f"k{r}-") for r in range(rounds)]
    for batch in batches:
        proc = served.start()
        sender = threading.Thread(target=post_quietly, args=(served, batch))
        sender.start()
        time.sleep(rng.uniform(0.0, 0.4))
        proc.kill()  # SIGKILL: no handler, no last commit
        proc.wait(timeout=10)
        sender.join(timeout=30)
        served.start()  # Mandrill retries a batch it had no 200 for (and we retry all)
        assert served.post(batch).status_code == 200
        stop_process(served.proc)  # type: ignore[arg-type]
    counts = stored_counts(served.state)
    assert counts["hard"] == sum(1 for b in batches for e in b if e["event"] == "hard_bounce")
    assert counts["spam"] == sum(1 for b in batches for e in b if e["event"] == "spam")
    assert counts["soft"] == sum(1 for b in batches for e in b if e["event"] == "soft_bounce")


def test_check_answers_from_the_running_service_instead_of_polling_again(
    served: Served, server: SimServer
) -> None:
    served.start()
    env = {**os.environ, "MANDRILL_API_KEY": DEMO_KEY}
    argv = [sys.executable, "-m", "console", "check", "--json", "--config", str(served.config)]
    deadline = time.monotonic() + 60
    report: dict[str, Any] = {}
    while time.monotonic() < deadline:  # until the service has polled every source once
        out = subprocess.run(argv, capture_output=True, env=env, timeout=120)
        report = json.loads(out.stdout)
        if report.get("from_service"):
            break
        time.sleep(0.5)
    origin = report["from_service"]
    assert origin is not None, report
    assert served.proc is not None and origin["pid"] == served.proc.pid
    assert 0 <= origin["age_s"] < 120
    assert report["account"]["reputation"] == 84  # the service's data, read from its state
    searches = server.sim.calls["messages/search"]
    text = subprocess.run(argv[:4] + argv[5:], capture_output=True, env=env, timeout=120)
    assert b"from the running mailops service" in text.stdout, text.stdout
    assert server.sim.calls["messages/search"] == searches  # no second read on the key
