"""A large DMARC history: re-importing a known report, and `check`, against the same with
nothing stored.

    .venv/bin/python benchmarks/dmarc_store.py [--records 130000]

Builds a state dir holding about --records aggregate-report records (the demo
scenario's receivers, spread over the last 60 days), then, each in a fresh
process, measures:

- `mailops dmarc import` of one report already stored: CPU seconds, beside the same
  import into an empty state (the peer) and the target (≤ 1 s, the issue's bar);
- `mailops check` against the simulator: wall and CPU seconds, beside the same check
  with no DMARC history (the peer); the target is the peer + 1 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = [sys.executable, "-m", "console"]


def build_state(state: Path, records: int) -> tuple[Path, int, int]:
    """Store reports until `records` are held; one report's file, reports, records."""
    from console.dmarcxml import parse_reports
    from console.sim import scenario_named
    from console.sim.dmarc_reports import REPORTERS, report_xml
    from console.store import Store

    sc = scenario_named("default")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    reports, held, i = [], 0, 0
    first = b""
    while held < records:
        org, email, _, share = REPORTERS[i % len(REPORTERS)]
        xml = report_xml(sc, org, email, share, sc.sender_domains[i % 2],
                         today - timedelta(days=1 + i % 60), i)  # fmt: skip
        first = first or xml.encode()
        rep = parse_reports(xml.encode())
        reports.extend(rep)
        held += sum(len(r.records) for r in rep)
        i += 1
    with Store(state) as s:
        s.add_dmarc_reports(reports)
    known = state.parent / "known-report.xml"
    known.write_bytes(first)
    return known, len(reports), held


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) of a fresh process, and its exit code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    res = subprocess.run([*PY, *args], capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if res.returncode not in (0, 1, 2):
        sys.exit(f"{' '.join(args)} failed ({res.returncode}): {res.stderr[-800:]}")
    return wall, cpu, res.returncode


def config(path: Path, state: Path, url: str, dns_port: int) -> Path:
    path.write_text(
        f'[mandrill]\nbase_url = "{url}"\n'
        f'[dns]\nnameservers = ["127.0.0.1"]\nport = {dns_port}\n'
        f'[storage]\nstate_dir = "{state}"\n'
    )
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=130_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        big, empty = base / "big", base / "empty"
        t = time.perf_counter()
        known, n_reports, n_records = build_state(big, args.records)
        files = list((big / "dmarc").glob("*.json"))
        size = sum(p.stat().st_size for p in files)
        print(f"state: {n_reports:,} reports, {n_records:,} records, {len(files)} day files, "
              f"{size / 2**20:.1f} MB (built in {time.perf_counter() - t:.0f} s)")  # fmt: skip
        sim = subprocess.Popen(
            [*PY, "simulate", "--port", "0", "--dns-port", "0"],
            stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        assert sim.stdout is not None
        url = sim.stdout.readline().split(" on ", 1)[1].strip()
        dns_port = int(sim.stdout.readline().rsplit(" ", 1)[1])
        key = sim.stdout.readline().split("'")[1]
        env = {**os.environ, "MANDRILL_API_KEY": key}
        try:
            cfg_big = config(base / "big.toml", big, url, dns_port)
            cfg_empty = config(base / "empty.toml", empty, url, dns_port)
            _, cpu_big, _ = timed(["dmarc", "import", "--config", str(cfg_big), str(known)], env)
            _, cpu_empty, _ = timed(
                ["dmarc", "import", "--config", str(cfg_empty), str(known)], env
            )
            print("\n| figure | measured | peer (nothing stored) | target |")
            print("|---|---|---|---|")
            print(f"| re-import one known report, CPU | {cpu_big:.2f} s | {cpu_empty:.2f} s "
                  "| ≤ 1 s |")  # fmt: skip
            for p in (empty / "dmarc").glob("*.json"):  # the peer check: no history at all
                p.unlink()
            runs = []
            for cfg in (cfg_big, cfg_empty, cfg_big, cfg_empty):
                runs.append(timed(["check", "--config", str(cfg)], env))
            wall_big = min(runs[0][0], runs[2][0])
            wall_empty = min(runs[1][0], runs[3][0])
            cpu_big_c = min(runs[0][1], runs[2][1])
            cpu_empty_c = min(runs[1][1], runs[3][1])
            print(f"| `mailops check`, wall | {wall_big:.2f} s | {wall_empty:.2f} s "
                  f"| ≤ {wall_empty + 1:.2f} s |")  # fmt: skip
            print(f"| `mailops check`, CPU | {cpu_big_c:.2f} s | {cpu_empty_c:.2f} s "
                  f"| ≤ {cpu_empty_c + 1:.2f} s |")  # fmt: skip
        finally:
            sim.terminate()
            sim.wait()


if __name__ == "__main__":
    main()
