"""DMARC reports in a file per day: the single dmarc.json of earlier versions is split once
(again after a crash, adding nothing twice), a read-only viewer reads it as it is, dedupe
and windows read only the days they need, retention drops whole days."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from console.codec import encode
from console.dmarcxml import parse_reports
from console.model import DmarcReport
from console.sim import scenario_named
from console.sim.dmarc_reports import REPORTERS, report_xml
from console.store import Store, read_dmarc_reports

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def reports(days: int) -> list[DmarcReport]:
    sc = scenario_named("default")
    out: list[DmarcReport] = []
    for i in range(days):
        org, email, _, share = REPORTERS[i % len(REPORTERS)]
        xml = report_xml(sc, org, email, share, sc.sender_domains[0],
                         NOW - timedelta(days=1 + i), i)  # fmt: skip
        out += parse_reports(xml.encode())
    return out


def write_legacy(state: Path, reps: list[DmarcReport]) -> None:
    state.mkdir(parents=True, exist_ok=True)
    docs = {
        str(i + 1): {"k": r.key, "end": r.end.timestamp(), "data": encode(r)}
        for i, r in enumerate(reps)
    }
    (state / "dmarc.json").write_text(json.dumps({"reports": docs}))


def test_the_legacy_file_is_split_into_days_once(tmp_path: Path) -> None:
    reps = reports(10)
    write_legacy(tmp_path, reps)
    legacy = json.loads((tmp_path / "dmarc.json").read_text())
    with Store(tmp_path, clock=lambda: NOW) as s:
        assert not (tmp_path / "dmarc.json").exists()
        assert len(list((tmp_path / "dmarc").glob("*.json"))) == 10
        assert {r.key for r in s.dmarc_reports()} == {r.key for r in reps}
        assert s.add_dmarc_reports(reps) == ([], 10)  # all known
    # a crash after the day files were written but before the old file went: again
    (tmp_path / "dmarc.json").write_text(json.dumps(legacy))
    with Store(tmp_path, clock=lambda: NOW) as s:
        assert len(s.dmarc_reports()) == 10  # nothing twice
        assert not (tmp_path / "dmarc.json").exists()


def test_a_read_only_viewer_reads_the_legacy_file_as_it_is(tmp_path: Path) -> None:
    reps = reports(3)
    write_legacy(tmp_path, reps)
    with Store(tmp_path, read_only=True, clock=lambda: NOW) as s:
        assert len(s.dmarc_reports()) == 3
    assert (tmp_path / "dmarc.json").exists()
    got, warnings = read_dmarc_reports(tmp_path, NOW - timedelta(days=2))
    assert got is not None and not warnings and len(got) == 2  # only the last days


def test_windows_read_only_their_days_and_retention_drops_whole_days(tmp_path: Path) -> None:
    reps = reports(20)
    with Store(tmp_path, clock=lambda: NOW) as s:
        s.add_dmarc_reports(reps)
        assert len(s.dmarc_reports(NOW - timedelta(days=7))) == 7
        (tmp_path / "dmarc" / "2026-11-10.json").write_text("{broken")
        got, warnings = read_dmarc_reports(tmp_path, NOW - timedelta(days=7))
        assert got is not None and len(got) == 7 and not warnings  # the broken day is older
        got, warnings = read_dmarc_reports(tmp_path)
        assert got is None and "DMARC reports unreadable" in warnings[0]
        assert s.prune_dmarc(10) >= 9
        assert sorted(p.stem for p in (tmp_path / "dmarc").glob("*.json"))[0] >= "2026-11-18"


def test_a_read_only_viewer_counts_the_legacy_file_once_however_often_it_asks(
    tmp_path: Path,
) -> None:
    write_legacy(tmp_path, reports(3))
    with Store(tmp_path, read_only=True, clock=lambda: NOW) as s:
        assert [len(s.dmarc_reports()) for _ in range(3)] == [3, 3, 3]


def test_a_record_with_an_impossible_end_is_dropped_not_a_crash(tmp_path: Path) -> None:
    reps = reports(2)
    write_legacy(tmp_path, reps)
    text = (tmp_path / "dmarc.json").read_text()
    end = str(reps[0].end.timestamp())
    (tmp_path / "dmarc.json").write_text(text.replace(end, "1e400", 1))  # inf once parsed
    with Store(tmp_path, clock=lambda: NOW) as s:
        assert len(s.dmarc_reports()) == 1
        assert any("wrong shape" in w for w in s.warnings)
    assert not (tmp_path / "dmarc.json").exists()
