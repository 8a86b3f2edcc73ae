"""Regenerate the pictures in this folder from the demo scenario.

Run: .venv/bin/python screenshots/make_screenshots.py   (PNG needs rsvg-convert)
The clock is frozen 3 scenario hours in, so the noisy neighbour is visible.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from console.app import build_app
from console.cli import DEMO_NEWSLETTER, DEMO_SEEDS, demo_config, demo_content_checks
from console.jobs import Pipeline
from console.secret import Secret
from console.seeding import Seed
from console.sim import DEMO_KEY, ManualClock, SimServer, Simulator, scenario_named
from console.sim.demo_dns import DemoDns
from console.sim.dmarc_reports import demo_reports
from console.sim.mailboxes import MemoryMailboxes
from console.sim.recorded_spamd import RecordedSpamd
from console.sources.dns import DnsClient
from console.sources.mandrill import MandrillClient
from console.store import Store

HERE = Path(__file__).resolve().parent
RUNS = 7


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


class SeedClock(ManualClock):
    """Frozen, except while seed runs are made: then each reading moves 20 s, so the
    in-memory mailboxes' arrival delays pass."""

    ticking = False

    def __call__(self) -> datetime:
        return self.advance(seconds=20) if self.ticking else super().__call__()


async def shoot(name: str, size: tuple[int, int], keys: tuple[str, ...] = ()) -> Path:
    scenario = scenario_named("default")
    at = scenario.start + timedelta(hours=3, minutes=20)
    clock = SeedClock(at)
    demo_dns = DemoDns(scenario, clock).start()
    sim = Simulator(scenario, clock)
    boxes = MemoryMailboxes(clock)
    sim.deliver = boxes.deliver
    seeds = [Seed(n, a, boxes.box(a, p)) for n, a, p in DEMO_SEEDS]
    with SimServer(sim) as srv, tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp), clock=clock).open()
        cfg = demo_config(srv.base_url, tmp, demo_dns.port)
        cfg = replace(cfg, seed_test=replace(cfg.seed_test, poll_seconds=0.01))
        client = MandrillClient(srv.base_url, Secret(DEMO_KEY))
        dns = DnsClient(["127.0.0.1"], port=demo_dns.port, timeout=0.5, deadline=2.0)
        newsletter = Path(tmp) / "newsletter.eml"
        newsletter.write_bytes(DEMO_NEWSLETTER)
        cfg = replace(cfg, content_checks=demo_content_checks(str(newsletter)))
        scorer = RecordedSpamd(clock)
        pipeline = Pipeline(client, store, cfg, clock=clock, dns=dns, seeds=seeds, scorer=scorer)
        clock.ticking = True
        for k in range(RUNS - 1, -1, -1):  # a seed test every 20 scenario minutes up to now
            clock.set(at - timedelta(minutes=20 * k + 10))
            await pipeline.run("seeds")
        clock.ticking = False
        for day in range(20, 0, -1):  # a history of daily content scores
            clock.set(at - timedelta(days=day, hours=day % 5))
            await pipeline.run("content")
        clock.set(at)
        inbox = Path(tmp) / "dmarc-inbox"
        inbox.mkdir()
        for file_name, data in demo_reports(scenario, at):
            (inbox / file_name.replace("!", "_")).write_bytes(data)
        pipeline.config = replace(
            pipeline.config, dmarc=replace(pipeline.config.dmarc, directory=str(inbox))
        )
        for source in pipeline.sources:
            await pipeline.run(source)
        app = build_app(
            cfg, pipeline, local_time=utc, start_jobs=False, subtitle="DEMO · simulated Mandrill"
        )
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            for key in keys:
                await pilot.press(key)
                await pilot.pause()
            svg = HERE / f"{name}.svg"
            svg.write_text(app.export_screenshot(title="mailops"))
        store.close()
    demo_dns.stop()
    if shutil.which("rsvg-convert"):
        subprocess.run(["rsvg-convert", "-o", str(svg.with_suffix(".png")), str(svg)], check=True)
    return svg


async def main() -> None:
    print(await shoot("main-120x40", (120, 40)))
    print(await shoot("main-80x24", (80, 24)))
    print(await shoot("help-80x24", (80, 24), ("question_mark",)))
    print(await shoot("detail", (120, 40), ("tab", "tab", "enter")))
    print(await shoot("dns", (120, 40), ("d",)))
    print(await shoot("seeds", (120, 40), ("p",)))
    print(await shoot("alerts", (120, 40), ("a",)))
    print(await shoot("customer", (120, 40), ("enter",)))
    print(await shoot("dmarc", (120, 40), ("m",)))
    print(await shoot("content", (120, 40), ("o",)))


if __name__ == "__main__":
    asyncio.run(main())
