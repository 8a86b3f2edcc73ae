"""Aggregate reports as they arrive: both schemas, every wrapping, and hostile inputs."""

import gzip
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.dmarcxml import MAX_XML, ReportError, extract, parse_reports, sniff

HERE = Path(__file__).resolve().parent.parent / "dmarc"


def data(name: str) -> bytes:
    return (HERE / name).read_bytes()


def zipped(name: str, body: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, body)
    return buf.getvalue()


def test_rfc7489_report_numbers_records_and_override_reason() -> None:
    [r] = parse_reports(data("google-7489.xml"))
    assert (r.org_name, r.report_id, r.schema) == ("google.com", "17650560000000000001", "rfc7489")
    assert r.domain == "notify.northwind.example" and r.policy == "quarantine" and r.pct == 100
    assert r.begin == datetime(2025, 11, 28, tzinfo=UTC)
    assert [x.count for x in r.records] == [1200, 3, 250]
    mandrill, forwarded, spoof = r.records
    assert mandrill.passed and mandrill.dkim == "pass" and mandrill.spf == "fail"
    assert mandrill.dkim_results == (
        ("notify.northwind.example", "mte1", "pass"),
        ("mandrillapp.com", "mandrill", "pass"),
    )
    assert mandrill.envelope_from == "mandrillapp.com"
    assert forwarded.reasons == ("forwarded: looks forwarded",) and not forwarded.passed
    assert spoof.disposition == "quarantine" and spoof.spf_results == (
        ("spoof.example.net", "", "softfail"),
    )
    assert sum(x.count for x in r.records if x.passed) == 1200


def test_rfc9990_report_with_namespace_and_new_fields() -> None:
    [r] = parse_reports(data("microsoft-9990.xml"))
    assert r.schema == "rfc9990" and r.np == "reject" and r.testing == "n"
    assert r.discovery_method == "treewalk" and r.generator == "Microsoft DMARC reporter 2.0"
    assert r.adkim == "s" and r.pct is None
    ok, bad = r.records
    assert ok.disposition == "pass" and ok.passed and ok.envelope_to == "outlook.com"
    assert ok.spf_results == (("mandrillapp.com", "mfrom", "pass"),)
    assert bad.source_ip == "2001:db8::66" and bad.reasons == ("policy_test_mode",)


def test_wrappings_are_sniffed_not_trusted() -> None:
    xml = data("google-7489.xml")
    gz = gzip.compress(xml)
    assert sniff(gz) == "gzip" and sniff(zipped("r.xml", xml)) == "zip" and sniff(xml) == "xml"
    assert parse_reports(gz)[0].report_id == "17650560000000000001"
    assert parse_reports(zipped("r.xml", data("microsoft-9990.xml")))[0].schema == "rfc9990"
    # a gzip file named .zip (the name is never read), and a gzip inside a zip
    assert parse_reports(gz)[0].org_name == "google.com"
    assert parse_reports(zipped("r.xml.gz", gz))[0].org_name == "google.com"
    # trailing garbage after the gzip stream, as some reporters send
    assert parse_reports(gz + b"\x00\x00garbage")[0].records[0].count == 1200


def test_an_empty_report_is_a_report() -> None:
    [r] = parse_reports(data("empty.xml"))
    assert r.records == () and r.domain == "mail.northwind-legacy.example"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("malformed.xml", "malformed XML"),
        ("billion-laughs.xml", "refused: the XML uses DTDForbidden (unsafe XML)"),
        ("xxe.xml", "refused: the XML uses DTDForbidden (unsafe XML)"),
    ],
)
def test_bad_and_hostile_xml_is_rejected_clearly(name: str, message: str) -> None:
    with pytest.raises(ReportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_reports(data(name))


def test_decompression_bombs_are_rejected_without_inflating_them() -> None:
    zeros = b"\0" * (MAX_XML + 1024)
    with pytest.raises(ReportError, match="decompression bomb"):
        extract(gzip.compress(zeros, compresslevel=9))
    with pytest.raises(ReportError, match="decompression bomb"):
        extract(zipped("bomb.xml", zeros))
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w") as z:
        for i in range(30):
            z.writestr(f"r{i}.xml", b"<feedback/>")
    with pytest.raises(ReportError, match="at most 20"):
        extract(many.getvalue())


def test_not_a_report() -> None:
    with pytest.raises(ReportError, match="neither zip, gzip, XML nor JSON"):
        parse_reports(b"%PDF-1.7")
    with pytest.raises(ReportError, match="root element <html>"):
        parse_reports(b"<html><body>hi</body></html>")
    with pytest.raises(ReportError, match="broken gzip"):
        parse_reports(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(ReportError, match="lacks org_name"):
        parse_reports(b"<feedback><report_metadata/></feedback>")
