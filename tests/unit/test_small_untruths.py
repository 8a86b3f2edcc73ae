"""Small untruths the hostile probe found, each pinned: text in an IP field is not an IP,
the string "true" is not a boolean, a number is not a domain, an unreadable feed line is
counted and named, a DMARC record from a non-address is refused."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.dmarcxml import ReportError, parse_reports
from console.store import EVENTS_SUFFIX, Store
from console.wire import parse_domain, parse_ip, parse_message, parse_reject

T0 = datetime(2026, 11, 28, 6, tzinfo=UTC)


@pytest.mark.parametrize("value", ["hello", "1.2.3.999", "", 17, None, ["1.2.3.4"], "\x1b[2J"])
def test_text_in_an_ip_field_is_never_an_ip(value: object) -> None:
    assert parse_ip({"ip": value, "pool": "Main"}) is None
    m = parse_message(
        {"_id": "m1", "ts": 1764309600, "state": "sent",
         "smtp_events": [{"ts": 1764309600, "type": "sent", "source_ip": value,
                          "destination_ip": value}]}
    )  # fmt: skip
    assert m is not None and m.source_ip == "" and m.smtp_events[0].destination_ip == ""


def test_a_real_address_is_kept_in_its_canonical_form() -> None:
    ip = parse_ip({"ip": " 2001:DB8::0001 ", "pool": "Main"})
    assert ip is not None and ip.ip == "2001:db8::1"


@pytest.mark.parametrize("value", ["true", "yes", 1, {"x": 1}])
def test_only_json_true_is_true(value: object) -> None:
    ip = parse_ip({"ip": "203.0.113.25", "warmup": {"warming_up": value}})
    assert ip is not None and ip.warmup.warming_up is False
    r = parse_reject({"email": "a@example.com", "expired": value})
    assert r is not None and r.expired is False
    d = parse_domain(
        {"domain": "notify.example.com", "valid_signing": value, "spf": {"valid": value}}
    )
    assert d is not None and d.valid_signing is None and d.spf_valid is None


@pytest.mark.parametrize("value", [5, 3.5, True, "has space.example", "\x1b]0;x\x07.example", ""])
def test_a_number_or_junk_is_never_a_domain(value: object) -> None:
    assert parse_domain({"domain": value, "spf": {"valid": True}}) is None
    ip = parse_ip({"ip": "203.0.113.25", "domain": value})
    assert ip is not None and ip.domain == ""


def test_a_dmarc_record_from_something_not_an_address_is_refused() -> None:
    xml = (
        b"<feedback><report_metadata><org_name>g</org_name><report_id>1</report_id>"
        b"<date_range><begin>1764288000</begin><end>1764374399</end></date_range>"
        b"</report_metadata><policy_published><domain>example.com</domain></policy_published>"
        b"<record><row><source_ip>not-an-ip</source_ip><count>5</count><policy_evaluated>"
        b"<disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated>"
        b"</row><identifiers><header_from>example.com</header_from></identifiers></record>"
        b"</feedback>"
    )
    with pytest.raises(ReportError, match="source_ip 'not-an-ip' is not an IP address"):
        parse_reports(xml)


def test_a_garbage_line_in_the_middle_of_an_events_file_is_counted_named_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Store(tmp_path) as s:
        for i in range(3):
            item = {"_id": f"m{i}", "ts": T0.timestamp() + i, "state": "bounced"}
            ev = parse_message(item)
            assert ev is not None
            s.ingest([ev])
            s.commit()
    events = next((tmp_path / "days").glob(f"*{EVENTS_SUFFIX}"))
    lines = events.read_bytes().splitlines(keepends=True)
    events.write_bytes(lines[0] + b"\x00garbage{not json\n" + b"".join(lines[1:]))
    with caplog.at_level(logging.WARNING), Store(tmp_path) as s:
        s.load_feed()
        assert len(s.recent_events(10)) == 3  # the lines around it are all there
        msg = " ".join(s.warnings)
        assert f"1 stored feed events are unreadable, not shown (1 in {events.name})" in msg
    assert "unreadable" in caplog.text


def test_listed_rules_account_for_the_score() -> None:
    from console.analysis.content import top_rules
    from console.model import RuleHit

    rules = [RuleHit(n, p) for n, p in (("A", 2.5), ("B", 1.5), ("C", 1.0), ("D", 0.4),
                                        ("E", 0.3), ("F", -0.2))]  # fmt: skip
    assert top_rules(rules) == "A, B, C + 2 more, 0.7 points; -0.2 from rules in its favour"
    assert top_rules(rules[:2]) == "A, B"


def test_the_dns_screen_counts_lookups_as_the_ip_panel_does() -> None:
    """IPs are asked of the IP lists and domains of the domain lists: the heading says so,
    and each IP's n/m in the IP panel is n of the same m."""
    from console.analysis.dnsbl import coverage, summarize
    from console.model import Listing

    items = tuple(
        Listing(zone, target, "not_listed")
        for target in ("203.0.113.25", "198.51.100.10")
        for zone in ("zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org")
    ) + tuple(
        Listing(zone, "notify.example", "not_listed")
        for zone in ("dbl.spamhaus.org", "multi.uribl.com")
    )
    assert coverage(items) == "2 IPs × 3 IP lists · 1 domain × 2 domain lists"
    assert summarize(items)["203.0.113.25"].text == "0/3"


def test_the_denylist_summary_is_one_for_panel_and_check() -> None:
    from console.analysis.rejects import summarize_rejects
    from console.model import Reject

    def rej(email: str, reason: str) -> Reject:
        return Reject(email, reason, "", None, None, None, False, "")

    rejects = [rej("a@x", "hard-bounce"), rej("b@x", ""), rej("c@x", "spam")]
    s = summarize_rejects(rejects)
    assert s.as_json() == {"total": 3, "capped": False,
                           "by_reason": {"hard-bounce": 1, "other": 1, "spam": 1}}  # fmt: skip
    assert summarize_rejects([rej(f"{i}@x", "spam") for i in range(1000)]).total_text == "1,000+"


def test_a_score_without_costly_rules_says_so() -> None:
    from console.analysis.content import top_rules
    from console.model import RuleHit

    assert top_rules([]) == "no rule added points"
    assert top_rules([RuleHit("X", -0.5)]) == "no rule added points; -0.5 from rules in its favour"
