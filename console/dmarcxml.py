"""DMARC aggregate reports: bytes as they arrive (zip, gzip, XML) → DmarcReport.

Our own small parser rather than parsedmarc's: parsedmarc pulls in every output
sink it supports (cloud SDKs, search clients) and resolves rDNS inside its
parse; `benchmarks/dmarc_parse.py` measures both on the same reports and the
README has the figures. The format is sniffed from magic bytes, never from a
MIME type or file name (reporters mislabel gzip as zip). XML goes through
defusedxml with DTDs, entities and external references refused; every
decompression is capped, so a bomb is rejected instead of filling memory.
"""

from __future__ import annotations

import io
import ipaddress
import zipfile
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from console.limits import DMARC_INPUT_BYTES, DMARC_XML_BYTES, DMARC_ZIP_MEMBERS
from console.model import DmarcRecord, DmarcReport

MAX_INPUT = DMARC_INPUT_BYTES  # bytes of one file or attachment as received
MAX_XML = DMARC_XML_BYTES  # bytes of one report once decompressed
MAX_MEMBERS = DMARC_ZIP_MEMBERS  # XML files in one zip
RFC9990_NS = "urn:ietf:params:xml:ns:dmarc-2.0"


class ReportError(ValueError):
    """A report that cannot be read; the message says why in words."""


def sniff(data: bytes) -> str:
    """zip, gzip, xml, json (an SMTP TLS report, RFC 8460) or unknown — by the first bytes
    only."""
    if data[:4] == b"PK\x03\x04":
        return "zip"
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "xml"
    if head.startswith(b"{"):
        return "json"
    return "unknown"


def _gunzip(data: bytes) -> bytes:
    """Inflate with a hard cap; trailing garbage after the stream (seen from some reporters)
    is ignored."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, MAX_XML + 1)
    except zlib.error as exc:
        raise ReportError(f"broken gzip data ({exc})") from None
    if len(out) > MAX_XML or d.unconsumed_tail:
        raise ReportError(
            f"decompresses to more than {MAX_XML // 2**20} MB: rejected (a decompression bomb?)"
        )
    if not d.eof:
        raise ReportError("broken gzip data (the stream ends early)")
    return out


def _unzip(data: bytes) -> list[bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ReportError(f"broken zip file ({exc})") from None
    members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) > MAX_MEMBERS:
        raise ReportError(f"zip holds {len(members)} files; at most {MAX_MEMBERS} are read")
    out = []
    for m in members:
        with archive.open(m) as fh:  # the declared size may lie: read with a cap
            body = fh.read(MAX_XML + 1)
        if len(body) > MAX_XML:
            raise ReportError(
                f"{m.filename} decompresses to more than {MAX_XML // 2**20} MB: rejected "
                "(a decompression bomb?)"
            )
        out.extend(extract(body, _depth=1))
    return out


def extract(data: bytes, _depth: int = 0) -> list[bytes]:
    """The documents (XML or JSON) inside one file or attachment."""
    if len(data) > MAX_INPUT:
        raise ReportError(f"{len(data):,} bytes is more than the {MAX_INPUT // 2**20} MB accepted")
    kind = sniff(data)
    if kind in ("xml", "json"):
        return [data]
    if _depth > 1:
        raise ReportError("nested archives are not read")
    if kind == "gzip":
        return extract(_gunzip(data), _depth + 1)
    if kind == "zip":
        return _unzip(data)
    raise ReportError("not a DMARC or TLS report (neither zip, gzip, XML nor JSON)")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: Element | None, name: str) -> Element | None:
    if el is None:
        return None
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _children(el: Element | None, name: str) -> Iterator[Element]:
    if el is None:
        return
    for c in el:
        if _local(c.tag) == name:
            yield c


def _text(el: Element | None, *path: str) -> str:
    for name in path:
        el = _child(el, name)
    return (el.text or "").strip() if el is not None else ""


def _source_ip(value: str) -> str:
    """A record's source_ip, which every summary groups and looks up by: an IP or refused."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ReportError(f"record source_ip {value[:60]!r} is not an IP address") from None


def _time(value: str, what: str) -> datetime:
    try:
        return datetime.fromtimestamp(int(float(value)), UTC)
    except (ValueError, OverflowError, OSError):
        raise ReportError(f"{what} {value!r} is not a Unix time") from None


def parse_xml(doc: bytes) -> DmarcReport:
    """One aggregate report, RFC 7489 or RFC 9990; namespaces are accepted either way."""
    try:
        root = fromstring(doc, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ReportError(f"refused: the XML uses {type(exc).__name__} (unsafe XML)") from None
    except ParseError as exc:
        raise ReportError(f"malformed XML ({exc})") from None
    if _local(root.tag) != "feedback":
        raise ReportError(f"not a DMARC aggregate report (root element <{_local(root.tag)}>)")
    ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    meta = _child(root, "report_metadata")
    pol = _child(root, "policy_published")
    org, rid = _text(meta, "org_name"), _text(meta, "report_id")
    if not org or not rid:
        raise ReportError("report_metadata lacks org_name or report_id")
    domain = _text(pol, "domain").lower().rstrip(".")
    if not domain:
        raise ReportError("policy_published lacks the domain")
    records = []
    for rec in _children(root, "record"):
        row = _child(rec, "row")
        pe = _child(row, "policy_evaluated")
        try:
            count = int(_text(row, "count") or "0")
        except ValueError:
            raise ReportError(f"record count {_text(row, 'count')!r} is not a number") from None
        reasons = tuple(
            f"{_text(r, 'type')}: {_text(r, 'comment')}".rstrip(": ")
            for r in _children(pe, "reason")
        )
        auth = _child(rec, "auth_results")
        records.append(
            DmarcRecord(
                source_ip=_source_ip(_text(row, "source_ip")),
                count=max(0, count),
                disposition=_text(pe, "disposition").lower(),
                dkim=_text(pe, "dkim").lower(),
                spf=_text(pe, "spf").lower(),
                header_from=_text(rec, "identifiers", "header_from").lower(),
                envelope_from=_text(rec, "identifiers", "envelope_from").lower(),
                envelope_to=_text(rec, "identifiers", "envelope_to").lower(),
                reasons=reasons,
                dkim_results=tuple(
                    (_text(d, "domain").lower(), _text(d, "selector"), _text(d, "result").lower())
                    for d in _children(auth, "dkim")
                ),
                spf_results=tuple(
                    (_text(s, "domain").lower(), _text(s, "scope"), _text(s, "result").lower())
                    for s in _children(auth, "spf")
                ),
            )
        )
    pct = _text(pol, "pct")
    return DmarcReport(
        org_name=org,
        report_id=rid,
        begin=_time(_text(meta, "date_range", "begin"), "date_range begin"),
        end=_time(_text(meta, "date_range", "end"), "date_range end"),
        domain=domain,
        schema="rfc9990" if ns == RFC9990_NS else "rfc7489",
        records=tuple(records),
        email=_text(meta, "email"),
        policy=_text(pol, "p"),
        subdomain_policy=_text(pol, "sp"),
        adkim=_text(pol, "adkim"),
        aspf=_text(pol, "aspf"),
        pct=int(pct) if pct.isdigit() else None,
        np=_text(pol, "np"),
        testing=_text(pol, "testing"),
        discovery_method=_text(pol, "discovery_method"),
        generator=_text(meta, "generator"),
        errors=tuple((e.text or "").strip() for e in _children(meta, "error")),
    )


def parse_reports(data: bytes) -> list[DmarcReport]:
    """Every DMARC report in one file or attachment; ReportError says why one cannot be
    read (a TLS report among them included: `tlsrpt.parse_any` takes both)."""
    docs = extract(data)
    if any(sniff(d) == "json" for d in docs):
        raise ReportError("a JSON document: an SMTP TLS report, not a DMARC report")
    return [parse_xml(doc) for doc in docs]
