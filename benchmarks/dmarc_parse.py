"""DMARC aggregate report parsing: mailops' own parser against parsedmarc, same reports.

    .venv/bin/pip install -e '.[bench]'      # parsedmarc, for the comparison
    .venv/bin/python benchmarks/dmarc_parse.py [--reports 10000]

Generates the reports once (the demo scenario's receivers: several records
each), then parses all of them in a fresh process per option and prints
reports/s, and the peak Python memory allocated while parsing (tracemalloc, in a
second pass so it does not slow the timed one). parsedmarc runs with
offline=True (no rDNS, no geo lookups), so both do only the parse. Each
parser's result is checked against the other's message totals.
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path


def make_corpus(n: int, path: Path) -> None:
    from console.sim import scenario_named
    from console.sim.dmarc_reports import REPORTERS, report_xml

    sc = scenario_named("default")
    day0 = datetime(2026, 11, 1, tzinfo=UTC)
    docs = []
    for i in range(n):
        org, email, _, share = REPORTERS[i % len(REPORTERS)]
        domain = sc.sender_domains[i % 2]
        docs.append(report_xml(sc, org, email, share, domain, day0 - timedelta(days=i % 30), i))
    path.write_bytes(pickle.dumps(docs))


def run_one(option: str, corpus: Path) -> dict[str, float | int | str]:
    docs: list[str] = pickle.loads(corpus.read_bytes())
    if option == "parsedmarc":
        try:
            import parsedmarc
        except ImportError:
            return {"option": option, "error": "not installed (pip install -e '.[bench]')"}

        def parse(doc: str) -> int:
            r = parsedmarc.parse_aggregate_report_xml(doc, offline=True)
            return sum(int(rec["count"]) for rec in r["records"])
    else:
        from console.dmarcxml import parse_reports

        def parse(doc: str) -> int:
            return sum(rec.count for rep in parse_reports(doc.encode()) for rec in rep.records)

    t0 = time.perf_counter()
    messages = sum(parse(d) for d in docs)
    seconds = time.perf_counter() - t0
    # memory in a second pass: tracemalloc slows everything, so it stays out of the timing
    tracemalloc.start()
    for d in docs:
        parse(d)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "option": option,
        "reports": len(docs),
        "seconds": round(seconds, 2),
        "reports_per_s": round(len(docs) / seconds),
        "peak_mb": round(peak / 2**20, 2),
        "messages": messages,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", type=int, default=10_000)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, Path(args.corpus))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.pickle"
        make_corpus(args.reports, corpus)
        results = []
        for option in ("mailops", "parsedmarc"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", option, "--corpus", str(corpus)],
                capture_output=True,
                text=True,
                check=True,
            )
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{args.reports:,} DMARC aggregate reports, parsed in one process per option")
    for r in results:
        if "error" in r:
            print(f"  {r['option']:<11} {r['error']}")
            continue
        print(
            f"  {r['option']:<11} {r['reports_per_s']:>8,} reports/s  ({r['seconds']} s)  "
            f"peak {r['peak_mb']} MB allocated while parsing  ({r['messages']:,} messages)"
        )
    done = [r for r in results if "error" not in r]
    if len(done) == 2 and done[0]["messages"] != done[1]["messages"]:
        print("  !! the two parsers disagree on the message total")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
