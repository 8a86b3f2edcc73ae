"""SMTP TLS reports (RFC 8460) the scenario's receiving-side peers would send about mail
they delivered to the demo's MX hosts, for the demo and the tests.

Per day and reporter, one gzip'd JSON report for the demo domain: the main MX answers
with a good certificate; the backup MX's certificate expired three days ago, so the
sessions that fell back to it fail from then on. Built the way RFC 8460's example
(Appendix B) is, deterministic from the day.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

DOMAIN = "notify.northwind.example"
REPORTERS = (("Google Inc.", "smtp-tls-reporting@google.com", 1800),
             ("Microsoft Corporation", "tlsrpt-noreply@microsoft.com", 700))  # fmt: skip
EXPIRED_DAYS = 3  # the backup MX's certificate expired this many days ago


def tls_report(
    org: str, contact: str, day: datetime, sessions: int, expired: bool
) -> dict[str, Any]:
    """One day's report from one reporter, in RFC 8460's JSON shape."""
    start = day.replace(hour=0, minute=0, second=0, microsecond=0)
    digest = hashlib.sha256(f"{org}{start:%F}".encode()).hexdigest()
    failed = sessions // 8 if expired else 0
    details = [{
        "result-type": "certificate-expired", "sending-mta-ip": "209.85.220.69",
        "receiving-mx-hostname": "mx2.notify.northwind.example",
        "receiving-ip": "203.0.113.26", "failed-session-count": failed,
    }] if failed else []  # fmt: skip
    return {
        "organization-name": org,
        "date-range": {"start-datetime": f"{start:%Y-%m-%dT%H:%M:%SZ}",
                       "end-datetime": f"{start + timedelta(seconds=86399):%Y-%m-%dT%H:%M:%SZ}"},
        "contact-info": contact,
        "report-id": f"{start:%Y-%m-%dT%H:%M:%SZ}_{digest[:16]}",
        "policies": [{
            "policy": {"policy-type": "sts", "policy-domain": DOMAIN,
                       "policy-string": ["version: STSv1", "mode: enforce",
                                         f"mx: *.{DOMAIN}", "max_age: 604800"],
                       "mx-host": [f"*.{DOMAIN}"]},
            "summary": {"total-successful-session-count": sessions - failed,
                        "total-failure-session-count": failed},
            "failure-details": details,
        }],
    }  # fmt: skip


def demo_tls_reports(now: datetime, days: int = 10) -> list[tuple[str, bytes]]:
    """(file name, gzip'd JSON) for each whole UTC day before `now` and each reporter."""
    out = []
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for back in range(1, days + 1):
        day = today - timedelta(days=back)
        for org, contact, sessions in REPORTERS:
            report = tls_report(org, contact, day, sessions, expired=back <= EXPIRED_DAYS)
            name = f"{org.split()[0].lower()}!{DOMAIN}!{day:%Y%m%d}.json.gz"
            out.append((name, gzip.compress(json.dumps(report).encode(), mtime=0)))
    return out
