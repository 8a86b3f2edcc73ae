"""Demo DNS: the scenario's domains, IPs and blocklists, served offline on loopback.

The blocklist zones carry the public lists' names so the demo runs the same
configuration a real install does; they answer only here. The noisy-neighbour
IP is listed on SpamCop while the scenario's trouble lasts, then delisted.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from console.analysis.dnsbl import DEFAULT_ZONES, Zone, query_name
from console.sim.dns_server import DnsServer, ZoneSet
from console.sim.scenario import Scenario
from console.timeutil import Clock

#: A real 2048-bit RSA public key (DER, base64), so DKIM checks parse a genuine key.
DKIM_KEY = (
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAkD8uyYpxlv5ZQZ3l6421"
    "+mlfxCB5w3LjfhZnmPDmm09lXqg3bzaWt0oQ9f8wi/boon1UbNjothV8jjA1oYU8"
    "KJUsjgfM0wDdS3eoxn1Isr8q3CW4jfjPCvasS+bI5w2YLapsbfjSf5YXCHh/UFVm"
    "zivKKNGN0ZDK36sRz3Wez4v4y9aEzuTfO7RR+0mRTxRqkp1iLr+LvKtjvOqMxwXT"
    "M+S3U1kPiyH5r2y7c3LusceLhcnrI7XRzBOpE3aS7ElPNF7x7sPpOU3+RhLfdqW5"
    "kz3xDWR8HgXBR25nRixRrWvecDD4sfWXmZ8bnc5pGumKbMIpvkJFYUgg8Vv4D+NY"
    "EQIDAQAB"
)


def _txt(value: str) -> str:
    """TXT rdata: strings of at most 255 characters (a DKIM key needs two)."""
    parts = [value[i : i + 250] for i in range(0, len(value), 250)]
    return " ".join(f'"{p}"' for p in parts)


def _soa(name: str) -> str:
    return (
        f"$TTL 300\n@ IN SOA ns.{name}. hostmaster.{name}. 1 3600 600 86400 300\n"
        f"@ IN NS ns.{name}.\nns IN A 127.0.0.1\n"
    )


def _test_points(zone: Zone) -> str:
    pos = zone.test_points[0]
    name = query_name(pos, zone)
    if zone.codes:
        code = next(iter(zone.codes))
    else:
        code = "127.0.0." + str(min(zone.bitmask))
    return f"{name}. IN A {code}\n"


def demo_zone_texts(sc: Scenario) -> dict[str, str]:
    good, legacy = sc.sender_domains
    dkim = _txt(f"v=DKIM1; k=rsa; p={DKIM_KEY}")
    texts = {
        "mandrillapp.com": _soa("mandrillapp.com")
        + 'spf IN TXT "v=spf1 ip4:198.2.128.0/18 ip4:205.201.131.128/25 '
        + 'ip4:198.51.100.0/24 ip4:203.0.113.0/24 ~all"\n'
        + f"dkim1 IN TXT {dkim}\ndkim2 IN TXT {dkim}\n"
        + f"{sc.dedicated_domain.removesuffix('.mandrillapp.com')} IN A {sc.dedicated_ip}\n",
        good: _soa(good)
        + f"@ IN MX 10 mx.{good}.\nmx IN A 192.0.2.20\n"
        + '@ IN TXT "v=spf1 include:spf.mandrillapp.com -all"\n'
        + f'_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{good}; adkim=r; aspf=r"\n'
        + "mte1._domainkey IN CNAME dkim1.mandrillapp.com.\n"
        + "mte2._domainkey IN CNAME dkim2.mandrillapp.com.\n",
        legacy: _soa(legacy)
        + f"@ IN MX 10 mx.{legacy}.\nmx IN A 192.0.2.21\n"
        + '@ IN TXT "v=spf1 include:spf.mandrillapp.com include:_spf.crm.example ~all"\n'
        + '_dmarc IN TXT "DMARC1; p=none"\n'
        + f"mandrill._domainkey IN TXT {dkim}\n",
        # the CRM vendor no longer publishes the SPF record the legacy domain includes: its
        # zone answers NXDOMAIN for it (a permerror), not REFUSED (which would be unknown)
        "crm.example": _soa("crm.example"),
        "click.northwind.example": _soa("click.northwind.example") + "@ IN A 192.0.2.30\n",
        "113.0.203.in-addr.arpa": _soa("113.0.203.in-addr.arpa")
        + f"{sc.dedicated_ip.rsplit('.', 1)[1]} IN PTR {sc.dedicated_domain}.\n",
        "100.51.198.in-addr.arpa": _soa("100.51.198.in-addr.arpa")
        + "".join(
            f"{ip.rsplit('.', 1)[1]} IN PTR mta{ip.rsplit('.', 1)[1]}.shared.mandrillapp.com.\n"
            for ip in sc.shared_ips
        ),
        "shared.mandrillapp.com": _soa("shared.mandrillapp.com")
        + "".join(f"mta{ip.rsplit('.', 1)[1]} IN A {ip}\n" for ip in sc.shared_ips),
    }
    for zone in DEFAULT_ZONES:
        texts[zone.name] = _soa(zone.name) + _test_points(zone)
    return texts


NOISY_LIST = "bl.spamcop.net"


class DemoDns:
    """The demo's DNS server, listing the noisy neighbour while its trouble lasts."""

    def __init__(self, scenario: Scenario, clock: Clock) -> None:
        self.scenario = scenario
        self.clock = clock
        self.zones = ZoneSet.from_texts(demo_zone_texts(scenario))
        self.server = DnsServer(self.zones)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="demo-dns")

    @property
    def port(self) -> int:
        return self.server.port

    def listed_now(self) -> bool:
        sc = self.scenario
        if sc.noisy_ip is None:
            return False
        onset = sc.start + sc.noisy_after + timedelta(minutes=30)
        return onset <= self.clock() < onset + timedelta(hours=8)

    def update(self) -> None:
        """List or delist the noisy neighbour as the scenario time says."""
        zone = next(z for z in DEFAULT_ZONES if z.name == NOISY_LIST)
        if self.scenario.noisy_ip is None:
            return
        name = query_name(self.scenario.noisy_ip, zone)
        if self.listed_now():
            self.zones.set_a(
                name,
                ["127.0.0.2"],
                f"Blocked - see https://www.spamcop.net/bl.shtml?{self.scenario.noisy_ip}",
            )
        else:
            self.zones.remove(name)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.update()

    def start(self) -> DemoDns:
        self.update()
        self.server.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.server.stop()
