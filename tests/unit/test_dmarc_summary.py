from datetime import UTC, datetime, timedelta
from pathlib import Path

from console.analysis.dmarc import classify, source_records, summarize
from console.config import DmarcConfig
from console.dmarcxml import parse_reports
from console.model import DmarcReport

HERE = Path(__file__).resolve().parent.parent / "dmarc"
NOW = datetime(2025, 11, 29, 12, 0, tzinfo=UTC)
CFG = DmarcConfig(known_senders=("Google forwarding=209.85.128.0/17",), spoof_min_messages=50)


def reports() -> list[DmarcReport]:
    return [
        *parse_reports((HERE / "google-7489.xml").read_bytes()),
        *parse_reports((HERE / "microsoft-9990.xml").read_bytes()),
    ]


def test_groups_numbers_and_spoofing() -> None:
    [row] = summarize(reports(), NOW, 7, ["203.0.113.25", "198.51.100.13"], CFG)
    assert row.domain == "notify.northwind.example" and row.reports == 2
    assert row.messages == 1200 + 3 + 250 + 40 + 7
    assert row.passed == 1240 and row.dkim_aligned == 1240 and row.spf_aligned == 0
    assert row.mandrill_messages == 1240 and row.mandrill_pass_rate == 1.0
    groups = {s.ip: (s.group, s.label) for s in row.sources}
    assert groups["203.0.113.25"] == ("mandrill", "Mandrill (this account)")
    assert groups["209.85.220.41"] == ("known", "Google forwarding")
    assert groups["192.0.2.66"] == ("unknown", "")
    spoof = {s.ip: s.spoofing for s in row.unknown_sources}
    assert spoof == {"192.0.2.66": True, "2001:db8::66": False}  # 7 messages: under the bar
    assert row.reporters == (("google.com", 1453), ("Outlook.com", 47))
    assert row.last_report_at == datetime(2025, 11, 29, tzinfo=UTC)


def test_windows_and_ranges() -> None:
    assert summarize(reports(), NOW + timedelta(days=8), 7, [], CFG) == []
    assert len(summarize(reports(), NOW + timedelta(days=8), 30, [], CFG)) == 1
    assert classify("198.2.130.1", [], CFG) == ("mandrill", "Mandrill")  # spf.mandrillapp.com
    assert classify("not-an-ip", [], CFG) == ("unknown", "")
    assert classify("2001:db8::1", [], CFG) == ("unknown", "")


def test_records_of_one_source() -> None:
    recs = source_records(reports(), "notify.northwind.example", "192.0.2.66")
    assert [(rep.org_name, rec.count) for rep, rec in recs] == [("google.com", 250)]
