"""Aggregate reports the scenario's receivers would send, for the demo and the benchmark.

Per day, per reporter, per sending domain, one report: Mandrill's IPs passing
through aligned DKIM (SPF does not align: the return path is mandrillapp.com),
the legacy domain failing on the IP that lost its DKIM, a mailing list
forwarding a little mail, and a spoofer sending as the good domain.
Deterministic from the scenario's seed. Wrapped as each reporter does: Google
gzip, Microsoft zip, Yahoo plain XML.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import zipfile
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

from console.sim.scenario import Scenario

REPORTERS = (
    ("google.com", "noreply-dmarc-support@google.com", "gzip", 0.5),
    ("Outlook.com", "dmarcreport@microsoft.com", "zip", 0.3),
    ("Yahoo", "dmarchelp@yahooinc.com", "xml", 0.2),
)
SPOOFER = "192.0.2.66"
FORWARDER = "209.85.220.41"


def _record(ip: str, count: int, dkim: str, spf: str, header_from: str, env: str,
            reason: str = "", selector: str = "mte1") -> str:  # fmt: skip
    disposition = "none" if "pass" in (dkim, spf) else "quarantine"
    why = f"<reason><type>{reason}</type></reason>" if reason else ""
    return (
        f"<record><row><source_ip>{ip}</source_ip><count>{count}</count>"
        f"<policy_evaluated><disposition>{disposition}</disposition><dkim>{dkim}</dkim>"
        f"<spf>{spf}</spf>{why}</policy_evaluated></row>"
        f"<identifiers><header_from>{escape(header_from)}</header_from>"
        f"<envelope_from>{escape(env)}</envelope_from></identifiers>"
        f"<auth_results><dkim><domain>{escape(header_from)}</domain><selector>{selector}"
        f"</selector><result>{dkim}</result></dkim><spf><domain>{escape(env)}</domain>"
        f"<scope>mfrom</scope><result>{'pass' if env == 'mandrillapp.com' else 'fail'}"
        f"</result></spf></auth_results></record>"
    )


def report_xml(sc: Scenario, org: str, email: str, share: float, domain: str, day: datetime,
               serial: int) -> str:  # fmt: skip
    rng = random.Random(f"{sc.seed}:{org}:{domain}:{day:%Y%m%d}:{serial}")
    begin, end = day, day + timedelta(days=1) - timedelta(seconds=1)
    good = domain == sc.sender_domains[0]
    per_day = sc.per_day * share * (0.9 if good else 0.1)
    records = []
    ips = [sc.dedicated_ip, *sc.shared_ips]
    for ip in ips:
        n = max(1, int(per_day / len(ips) * rng.uniform(0.8, 1.2)))
        if good:
            records.append(_record(ip, n, "pass", "fail", domain, "mandrillapp.com"))
        else:  # the legacy domain: DKIM only on the dedicated IP's mail
            dkim = "pass" if ip == sc.dedicated_ip else "fail"
            records.append(_record(ip, n, dkim, "fail", domain, "mandrillapp.com", "",
                                   "mandrill"))  # fmt: skip
    if good:
        records.append(_record(FORWARDER, rng.randint(1, 6), "fail", "fail", domain,
                               "lists.example.org", "forwarded"))  # fmt: skip
        if org == "google.com":
            records.append(_record(SPOOFER, rng.randint(60, 140), "fail", "fail", domain,
                                   "spoof.example.net"))  # fmt: skip
    rid = hashlib.sha1(f"{sc.seed}:{org}:{domain}:{day:%Y%m%d}:{serial}".encode()).hexdigest()[:20]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feedback>'
        f"<report_metadata><org_name>{escape(org)}</org_name><email>{escape(email)}</email>"
        f"<report_id>{rid}</report_id><date_range><begin>{int(begin.timestamp())}</begin>"
        f"<end>{int(end.timestamp())}</end></date_range></report_metadata>"
        f"<policy_published><domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf>"
        f"<p>{'quarantine' if good else 'none'}</p><sp>none</sp><pct>100</pct>"
        "</policy_published>" + "".join(records) + "</feedback>\n"
    )


def wrap(xml: str, how: str, name: str) -> tuple[str, bytes]:
    data = xml.encode()
    if how == "gzip":
        return f"{name}.xml.gz", gzip.compress(data, mtime=0)
    if how == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(f"{name}.xml", data)
        return f"{name}.zip", buf.getvalue()
    return f"{name}.xml", data


def demo_reports(sc: Scenario, now: datetime, days: int = 14) -> list[tuple[str, bytes]]:
    """(file name, bytes) of every report the receivers sent over the last `days` days."""
    out = []
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        for org, email, how, share in REPORTERS:
            for domain in sc.sender_domains:
                name = f"{org}!{domain}!{int(day.timestamp())}!{int(day.timestamp()) + 86399}"
                out.append(wrap(report_xml(sc, org, email, share, domain, day, 0), how, name))
    return out
