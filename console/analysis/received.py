"""Which IP handed a seed message to the receiver, read from its Received headers.

Receivers stack their own internal hops on top (Gmail's `by 2002:…`, Outlook's
`from BN8PR… (2603:10b6:…)`), and write the connecting IP in brackets (Gmail,
Yahoo, Postfix) or bare in parentheses (Exchange Online). So the topmost IP is
often not ours: the hop that names Mandrill's IP or one of its hosts wins.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

#: Host names Mandrill (and Mailchimp's sending network) connects from.
MANDRILL_HOSTS = ("mandrillapp.com", "mcsv.net", "mcdlv.net", "rsgsv.net")

_FROM = re.compile(r"^\s*from\s+(\S+)(.*?)(?:\sby\s|;|$)", re.IGNORECASE)
_IP = re.compile(r"\[?(?:IPv6:)?([0-9a-fA-F:.]*[:.][0-9a-fA-F:.]+)\]?")


@dataclass(frozen=True)
class Hop:
    host: str  # the name the connecting side gave or the reverse lookup found
    ip: str


def _ips(text: str) -> list[str]:
    out = []
    for m in _IP.finditer(text):
        try:
            out.append(str(ipaddress.ip_address(m.group(1).rstrip("."))))
        except ValueError:
            continue
    return out


def hops(values: Iterable[str]) -> list[Hop]:
    """Each Received field's "from" side (host, IP), topmost first; fields without one skipped."""
    out = []
    for value in values:
        m = _FROM.match(" ".join(value.split()))
        if not m:
            continue
        host = m.group(1).strip("[]").rstrip(".").lower()
        found = _ips(m.group(2)) or _ips(m.group(1))
        if found:
            out.append(Hop(host, found[0]))
    return out


def sending_ip(values: Iterable[str], expect: str = "") -> str:
    """The IP that delivered the message to the receiver.

    `expect` (Mandrill's own smtp_events.source_ip) confirms a hop when it appears;
    otherwise the hop from a Mandrill host, else the topmost public IP, else ''.
    """
    found = hops(values)
    if expect and any(h.ip == expect for h in found):
        return expect
    for h in found:
        if h.host.endswith(MANDRILL_HOSTS):
            return h.ip
    for h in found:
        if ipaddress.ip_address(h.ip).is_global:
            return h.ip
    return ""
