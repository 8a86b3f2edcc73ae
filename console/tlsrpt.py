"""SMTP TLS reports (RFC 8460): bytes as they arrive (gzip, JSON) → TlsReport.

They come to the same places as DMARC aggregate reports (a directory, the rua mailbox),
so they go through the same door: `dmarcxml.extract` sniffs the format from the bytes
(never from the MIME type, `application/tlsrpt+gzip` or `+json`, nor the name), caps
each decompression and the size of a file, and a file that cannot be read is refused
with its reason while the rest of the batch goes on. Here the JSON is read strictly:
every field the RFC requires is there with its type, counts are whole numbers, and
lists are capped, so a hostile report cannot fill memory or pass a lie as a count.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from typing import Any

from console.dmarcxml import ReportError, extract, parse_xml, sniff
from console.model import DmarcReport, TlsFailure, TlsPolicy, TlsReport

#: policies in one report, and failure details in one policy, read at most
MAX_POLICIES = 1000
MAX_FAILURES = 1000
#: a session count above this is not a count a reporter can have made in a day
MAX_COUNT = 10**12
POLICY_TYPES = frozenset({"tlsa", "sts", "no-policy-found"})


def parse_any(data: bytes) -> tuple[list[DmarcReport], list[TlsReport]]:
    """Every report in one file or attachment, DMARC's (XML) and TLS (JSON) apart."""
    dmarc, tls = [], []
    for doc in extract(data):
        if sniff(doc) == "json":
            tls.append(parse_json(doc))
        else:
            dmarc.append(parse_xml(doc))
    return dmarc, tls


def parse_json(doc: bytes) -> TlsReport:
    """One TLS report; ReportError names the first field that is missing or wrong."""
    try:
        data = json.loads(doc)
    except RecursionError:
        raise ReportError("JSON nested too deep to be a TLS report") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportError(f"not valid JSON ({str(exc)[:80]})") from None
    top = _obj(data, "the report")
    dates = _obj(top.get("date-range"), "date-range")
    begin = _time(dates.get("start-datetime"), "date-range.start-datetime")
    end = _time(dates.get("end-datetime"), "date-range.end-datetime")
    if end < begin:
        raise ReportError("date-range ends before it starts")
    policies = _list(top.get("policies"), "policies", MAX_POLICIES)
    return TlsReport(
        org_name=_str(top.get("organization-name"), "organization-name"),
        report_id=_str(top.get("report-id"), "report-id"),
        begin=begin,
        end=end,
        policies=tuple(_policy(p, i) for i, p in enumerate(policies)),
        contact=_opt_str(top.get("contact-info"), "contact-info"),
    )


def _policy(value: object, i: int) -> TlsPolicy:
    where = f"policies[{i}]"
    item = _obj(value, where)
    pol = _obj(item.get("policy"), f"{where}.policy")
    kind = _str(pol.get("policy-type"), f"{where}.policy.policy-type")
    if kind not in POLICY_TYPES:
        raise ReportError(f"{where}.policy.policy-type {kind[:40]!r} is not tlsa, sts or "
                          "no-policy-found")  # fmt: skip
    summary = _obj(item.get("summary"), f"{where}.summary")
    mx = pol.get("mx-host", [])
    mx_hosts = [mx] if isinstance(mx, str) else _list(mx, f"{where}.policy.mx-host", 100)
    details = item.get("failure-details", [])
    failures = _list(details, f"{where}.failure-details", MAX_FAILURES)
    return TlsPolicy(
        domain=_domain(pol.get("policy-domain"), f"{where}.policy.policy-domain"),
        policy_type=kind,
        successful=_count(summary.get("total-successful-session-count"),
                          f"{where}.summary.total-successful-session-count"),
        failed=_count(summary.get("total-failure-session-count"),
                      f"{where}.summary.total-failure-session-count"),
        mx_hosts=tuple(_str(h, f"{where}.policy.mx-host") for h in mx_hosts),
        failures=tuple(_failure(f, f"{where}.failure-details[{j}]")
                       for j, f in enumerate(failures)),
    )  # fmt: skip


def _failure(value: object, where: str) -> TlsFailure:
    d = _obj(value, where)
    return TlsFailure(
        result_type=_str(d.get("result-type"), f"{where}.result-type"),
        count=_count(d.get("failed-session-count"), f"{where}.failed-session-count"),
        sending_ip=_ip(d.get("sending-mta-ip"), f"{where}.sending-mta-ip"),
        receiving_mx=_opt_str(d.get("receiving-mx-hostname"), f"{where}.receiving-mx-hostname"),
        receiving_ip=_ip(d.get("receiving-ip"), f"{where}.receiving-ip"),
        reason_code=_opt_str(d.get("failure-reason-code"), f"{where}.failure-reason-code"),
        additional_info=_opt_str(d.get("additional-information"),
                                 f"{where}.additional-information"),
    )  # fmt: skip


def _obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ReportError(f"{what} is missing or not an object")
    return value


def _list(value: object, what: str, most: int) -> list[Any]:
    if not isinstance(value, list):
        raise ReportError(f"{what} is missing or not a list")
    if len(value) > most:
        raise ReportError(f"{what} holds {len(value):,} entries; at most {most:,} are read")
    return value


def _str(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ReportError(f"{what} is missing or not a string")
    return value.strip()[:500]


def _opt_str(value: object, what: str) -> str:
    return "" if value is None else _str(value, what)


def _count(value: object, what: str) -> int:
    """A session count: a whole number from 0 (true and 1.5 are not counts)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise ReportError(f"{what} {str(value)[:30]!r} is not a session count")
    return value


def _ip(value: object, what: str) -> str:
    if value is None:
        return ""
    try:
        return str(ipaddress.ip_address(_str(value, what)))
    except ValueError:
        raise ReportError(f"{what} {str(value)[:60]!r} is not an IP address") from None


def _domain(value: object, what: str) -> str:
    name = _str(value, what).lower().rstrip(".")
    if len(name) > 253 or not all(0 < len(part) < 64 for part in name.split(".")):
        raise ReportError(f"{what} {name[:60]!r} is not a domain name")
    return name


def _time(value: object, what: str) -> datetime:
    """An RFC 3339 date-time; one without an offset is taken as UTC."""
    text = _str(value, what)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{what} {text[:40]!r} is not an RFC 3339 date-time") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
