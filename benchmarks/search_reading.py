"""Reading a busy account: how many messages/search calls, and how long, to read a window.

    .venv/bin/python benchmarks/search_reading.py [--messages 2500] [--minutes 10]

The busy case of the issue: an account that sent --messages messages in the last
--minutes, read by `mailops check` over its 6-hour window. Against the simulator on
loopback (pages newest first, as Mandrill answers), it measures:

- the client's read of the window with the default budget of 15 searches: searches,
  messages read, whether it is complete, wall seconds; beside the target
  (N/1000 + 1 searches) and beside the peer, the same read from a server whose pages
  come in no order, which leaves only blind halving (the way mailops read before);
- `mailops check --json` in its own process: wall seconds, searches it made, and
  whether it says the read was complete.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.secret import Secret  # noqa: E402
from console.sim import DEMO_KEY, ScenarioClock, SimServer, Simulator, scenario_named  # noqa: E402
from console.sources.mandrill import MandrillClient  # noqa: E402

WINDOW_HOURS = 6
BUDGET = 15


async def read_window(url: str, now: int, budget: int) -> tuple[int, int, bool, float]:
    """(searches, messages, complete, wall seconds) for one read of the 6-hour window."""
    client = MandrillClient(url, Secret(DEMO_KEY), timeout=30)
    t0 = time.perf_counter()
    r = await client.search_range(now - WINDOW_HOURS * 3600, now, budget=budget)
    wall = time.perf_counter() - t0
    await client.aclose()
    return r.calls, len({m.message_id for m in r.messages}), r.complete, wall


def run_check(url: str, tmp: Path) -> tuple[float, dict[str, object]]:
    cfg = tmp / "c.toml"
    cfg.write_text(
        f'[mandrill]\nbase_url = "{url}"\ntimeout = 30.0\ncheck_window_hours = {WINDOW_HOURS}\n'
        '[dns]\nnameservers = ["127.0.0.1"]\nport = 9\ntimeout = 0.2\ndeadline = 0.4\n'
        f'[storage]\nstate_dir = "{tmp / "state"}"\n'
    )
    cfg.chmod(0o600)
    env = {"MANDRILL_API_KEY": DEMO_KEY, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "console", "check", "--json", "--config", str(cfg)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    report = json.loads(out.stdout)
    return wall, report["sources"]["messages"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=2500)
    ap.add_argument("--minutes", type=float, default=10)
    args = ap.parse_args()
    now_dt = datetime.now(UTC).replace(microsecond=0)
    per_day = int(args.messages * 1440 / args.minutes)
    sc = scenario_named(
        "heavy",
        per_day=per_day,
        history_days=0,
        start=now_dt - timedelta(minutes=args.minutes),
        noisy_ip=None,
    )
    now = int(now_dt.timestamp())
    target = args.messages // 1000 + 1
    print(f"busy case: {args.messages:,} messages in {args.minutes:g} min, "
          f"read over a {WINDOW_HOURS} h window, budget {BUDGET} searches")  # fmt: skip
    print(f"target: about N/1000 + 1 = {target} searches\n")
    print(f"{'read':<44} {'searches':>8} {'messages':>9} {'complete':>9} {'wall s':>7}")
    for order in ("newest", "shuffled"):
        sim = Simulator(sc, ScenarioClock(now_dt))
        sim.knobs.search_order = order
        with SimServer(sim) as srv:
            for budget in (BUDGET, 1000):
                calls, n, done, wall = asyncio.run(read_window(srv.base_url, now, budget))
                label = (
                    f"{'mailops' if order == 'newest' else 'peer: pages in no order'}"
                    f", budget {budget}"
                )
                print(f"{label:<44} {calls:>8} {n:>9,} {done!s:>9} {wall:>7.2f}")
    sim = Simulator(sc, ScenarioClock(now_dt))
    with SimServer(sim) as srv, tempfile.TemporaryDirectory() as tmp:
        wall, msgs = run_check(srv.base_url, Path(tmp))
        searches = sim.calls["messages/search"]
    print(f"\nmailops check --json: {wall:.2f} s wall (all its sources), {searches} "
          f"searches (target {target}), complete: {msgs['complete']}")  # fmt: skip


if __name__ == "__main__":
    main()
