"""Fault soak: the polls against a simulator failing 20 % of the time, in every way it can.

Small by default (CI); MAILOPS_SOAK_POLLS=10000 makes it the long run. Faults:
named errors (GeneralError, ServiceUnavailable, RequestLimitExceeded) in the
current and the legacy form, bare 5xx, connection resets, timeouts, malformed
and truncated JSON. Afterwards the store is compared with the simulator's
ground truth: every message counted exactly once, every bounce, reject,
complaint and unsubscribe in the feed exactly once; and every source is fresh
again on its first poll once the faults stop.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from console.cli import demo_config
from console.jobs import Pipeline
from console.model import MessageEvent
from console.registry import SOURCES
from console.secret import Secret
from console.sim import DEMO_KEY, ManualClock, SimServer, Simulator, scenario_named
from console.sources.mandrill import MandrillClient
from console.store import Store
from console.wire import parse_message

#: the Mandrill data sets, from the registry
MANDRILL_SOURCES = tuple(s.name for s in SOURCES if s.family == "mandrill")

FEED_STATES = {"bounced", "soft-bounced", "rejected", "spam", "unsub"}


async def no_sleep(_: float) -> None:
    return None


def set_faults(sim: Simulator, rng: random.Random, on: bool) -> None:
    k = sim.knobs
    share = 0.2 / 7 if on else 0.0  # seven kinds of fault, 20 % in all
    k.error_rate = share
    k.error_name = rng.choice(("GeneralError", "ServiceUnavailable", "RequestLimitExceeded"))
    k.error_style = rng.choice(("current", "legacy"))
    k.bare_5xx_rate = k.reset_rate = k.malformed_rate = k.truncated_rate = share
    k.stall_rate, k.stall_seconds = share, 0.6


async def test_fault_soak_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    polls = int(os.environ.get("MAILOPS_SOAK_POLLS", "240"))
    sc = scenario_named("default")
    clock = ManualClock(sc.start + timedelta(hours=2))
    sim = Simulator(sc, clock)
    rng = random.Random(7)
    with SimServer(sim) as srv, Store(tmp_path / "state", clock=clock) as store:
        cfg = demo_config(srv.base_url, str(store.dir))
        cfg = replace(cfg, mandrill=replace(cfg.mandrill, rescan_hours=48, max_search_calls=30))
        client = MandrillClient(
            srv.base_url, Secret(DEMO_KEY), timeout=0.4, retries=1, sleep=no_sleep
        )
        p = Pipeline(client, store, cfg, clock=clock, backfill_hours=1)
        start = clock() - timedelta(hours=1)
        failures: Counter[str] = Counter()
        for i in range(polls):
            set_faults(sim, rng, on=True)
            name = "messages" if i % 3 else rng.choice(MANDRILL_SOURCES)
            u = await p.run(name)  # a failure is a status, never an exception
            if not u.status.ok:
                failures[name] += 1
            clock.advance(seconds=20)
        assert sum(failures.values()) >= 1, failures  # faults got past the retries too
        # faults stop: every source is fresh again on its first poll
        set_faults(sim, rng, on=False)
        for name in MANDRILL_SOURCES:
            u = await p.run(name)
            assert u.status.ok, (name, u.status.error)
        for _ in range(5):  # the late-state rescan may need more than one pass
            if (await p.run("rescan")).status.ok and store.get_cursor("rescan") == -1:
                break
        now = clock()
        await client.aclose()
        # ground truth: the scenario's messages from the backfill start until now
        lo = int(start.replace(minute=0, second=0, microsecond=0).timestamp()) + 3600
        truth: list[MessageEvent | None] = []
        for idx in sc.index_range(lo, now.timestamp()):
            o = sc.outcome(idx)
            item = sc.item(o, now) if lo <= o.ts <= now.timestamp() else None
            if item is not None and item.get("channel") != "sms":
                truth.append(parse_message(item))
        counted = sum(
            sum(c.values())
            for c in store.ip_counts(
                start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1), now
            ).values()
        )
        assert counted == len(truth)  # every message once: none lost, none twice
        events = store.recent_events(10**7)
        keys = [e.key for e in events]
        assert len(keys) == len(set(keys))  # no event twice
        shown = {(e.message_id, e.state) for e in events}
        missing = [
            (m.message_id, m.state)
            for m in truth
            if m is not None and m.state in FEED_STATES and (m.message_id, m.state) not in shown
        ]
        assert missing == []
