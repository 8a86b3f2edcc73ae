"""The console at a large sender's scale: ingest cost, state size, memory, start-up, filter.

    .venv/bin/python benchmarks/store_scale.py [--messages 500000] [--events 500000]

Each figure is printed next to its target and, where the issue asks, a reference
measured in the same run:

- CPU time of one 1,000-message poll (ingest + commit) once the state already holds
  `--messages` messages of the heavy scenario (1M a day); target ≤ 50 ms;
- state size on disk, and peak RSS of a process holding `--events` feed events in
  the store and the feed; target ≤ 300 MB;
- start-up to the first painted frame on that state, next to a bare Textual app's;
  target ≤ 1.5× the bare app;
- the bounce-feed filter over `--events` events, per keystroke; target ≤ 100 ms.

Building the state is itself slow at full size (minutes): use smaller numbers for
a quick look; the per-poll figure is what grows with the state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def messages(n: int, hours_back: float = 20):
    from console.sim import scenario_named
    from console.wire import parse_message

    sc = scenario_named("heavy")
    now = sc.start + timedelta(hours=hours_back)
    out = []
    for j in sc.index_range(sc.start.timestamp(), now.timestamp()):
        item = sc.item(sc.outcome(j), now)
        if item and item.get("channel") != "sms":
            m = parse_message(item)
            if m is not None:
                out.append(m)
                if len(out) >= n:
                    break
    return sc, now, out


def bench_ingest(n: int, state: Path) -> dict[str, float]:
    from console.sim import ManualClock
    from console.store import Store

    _, now, msgs = messages(n + 5000)
    with Store(state, clock=ManualClock(now)) as st:
        t0 = time.perf_counter()
        for i in range(0, n, 50_000):  # build the state in big batches
            st.ingest(msgs[i : min(n, i + 50_000)])
            st.commit()
        build = time.perf_counter() - t0
        polls = []
        for k in range(5):  # then the polls the console makes: 1,000 messages each
            batch = msgs[n + k * 1000 : n + (k + 1) * 1000]
            c0 = time.process_time()
            st.ingest(batch)
            st.commit()
            polls.append(time.process_time() - c0)
    size = sum(p.stat().st_size for p in state.rglob("*") if p.is_file())
    return {
        "build_s": build,
        "poll_ms": 1000 * sorted(polls)[len(polls) // 2],
        "size_mb": size / 2**20,
    }


def child_rss(state: Path, events: int) -> dict[str, float]:
    """Peak RSS of a fresh process that opens the state and loads `events` feed events."""
    code = (
        f"import resource, sys, time; sys.path.insert(0, {str(ROOT)!r})\n"
        "from console.store import Store\n"
        "t0 = time.perf_counter()\n"
        f"st = Store(__import__('pathlib').Path({str(state)!r})).open()\n"
        f"ev = st.recent_events({events})\n"
        "print(len(ev), time.perf_counter() - t0, "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    n, secs, rss_kb = out.stdout.split()
    return {"events": int(n), "load_s": float(secs), "rss_mb": int(rss_kb) / 1024}


def bench_startup(state: Path, events: int) -> dict[str, float]:
    """Seconds to the first painted frame: mailops on the state, and a bare Textual app."""
    from textual.app import App
    from textual.widgets import Static

    from console.app import build_app
    from console.cli import demo_config
    from console.jobs import Pipeline
    from console.secret import Secret
    from console.sources.mandrill import MandrillClient
    from console.store import Store

    class Bare(App[None]):
        def compose(self):  # type: ignore[no-untyped-def]
            yield Static("hello")

    async def first_frame(make) -> float:  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        app = make()
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            return time.perf_counter() - t0

    async def run() -> tuple[float, float]:
        bare = await first_frame(Bare)
        with Store(state, read_only=True) as st:
            cfg = demo_config("http://127.0.0.1:9/api/1.0", str(state))
            cfg = type(cfg)(**{**cfg.__dict__, "ui": type(cfg.ui)(feed_limit=events)})
            client = MandrillClient(cfg.mandrill.base_url, Secret("x"))
            ours = await first_frame(
                lambda: build_app(cfg, Pipeline(client, st, cfg), start_jobs=False)
            )
            await client.aclose()
        return bare, ours

    bare, ours = asyncio.run(run())
    return {"bare_s": bare, "mailops_s": ours}


def bench_filter(events: int) -> dict[str, float]:
    from console.analysis.feed import filter_events

    _, _, msgs = messages(events * 8)
    feed = [m for m in msgs if m.is_feed_event][:events]
    while len(feed) < events:  # the heavy scenario's bounce share: repeat to the size asked
        feed += feed[: events - len(feed)]
    t0 = time.perf_counter()
    filter_events(feed, "x")  # the first keystroke builds each event's search text
    cold = time.perf_counter() - t0
    times = []
    for text in ("g", "gm", "gma", "gmail", "gmail.c", "550 5.1"):
        t0 = time.perf_counter()
        filter_events(feed, text)
        times.append(time.perf_counter() - t0)
    return {"events": len(feed), "worst_ms": 1000 * max(times), "first_ms": 1000 * cold}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=500_000)
    ap.add_argument("--events", type=int, default=500_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        ing = bench_ingest(args.messages, state)
        rss = child_rss(state, args.events)
        start = bench_startup(state, min(args.events, 5000))
    flt = bench_filter(args.events)
    ratio = start["mailops_s"] / start["bare_s"]
    rows = [
        (
            f"1,000-message poll with {args.messages:,} stored",
            f"{ing['poll_ms']:.0f} ms CPU",
            "≤ 50 ms",
            ing["poll_ms"] <= 50,
        ),
        ("state on disk", f"{ing['size_mb']:.0f} MB", "—", True),
        (
            f"peak RSS, {rss['events']:,} feed events loaded",
            f"{rss['rss_mb']:.0f} MB",
            "≤ 300 MB",
            rss["rss_mb"] <= 300,
        ),
        (
            "start-up to first frame",
            f"{start['mailops_s']:.2f} s vs bare {start['bare_s']:.2f} s ({ratio:.1f}×)",
            "≤ 1.5×",
            ratio <= 1.5,
        ),
        (
            f"feed filter over {flt['events']:,} events",
            f"{flt['worst_ms']:.0f} ms per keystroke",
            "≤ 100 ms",
            flt["worst_ms"] <= 100,
        ),
    ]
    print(
        f"state built in {ing['build_s']:.0f} s; loading {rss['events']:,} events took "
        f"{rss['load_s']:.1f} s"
    )
    for what, got, target, ok in rows:
        print(f"  {'ok  ' if ok else 'MISS'} {what:<46} {got:<34} target {target}")
    print(json.dumps({"ingest": ing, "rss": rss, "startup": start, "filter": flt}))


if __name__ == "__main__":
    main()
