"""SMTP TLS reports (RFC 8460): the RFC's own example read field for field, as gzip and as
plain JSON; hostile inputs refused with their reason; the sums per domain and the alert
pinned at its threshold."""

from __future__ import annotations

import gzip
import json
import zipfile
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from console.analysis.tlsrpt import summarize, tls_signals
from console.dmarcxml import MAX_XML, ReportError, parse_reports
from console.sim.tls_reports import demo_tls_reports
from console.sources.dmarc_inbox import import_directory
from console.tlsrpt import MAX_POLICIES, parse_any, parse_json

EXAMPLE = Path(__file__).parent.parent / "tlsrpt" / "rfc8460-example.json"


def example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text())
    return data


def dumped(d: object) -> bytes:
    return json.dumps(d).encode()


def test_the_rfc_example_is_read_field_for_field() -> None:
    r = parse_json(EXAMPLE.read_bytes())
    assert (r.org_name, r.report_id) == ("Company-X", "5065427c-23d3-47ca-b6e0-946ea0e8c4be")
    assert r.begin == datetime(2016, 4, 1, tzinfo=UTC)
    assert r.end == datetime(2016, 4, 1, 23, 59, 59, tzinfo=UTC)
    assert r.contact == "sts-reporting@company-x.example"
    [pol] = r.policies
    assert (pol.domain, pol.policy_type, pol.successful, pol.failed) == (
        "company-y.example", "sts", 5326, 303,
    )  # fmt: skip
    assert pol.mx_hosts == ("*.mail.company-y.example",)
    first, second, third = pol.failures
    assert (first.result_type, first.count, first.sending_ip) == (
        "certificate-expired", 100, "2001:db8:abcd:12::1",  # the address, normalized
    )  # fmt: skip
    assert first.receiving_mx == "mx1.mail.company-y.example" and first.receiving_ip == ""
    assert second.receiving_ip == "203.0.113.56"
    assert second.additional_info.startswith("https://reports.company-x.example/")
    assert third.reason_code == "X509_V_ERR_PROOF_OF_POSSESSION"


def test_gzip_and_plain_json_read_alike_and_dmarc_xml_goes_its_own_way() -> None:
    raw = EXAMPLE.read_bytes()
    assert parse_any(gzip.compress(raw)) == ([], [parse_json(raw)])
    assert parse_any(raw) == ([], [parse_json(raw)])
    with pytest.raises(ReportError, match="SMTP TLS report, not a DMARC report"):
        parse_reports(gzip.compress(raw))
    xml = (Path(__file__).parent.parent / "dmarc" / "google-7489.xml").read_bytes()
    dmarc, tls = parse_any(xml)
    assert len(dmarc) == 1 and tls == []


def _mutate(path: tuple[Any, ...], value: object) -> bytes:
    d = example()
    node: Any = d
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return dumped(d)


FAILURE = ("policies", 0, "failure-details", 0)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "neither zip"),  # not an object: not sniffed as JSON
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested too deep"),
        (b"[]", "neither zip"),
        (dumped([1, 2]), "neither zip"),
        (_mutate(("organization-name",), KeyError), "organization-name is missing"),
        (_mutate(("report-id",), 42), "report-id is missing or not a string"),
        (_mutate(("date-range", "start-datetime"), "yesterday"), "not an RFC 3339"),
        (_mutate(("date-range", "end-datetime"), "2016-03-01T00:00:00Z"), "ends before"),
        (_mutate(("policies",), {}), "policies is missing or not a list"),
        (_mutate(("policies", 0, "policy", "policy-type"), "dane"), "is not tlsa, sts"),
        (_mutate(("policies", 0, "policy", "policy-domain"), "a..b"), "not a domain name"),
        (_mutate(("policies", 0, "summary", "total-failure-session-count"), -1), "session count"),
        (_mutate(("policies", 0, "summary", "total-failure-session-count"), 1.5), "session count"),
        (_mutate(("policies", 0, "summary", "total-failure-session-count"), True), "session count"),
        (_mutate(("policies", 0, "summary", "total-failure-session-count"), 10**13), "session"),
        (_mutate((*FAILURE, "failed-session-count"), "100"), "not a session count"),
        (_mutate((*FAILURE, "sending-mta-ip"), "mx.example"), "not an IP address"),
        (_mutate((*FAILURE, "result-type"), None), "result-type is missing"),
        (_mutate(("policies",), [example()["policies"][0]] * (MAX_POLICIES + 1)), "at most"),
        (b'{"organization-name": "x", "n": 1' + b"9" * 5000 + b"}", "not valid JSON"),
    ],
)
def test_a_hostile_or_broken_report_is_refused_with_its_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ReportError, match=reason):
        parse_any(data)


def test_a_decompression_bomb_is_refused() -> None:
    bomb = gzip.compress(b"{" + b" " * (MAX_XML + 10) + b"}")
    with pytest.raises(ReportError, match="decompression bomb"):
        parse_any(bomb)


def test_reports_in_a_zip_are_read_too() -> None:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("report.json", EXAMPLE.read_bytes())
    assert len(parse_any(buf.getvalue())[1]) == 1


def test_a_directory_batch_goes_on_past_a_bad_file(tmp_path: Path) -> None:
    good = EXAMPLE.read_bytes()
    (tmp_path / "a.json.gz").write_bytes(gzip.compress(good))
    (tmp_path / "b.json").write_bytes(b'{"organization-name": 7}')
    (tmp_path / "c.json").write_bytes(good)  # the same report again: stored once later
    items = {i.name: i for i in import_directory(tmp_path)}
    assert len(items["a.json.gz"].tls) == 1 and items["a.json.gz"].error == ""
    assert "date-range is missing or not an object" in items["b.json"].error
    assert items["c.json"].tls[0].key == items["a.json.gz"].tls[0].key
    assert sorted(p.name for p in (tmp_path / "rejected").iterdir()) == ["b.json"]


def test_sums_per_domain_and_the_alert_at_its_threshold() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    reports = [parse_json(d) for _, d in
               ((n, gzip.decompress(b)) for n, b in demo_tls_reports(now, days=10))]  # fmt: skip
    [row] = summarize(reports, now, 7)
    # 7 days back from noon: the reports ending since (the 7 days before today), 2 reporters
    # each; the backup MX's certificate expired 3 days ago: 225 + 87 failed sessions a day
    assert row.reports == 14 and row.sessions == 7 * 2500
    assert row.failed == 3 * (1800 // 8 + 700 // 8) and row.by_type == {
        "certificate-expired": row.failed
    }
    rate = row.failure_rate
    assert rate is not None
    assert tls_signals([row], rate, 100) == []  # at the line: not over it
    [sig] = tls_signals([row], rate - 0.0001, 100)
    assert sig.rule == "tls_failures" and "certificate expired at mx2.notify" in sig.message
    assert tls_signals([row], 0.0, row.sessions + 1) == []  # too few sessions to judge


def test_a_report_outside_the_window_is_not_counted() -> None:
    r = parse_json(EXAMPLE.read_bytes())
    assert summarize([r], r.end + timedelta(days=8), 7) == []
    assert [x.domain for x in summarize([r], r.end + timedelta(days=6), 7)] == ["company-y.example"]


def test_the_example_with_its_optional_fields_left_out_still_reads() -> None:
    d = example()
    bare = deepcopy(d)
    del bare["contact-info"]
    del bare["policies"][0]["failure-details"]
    del bare["policies"][0]["policy"]["mx-host"]
    r = parse_json(dumped(bare))
    assert r.contact == "" and r.policies[0].failures == () and r.policies[0].mx_hosts == ()
