"""Blocklist answers read right: listed, not_listed, error, broken or timeout — never a guess.

Checkers commonly count Spamhaus's 127.255.255.254 ("you asked through a public
resolver") or URIBL's 127.0.0.1 ("query refused") as listings, and report
"clean" when a resolver silently rewrote or swallowed the answer. Here every
answer is checked against the zone's own code table and against the zone's
test points, and anything not known to mean "listed" is an error with a reason.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.model import DnsAnswer, Listing, Verdict

#: The five words a blocklist verdict can be (`model.Verdict`, at run time: the model
#: loads after the first frame).
VERDICTS = ("listed", "not_listed", "error", "broken", "timeout")

#: Spamhaus (and mirrors of its scheme) answer errors from 127.255.255.0/24.
SPAMHAUS_ERRORS = {
    "127.255.255.250": "the DQS key is not valid (unconfirmed code)",
    "127.255.255.251": "the DQS key is not valid (unconfirmed code)",
    "127.255.255.252": "the zone name has a typo",
    "127.255.255.254": "query refused: it came through a public or open resolver",
    "127.255.255.255": "query refused: too many queries from this resolver",
}


@dataclass(frozen=True)
class Zone:
    """One blocklist and how to read its answers."""

    name: str
    kind: str  # "ip" or "domain"
    codes: Mapping[str, str] = field(default_factory=dict)  # listing code → meaning
    errors: Mapping[str, str] = field(default_factory=dict)  # error code → reason
    bitmask: Mapping[int, str] = field(default_factory=dict)  # bit → meaning (URIBL, SURBL)
    major: bool = False  # a listing here makes `check` critical
    positive_test: str = ""  # a name the zone must list ('' = RFC 5782 default)
    negative_test: str = ""  # a name the zone must not list
    label: str = ""  # how it is shown, when the queried name must not be (a DQS key in it)

    @property
    def display(self) -> str:
        return self.label or self.name

    @property
    def test_points(self) -> tuple[str, str]:
        if self.kind == "ip":
            return (self.positive_test or "127.0.0.2", self.negative_test or "127.0.0.1")
        return (self.positive_test or "test", self.negative_test or "invalid")


def query_name(target: str, zone: Zone) -> str:
    """RFC 5782: reversed IPv4 octets, reversed IPv6 nibbles, or the domain as is."""
    if zone.kind == "ip":
        addr = ipaddress.ip_address(target)
        if addr.version == 4:
            rev = ".".join(reversed(str(addr).split(".")))
        else:
            rev = ".".join(reversed(addr.exploded.replace(":", "")))
        return f"{rev}.{zone.name}"
    try:
        ipaddress.ip_address(target)
    except ValueError:
        return f"{target.rstrip('.').lower()}.{zone.name}"
    raise ValueError(f"{zone.name} lists domains; an IP address cannot be looked up in it")


def _in_loopback_net(code: str) -> bool:
    try:
        return ipaddress.ip_address(code) in ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        return False


def read_answer(zone: Zone, target: str, answer: DnsAnswer) -> Listing:
    """Interpret one answer with the zone's own table (zone health is applied separately)."""
    from console.model import Listing  # here: config loads this module before the first frame

    codes = tuple(sorted(set(answer.addresses))) if answer.rcode == "NOERROR" else ()
    verdict, meaning = _rcode_reading(answer) or _codes_reading(zone, codes)
    txt = " ".join(answer.txt)
    return Listing(zone.display, target, verdict, codes, meaning, txt, zone.major)


def _rcode_reading(answer: DnsAnswer) -> tuple[Verdict, str] | None:
    """What an answer without addresses says: no answer in time, not listed, or an error;
    None for a NOERROR answer, whose addresses tell."""
    if answer.rcode == "TIMEOUT":
        return "timeout", answer.detail or "no answer in time"
    if answer.rcode in ("NXDOMAIN", "NODATA"):
        return "not_listed", ""
    if answer.rcode != "NOERROR":
        reason = {
            "REFUSED": "the nameserver refused the query",
            "SERVFAIL": "the nameserver failed to answer (SERVFAIL)",
        }.get(answer.rcode, answer.detail or f"DNS error {answer.rcode}")
        return "error", reason
    return None


def _codes_reading(zone: Zone, codes: tuple[str, ...]) -> tuple[Verdict, str]:
    """What a NOERROR answer's codes say: none is not listed; one outside 127.0.0.0/8 is
    a resolver rewriting answers; the list's (or Spamhaus's) error codes are an error."""
    if not codes:
        return "not_listed", ""
    if not all(_in_loopback_net(c) for c in codes):
        return (
            "broken",
            "answer outside 127.0.0.0/8: a resolver is rewriting answers (NXDOMAIN hijack?)",
        )
    errors = [zone.errors.get(c) or SPAMHAUS_ERRORS.get(c) for c in codes]
    if any(errors):
        return "error", "; ".join(e for e in errors if e)
    return _listing_reading(zone, codes)


def _listing_reading(zone: Zone, codes: tuple[str, ...]) -> tuple[Verdict, str]:
    """Listed, with what each code means by the zone's table or its bitmask; a code
    either does not document is an error, never a guess."""
    meanings: list[str] = []
    for c in codes:
        if c in zone.codes:
            meanings.append(zone.codes[c])
        elif zone.bitmask:
            value = int(c.rsplit(".", 1)[1])
            bits = [m for bit, m in sorted(zone.bitmask.items()) if value & bit]
            if not bits:
                return "error", f"code {c} sets no known bit of this list"
            meanings.extend(bits)
        else:
            return "error", f"code {c} is not one this list documents"
    return "listed", "; ".join(dict.fromkeys(meanings))


def zone_health(zone: Zone, positive: Listing, negative: Listing) -> tuple[str, str]:
    """('ok' | 'broken' | 'error' | 'timeout', reason) from the zone's two test points.

    A zone that lists its negative test point lists everything (a lapsed domain
    answering wildcards); one that does not list its positive test point is not
    being asked properly (a public resolver swallowing it, a dead zone), so a
    "not listed" from it means nothing.
    """
    if negative.verdict == "listed" or (negative.verdict == "error" and negative.codes):
        return "broken", f"lists its negative test point {zone.test_points[1]}: it lists everything"
    if negative.verdict == "broken":
        return "broken", negative.meaning
    if positive.verdict in ("timeout",):
        return "timeout", "its test point did not answer in time"
    if positive.verdict == "broken":
        return "broken", positive.meaning
    # A test point answered with codes the table lacks still proves the zone is alive.
    undocumented = bool(positive.codes) and not any(
        c in zone.errors or c in SPAMHAUS_ERRORS for c in positive.codes
    )
    if positive.verdict != "listed" and not (positive.verdict == "error" and undocumented):
        why = positive.meaning or "it does not list its own test point"
        if positive.verdict == "not_listed":
            why = (
                f"it does not list its own test point {zone.test_points[0]} "
                "(a public resolver, or a dead list): a 'not listed' from it means nothing"
            )
        return "error", why
    return "ok", ""


def apply_health(listing: Listing, health: tuple[str, str]) -> Listing:
    """A zone that failed its probe cannot vouch for anything, least of all 'not listed'."""
    state, reason = health
    if state == "ok" or listing.verdict in ("error", "timeout"):
        return listing
    if state == "broken":
        return replace(listing, verdict="broken", meaning=reason)
    if listing.verdict == "not_listed":
        verdict: Verdict = "timeout" if state == "timeout" else "error"
        return replace(listing, verdict=verdict, meaning=reason)
    return listing


def _codes(prefix: str, table: Mapping[int, str]) -> dict[str, str]:
    return {f"{prefix}{k}": v for k, v in table.items()}


#: Today's main public lists with their documented codes (SORBS closed in June 2024).
DEFAULT_ZONES: tuple[Zone, ...] = (
    Zone(
        "zen.spamhaus.org",
        "ip",
        _codes(
            "127.0.0.",
            {
                2: "Spamhaus SBL: a known spam source",
                3: "Spamhaus CSS: snowshoe spam",
                4: "Spamhaus XBL: exploited or infected host",
                9: "Spamhaus DROP: hijacked network",
                10: "Spamhaus PBL (ISP): end-user range, should not send direct to MX",
                11: "Spamhaus PBL: end-user range, should not send direct to MX",
                30: "Spamhaus BCL: botnet controller",
            },
        ),
        major=True,
    ),
    Zone(
        "dbl.spamhaus.org",
        "domain",
        _codes(
            "127.0.1.",
            {
                2: "Spamhaus DBL: spam domain",
                4: "Spamhaus DBL: phishing domain",
                5: "Spamhaus DBL: malware domain",
                6: "Spamhaus DBL: botnet C&C domain",
                102: "Spamhaus DBL: abused legitimate domain (spam)",
                103: "Spamhaus DBL: abused redirector or URL shortener",
                104: "Spamhaus DBL: abused legitimate domain (phishing)",
                105: "Spamhaus DBL: abused legitimate domain (malware)",
                106: "Spamhaus DBL: abused legitimate domain (botnet C&C)",
            },
        ),
        errors={"127.0.1.255": "an IP address was queried against a domain list"},
        major=True,
        positive_test="dbltest.com",
    ),
    Zone("bl.spamcop.net", "ip", {"127.0.0.2": "SpamCop: reported spam source"}, major=True),
    Zone(
        "b.barracudacentral.org",
        "ip",
        {"127.0.0.2": "Barracuda BRBL: poor reputation"},
        major=True,
    ),
    Zone("psbl.surriel.com", "ip", {"127.0.0.2": "PSBL: spam trap hits"}),
    Zone("dnsbl-1.uceprotect.net", "ip", {"127.0.0.2": "UCEPROTECT level 1: this IP hit traps"}),
    Zone(
        "bl.mailspike.net",
        "ip",
        _codes(
            "127.0.0.",
            {
                2: "Mailspike: zombie",
                10: "Mailspike: worst reputation",
                11: "Mailspike: very bad reputation",
                12: "Mailspike: bad reputation",
            },
        ),
    ),
    Zone(
        "all.spamrats.com",
        "ip",
        _codes(
            "127.0.0.",
            {
                36: "SpamRATS Dyna: dynamic range",
                37: "SpamRATS NoPtr: no rDNS",
                38: "SpamRATS Spam: spam source",
                43: "SpamRATS Auth: auth attacks",
            },
        ),
    ),
    Zone(
        "multi.uribl.com",
        "domain",
        errors={"127.0.0.1": "URIBL refused the query (volume, or a public resolver)"},
        bitmask={2: "URIBL black", 4: "URIBL grey", 8: "URIBL red"},
        major=True,
        positive_test="test.uribl.com",
    ),
    Zone(
        "multi.surbl.org",
        "domain",
        errors={"127.0.0.1": "SURBL refused the query (volume, or a public resolver)"},
        bitmask={8: "SURBL phishing", 16: "SURBL malware", 64: "SURBL abuse", 128: "SURBL cracked"},
        positive_test="test.surbl.org",
    ),
)


@dataclass(frozen=True)
class Probe:
    """One name to look up, and what it stands for."""

    zone: Zone
    target: str  # the IP or domain asked about, or a test point
    qname: str
    is_test: bool = False


def plan(zones: tuple[Zone, ...], ips: list[str], domains: list[str]) -> list[Probe]:
    """Every lookup a sweep needs: each target in each zone of its kind, plus test points."""
    probes: list[Probe] = []
    for zone in zones:
        targets = ips if zone.kind == "ip" else domains
        for t in targets:
            try:
                probes.append(Probe(zone, t, query_name(t, zone)))
            except ValueError:
                continue  # e.g. an IPv6 address mistyped; the config check reports it
        if targets:
            for t in zone.test_points:
                probes.append(Probe(zone, t, query_name(t, zone), is_test=True))
    return probes


def judge(probes: list[Probe], answers: Mapping[str, DnsAnswer]) -> list[Listing]:
    """Verdicts for the real targets, each corrected by its zone's test-point health."""
    from console.model import DnsAnswer

    health: dict[str, tuple[str, str]] = {}  # keyed by the queried zone name
    by_zone: dict[str, dict[str, Listing]] = {}
    for p in probes:
        if p.is_test:
            by_zone.setdefault(p.zone.name, {})[p.target] = read_answer(
                p.zone, p.target, answers.get(p.qname, DnsAnswer("ERROR", detail="not asked"))
            )
    for p in probes:
        if p.is_test and p.zone.name not in health:
            pos, neg = p.zone.test_points
            got = by_zone[p.zone.name]
            health[p.zone.name] = zone_health(p.zone, got[pos], got[neg])
    out = []
    for p in probes:
        if not p.is_test:
            answer = answers.get(p.qname, DnsAnswer("ERROR", detail="not asked"))
            out.append(apply_health(read_answer(p.zone, p.target, answer), health[p.zone.name]))
    return out


#: Spamhaus zones and their DQS form (always .net; the key is the first label).
DQS_FORMS = {"zen.spamhaus.org": "zen.dq.spamhaus.net", "dbl.spamhaus.org": "dbl.dq.spamhaus.net"}


def configured_zones(
    ip_zones: tuple[str, ...],
    domain_zones: tuple[str, ...],
    codes: Mapping[str, Mapping[str, str]],
    dqs_key: str | None = None,
) -> tuple[Zone, ...]:
    """Zones from config: built-in tables by name, custom ones from `codes`.

    Raises ValueError naming a zone that has neither (an unknown list's codes
    cannot be guessed, and guessing is how checkers end up lying).
    """
    known = {z.name: z for z in DEFAULT_ZONES}
    out = []
    for kind, names in (("ip", ip_zones), ("domain", domain_zones)):
        for name in names:
            name = name.strip(".").lower()
            if name in codes:
                zone = Zone(name, kind, dict(codes[name]))
            elif name in known and known[name].kind == kind:
                zone = known[name]
            elif name in known:
                raise ValueError(f"{name} lists {known[name].kind}s, not {kind}s")
            else:
                raise ValueError(f'{name} has no code table: add [blocklists.codes."{name}"]')
            if dqs_key and name in DQS_FORMS:
                zone = Zone(
                    f"{dqs_key}.{DQS_FORMS[name]}",
                    zone.kind,
                    zone.codes,
                    zone.errors,
                    zone.bitmask,
                    zone.major,
                    zone.positive_test,
                    zone.negative_test,
                    label=f"{name} (DQS)",
                )
            out.append(zone)
    return tuple(out)


@dataclass(frozen=True)
class TargetSummary:
    """One IP's or domain's standing across all lists, for a table cell."""

    target: str
    checked: int
    listed: tuple[Listing, ...] = ()
    unknown: tuple[Listing, ...] = ()  # error, broken or timeout: not known to be clean

    @property
    def text(self) -> str:
        if self.listed:
            names = ", ".join(
                x.zone.split(".")[-2] if "." in x.zone else x.zone for x in self.listed
            )
            return f"{len(self.listed)}/{self.checked} {names}"
        if self.unknown:
            return f"?{len(self.unknown)}/{self.checked} unknown"
        return f"0/{self.checked}"


def summarize(listings: tuple[Listing, ...]) -> dict[str, TargetSummary]:
    by: dict[str, list[Listing]] = {}
    for item in listings:
        by.setdefault(item.target, []).append(item)
    return {
        t: TargetSummary(
            t,
            len(items),
            tuple(x for x in items if x.verdict == "listed"),
            tuple(x for x in items if x.verdict in ("error", "broken", "timeout")),
        )
        for t, items in by.items()
    }


def coverage(listings: Iterable[Listing]) -> str:
    """What the sweep asked, as the IP panel's n/m reads it: IPs against the IP lists,
    domains against the domain lists ("8 IPs × 8 IP lists · 3 domains × 4 domain lists")."""
    kinds: dict[str, tuple[set[str], set[str]]] = {"IP": (set(), set()), "domain": (set(), set())}
    for x in listings:
        targets, zones = kinds["IP" if _is_ip(x.target) else "domain"]
        targets.add(x.target)
        zones.add(x.zone)
    parts = []
    for kind, (targets, zones) in kinds.items():
        if targets:
            t, z = len(targets), len(zones)
            parts.append(f"{t} {kind}{'s' * (t != 1)} × {z} {kind} list{'s' * (z != 1)}")
    return " · ".join(parts) or "nothing asked yet"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
