"""Mandrill's webhooks, received by the service over real HTTP, signed as Mandrill
documents it; and the metrics it serves, read back with Prometheus's own parser."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from console.cli import demo_config
from console.config import MetricsConfig, WebhooksConfig
from console.jobs import Pipeline
from console.secret import Secret
from console.service.run import Service
from console.sim import DEMO_KEY, ManualClock, SimServer
from console.sources.mandrill import MandrillClient
from console.store import Store
from console.webhook import signature

KEY = "gplJ8yWptFTqCoq5S1SHPA"
PATH = "/hooks/mandrill?source=mailops"


def mandrill_signature(url: str, fields: dict[str, str], key: str) -> str:
    """The documented algorithm, written out again here: URL, then each field's name and
    value sorted by name, HMAC-SHA1 with the key, base64 of the binary digest."""
    text = url
    for name in sorted(fields):
        text += name + fields[name]
    mac = hmac.new(key.encode(), text.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def test_the_signature_is_the_documented_one_and_openssl_agrees() -> None:
    url = "https://user:pw@ops.example.com/hooks/mandrill/?a=1&b=2"
    fields = {"mandrill_events": '[{"event":"spam","msg":{"_id":"é"}}]', "a_field": "x"}
    ours = signature(url, fields.items(), KEY)
    assert ours == mandrill_signature(url, fields, KEY)
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    signed = (url + "a_field" + "x" + "mandrill_events" + fields["mandrill_events"]).encode()
    out = subprocess.run(
        [openssl, "dgst", "-sha1", "-hmac", KEY, "-binary"],
        input=signed,
        capture_output=True,
        check=True,
    ).stdout
    assert ours == base64.b64encode(out).decode()
    assert signature(url.removesuffix("?a=1&b=2"), fields.items(), KEY) != ours  # the URL is signed


def event(kind: str, mid: str, ts: datetime, state: str = "sent", **msg: Any) -> dict[str, Any]:
    """A message event as Mandrill's documentation shows one."""
    body = {
        "ts": int(ts.timestamp()),
        "_id": mid,
        "state": state,
        "email": f"{mid}@example.net",
        "sender": "noreply@example.com",
        "subject": "Your receipt",
        "subaccount": "dandelion",
        "tags": ["receipt"],
        "metadata": {"user_id": 111},
        "opens": [],
        "clicks": [],
        **msg,
    }
    return {"event": kind, "_id": mid, "ts": int(ts.timestamp()) + 60, "msg": body}


@pytest.fixture
async def service(
    server: SimServer, store: Store, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Service]:
    monkeypatch.setenv("MAILOPS_WEBHOOK_KEY", KEY)
    cfg = demo_config(server.base_url, str(store.dir))
    cfg = replace(
        cfg,
        webhooks=WebhooksConfig(
            listen="127.0.0.1:0", url=f"http://127.0.0.1:1{PATH}", max_body_mb=2
        ),
        metrics=MetricsConfig(listen="127.0.0.1:0"),
    )
    client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=2, retries=0)
    p = Pipeline(client, store, cfg, clock=clock)
    s = Service(p)
    await s.start()
    s.jobs.scheduler.pause() if s.jobs.scheduler else None  # polls only when a test asks
    yield s
    await s.stop()
    await client.aclose()


def url_of(s: Service) -> str:
    host, port = s.bound["webhooks"]
    return f"http://{host}:{port}{PATH}"


async def post(
    s: Service, events: list[dict[str, Any]] | str, key: str | None = KEY, header: str = ""
) -> httpx.Response:
    """POST a batch as Mandrill does: a form with one field, signed over the configured URL."""
    text = events if isinstance(events, str) else json.dumps(events)
    fields = {"mandrill_events": text}
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if key is not None:
        headers["X-Mandrill-Signature"] = header or mandrill_signature(
            s.config.webhooks.url, fields, key
        )
    async with httpx.AsyncClient() as http:
        return await http.post(url_of(s), content=urlencode(fields), headers=headers)


def stored(store: Store) -> dict[str, int]:
    return store.feed_kind_counts()


async def test_head_answers_200_and_the_test_batch_is_accepted(service: Service) -> None:
    async with httpx.AsyncClient() as http:
        assert (await http.head(url_of(service))).status_code == 200
    assert (await post(service, [], key="test-webhook")).status_code == 200
    assert (await post(service, [])).status_code == 200
    # Mandrill's test key signs only the empty batch
    now = datetime.now(UTC)
    r = await post(service, [event("hard_bounce", "x1", now, "bounced")], key="test-webhook")
    assert r.status_code == 403


async def test_missing_or_wrong_signatures_store_nothing(service: Service) -> None:
    store = service.pipeline.store
    now = datetime.now(UTC)
    batch = [event("spam", "c1", now - timedelta(hours=1))]
    assert (await post(service, batch, key=None)).status_code == 403
    assert (await post(service, batch, key="not-the-key")).status_code == 403
    assert (await post(service, batch, header="AAAA")).status_code == 403
    other_url = mandrill_signature("http://127.0.0.1:1/other", {"mandrill_events": "[]"}, KEY)
    assert (await post(service, batch, header=other_url)).status_code == 403
    assert stored(store).get("spam", 0) == 0
    metrics = await scrape(service)
    rejected = metrics["mailops_webhook_rejected_total"]
    assert rejected[("reason", "missing_signature")] == 1
    assert rejected[("reason", "bad_signature")] == 3


async def test_a_full_batch_is_stored_once_however_often_it_comes(service: Service) -> None:
    store = service.pipeline.store
    now = datetime.now(UTC) - timedelta(hours=2)
    kinds = [("hard_bounce", "bounced"), ("soft_bounce", "soft-bounced"), ("spam", "sent"),
             ("unsub", "sent"), ("reject", "rejected"), ("deferral", "deferred"),
             ("send", "sent"), ("open", "sent"), ("click", "sent"),
             ("inbound_x", "odd")]  # fmt: skip
    batch = [
        event(kind, f"m{i:04d}", now + timedelta(seconds=i), state, diag="smtp;550 5.1.1 no")
        for i in range(1000)
        for kind, state in [kinds[i % len(kinds)]]
    ]
    batch[7]["extra_field_of_a_later_version"] = {"kept": True}
    r = await post(service, batch)
    assert r.status_code == 200, r.text
    first = stored(store)
    assert first["hard"] == 100 and first["soft"] == 100 and first["spam"] == 100
    assert first["unsub"] == 100 and first["reject"] == 100 and first["deferred"] == 100
    assert first["odd"] == 100  # a type this version does not know: kept, in its own state
    assert sum(first.values()) == 700  # sends are counted, not feed events; opens, clicks
    assert (await post(service, batch)).status_code == 200  # Mandrill's retry, or a replay
    assert stored(store) == first
    metrics = await scrape(service)
    events = metrics["mailops_webhook_events_total"]
    assert events[("event", "hard_bounce")] == 200 and events[("event", "other")] == 200
    receipt = store.get_snapshot("webhooks", dict[str, Any])
    assert receipt is not None and receipt[0]["events"] == 1000


async def test_an_event_the_poll_already_stored_is_not_counted_again(
    service: Service,
) -> None:
    p, store = service.pipeline, service.pipeline.store
    assert (await p.run("messages")).status.ok
    before = stored(store)
    page = store.feed_page(kind="hard", limit=5)
    assert page.events, "the scenario bounces some mail"
    batch = [
        event("hard_bounce", m.message_id, m.ts, "bounced", email=m.email) for m in page.events
    ]
    assert (await post(service, batch)).status_code == 200
    assert stored(store) == before


async def test_a_batch_over_the_limit_is_413_and_garbage_is_400(service: Service) -> None:
    big = json.dumps([event("send", "b", datetime.now(UTC), pad="x" * 3_000_000)])
    assert (await post(service, big)).status_code == 413
    assert (await post(service, "{not json")).status_code == 400
    assert (await post(service, '{"an": "object"}')).status_code == 400


async def test_the_alerts_see_a_complaint_within_the_batch(service: Service) -> None:
    p = service.pipeline
    for name in ("account", "subaccounts"):
        assert (await p.run(name)).status.ok
    now = p.clock() - timedelta(minutes=30)
    batch = [event("spam", f"s{i}", now, "sent", subaccount="quiet-customer") for i in range(5)]
    assert (await post(service, batch)).status_code == 200
    assert stored(p.store)["spam"] >= 5
    assert p.statuses["webhooks"].ok


async def scrape(s: Service) -> dict[str, dict[tuple[str, ...], float]]:
    host, port = s.bound["metrics"]
    async with httpx.AsyncClient() as http:
        r = await http.get(f"http://{host}:{port}/metrics")
    assert r.status_code == 200
    out: dict[str, dict[tuple[str, ...], float]] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            labels = tuple(x for kv in sorted(sample.labels.items()) for x in kv)
            out.setdefault(sample.name, {})[labels] = sample.value
    return out


async def test_metrics_say_what_is_known_and_leave_out_what_is_not(service: Service) -> None:
    before = await scrape(service)
    assert "mailops_account_reputation" not in before  # not polled yet: absent, not 0
    assert "mailops_blocklist_listed" not in before
    assert "mailops_source_up" not in before
    assert before["mailops_alerts_open"] == {
        ("severity", "critical"): 0,
        ("severity", "warning"): 0,
    }
    p = service.pipeline
    for name in ("account", "ips", "subaccounts", "messages"):
        assert (await p.run(name)).status.ok
    after = await scrape(service)
    assert after["mailops_account_reputation"][()] == 84
    assert after["mailops_subaccount_reputation"][("subaccount", "dandelion")] >= 0
    ratio = after["mailops_ip_delivery_ratio"]
    assert 0.9 < ratio[("ip", "203.0.113.25", "pool", "Main Pool")] <= 1
    assert after["mailops_ip_messages"][("ip", "203.0.113.25", "pool", "Main Pool")] > 1000
    assert after["mailops_source_up"][("source", "account")] == 1
    assert after["mailops_source_last_success_timestamp_seconds"][("source", "account")] > 0


async def test_batches_during_polls_are_all_stored_once(service: Service) -> None:
    """Batches land while polls of the same messages write: each event once, none lost."""
    p, store = service.pipeline, service.pipeline.store
    assert (await p.run("messages")).status.ok
    known = store.feed_page(kind="hard", limit=50).events
    start = datetime.now(UTC) - timedelta(hours=1)
    fresh = [event("spam", f"new{i}", start + timedelta(seconds=i)) for i in range(400)]
    again = [event("hard_bounce", m.message_id, m.ts, "bounced") for m in known]
    before = stored(store)
    results = await asyncio.gather(
        p.run("messages"),
        p.run("rescan"),
        post(service, fresh[:200] + again),
        post(service, fresh[200:]),
        post(service, fresh[:200]),  # a retry racing the first
    )
    assert all(r.status_code == 200 for r in results[2:])
    after = stored(store)
    assert after["spam"] - before.get("spam", 0) >= 400
    assert after["hard"] - before.get("hard", 0) >= 0
    # exactly once: the 400 new complaints, plus whatever new the two polls brought
    polled_spam = {e.message_id for e in store.feed_page(kind="spam", limit=100000).events}
    assert {f"new{i}" for i in range(400)} <= polled_spam
    assert after["spam"] == len(polled_spam)
