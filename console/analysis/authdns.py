"""SPF, DKIM and DMARC verdicts from what was looked up — pure, so tested without DNS.

SPF and DMARC records are parsed by checkdmarc (RFC 7208 lookup and void
counting are easy to get subtly wrong); here its result dicts become model
objects. DKIM is ours: checkdmarc does not check it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from console.model import DkimCheck, DmarcCheck, DomainDns, Severity, SpfCheck

MANDRILL_SPF_INCLUDE = "spf.mandrillapp.com"

#: Mandrill's DKIM selectors and the CNAME target each must point to.
MANDRILL_DKIM_TARGETS = {"mte1": "dkim1.mandrillapp.com", "mte2": "dkim2.mandrillapp.com"}
LEGACY_SELECTORS = frozenset({"mandrill"})


def _includes(parsed: Any) -> bool:
    """Whether Mandrill's include appears anywhere in the (nested) SPF tree."""
    if not isinstance(parsed, dict):
        return False
    for mech in parsed.get("mechanisms") or []:
        if not isinstance(mech, dict):
            continue
        if mech.get("mechanism") == "include" and str(mech.get("value", "")).rstrip(
            "."
        ).lower() == (MANDRILL_SPF_INCLUDE):
            return True
        if _includes(mech.get("parsed")):
            return True
    redirect = parsed.get("redirect")
    return isinstance(redirect, dict) and _includes(redirect.get("parsed"))


#: How dnspython's errors, as checkdmarc passes them on in its text, name a lookup that
#: got no answer: a timeout, REFUSED or SERVFAIL is not an answer at all.
_NO_ANSWER = (
    ("lifetime expired", "timeout"),
    ("timed out", "timeout"),
    ("answered REFUSED", "REFUSED"),
    ("answered SERVFAIL", "SERVFAIL"),
    ("All nameservers failed", "SERVFAIL"),
)


def lookup_failure(text: str) -> str:
    """"timeout", "REFUSED", "SERVFAIL" when `text` (a checkdmarc error) says a lookup got
    no answer, else "". checkdmarc reports these as a permerror or "no record"; RFC 7208
    §4.4 and §5.2 make them a temperror: unknown, to be asked again."""
    return next((what for marker, what in _NO_ANSWER if marker in text), "")


def spf_check(result: Mapping[str, Any]) -> SpfCheck:
    valid = bool(result.get("valid"))
    include = _includes(result.get("parsed"))
    error = str(result.get("error") or "")
    failure = "" if valid else lookup_failure(error)
    if failure:
        return SpfCheck(
            valid=False,
            record=str(result.get("record") or ""),
            error=f"temperror: a lookup got no answer ({failure}): {error}",
            temperror=True,
        )
    if valid and not include:
        error = f"the record does not include {MANDRILL_SPF_INCLUDE}: Mandrill's IPs may fail SPF"
        valid = False
    return SpfCheck(
        valid=valid,
        record=str(result.get("record") or ""),
        lookups=result.get("dns_lookups"),
        void_lookups=result.get("void_dns_lookups"),
        mandrill_include=include,
        error=error,
        warnings=tuple(str(w) for w in result.get("warnings") or ()),
    )


def parse_tags(record: str) -> dict[str, str]:
    tags = {}
    for part in record.split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            tags[k.strip().lower()] = "".join(v.split())
    return tags


def dkim_check(
    selector: str, cname: str, txt: tuple[str, ...], error: str = "", *, temperror: bool = False
) -> DkimCheck:
    """Judge one selector: where its CNAME points, and whether a usable key is behind it.
    `temperror`: its lookup got no answer, so nothing can be said of the key."""
    if temperror:
        return DkimCheck(selector, False, "missing", cname, "", error, temperror=True)
    legacy = selector in LEGACY_SELECTORS
    expected = MANDRILL_DKIM_TARGETS.get(selector)
    kind = "legacy" if legacy else ("cname" if cname else ("txt" if txt else "missing"))
    record = " ".join(txt)

    def out(valid: bool, why: str = "") -> DkimCheck:
        return DkimCheck(selector, valid, kind, cname, record, why)

    if error:
        return out(False, error)
    if not txt:
        return out(
            False,
            f"no DKIM record at {selector}._domainkey" + (f" (CNAME {cname})" if cname else ""),
        )
    if expected and cname and cname.rstrip(".").lower() != expected:
        return out(False, f"CNAME points to {cname}, Mandrill expects {expected}")
    if len(txt) > 1:
        return out(False, "more than one DKIM record at this selector")
    tags = parse_tags(txt[0])
    if tags.get("v", "DKIM1") != "DKIM1":
        return out(False, f"v={tags['v']} is not DKIM1")
    key = tags.get("p")
    if key is None:
        return out(False, "the record has no p= (public key) tag")
    if key == "":
        return out(False, "the key is revoked (empty p=)")
    try:
        der = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        return out(False, "the p= key is not valid base64")
    k = tags.get("k", "rsa")
    if k == "rsa" and len(der) < 140:
        return out(False, f"the RSA key is too short ({len(der)} bytes of DER)")
    if legacy:
        return DkimCheck(
            selector,
            True,
            kind,
            cname,
            record,
            "legacy mandrill._domainkey key: move to mte1/mte2 CNAMEs",
        )
    return out(True)


def dmarc_check(
    result: Mapping[str, Any], authorized: Mapping[str, bool | None]
) -> DmarcCheck:
    """The record's verdict. Report addresses that have not authorized the domain do not
    make the record fail: it is applied all the same, only those reports will not come."""
    tags = result.get("tags") or {}

    def tag(name: str) -> Any:
        value = tags.get(name)
        return value.get("value") if isinstance(value, dict) else None

    def uris(name: str) -> tuple[str, ...]:
        items = tag(name) or []
        return tuple(
            f"{i.get('scheme', 'mailto')}:{i.get('address', '')}"
            for i in items
            if isinstance(i, dict)
        )

    pct = tag("pct")
    valid = bool(result.get("valid"))
    error = str(result.get("error") or "")
    failure = "" if valid else lookup_failure(error)
    if failure:
        error = f"a lookup got no answer ({failure}): {error}"
    return DmarcCheck(
        valid=valid,
        temperror=bool(failure),
        record=str(result.get("record") or ""),
        policy=str(tag("p") or ""),
        subdomain_policy=str(tag("sp") or ""),
        pct=int(pct) if isinstance(pct, int | str) and str(pct).isdigit() else None,
        testing=str(tag("t") or ""),
        non_existent_policy=str(tag("np") or ""),
        public_suffix=str(tag("psd") or ""),
        rua=uris("rua"),
        ruf=uris("ruf"),
        adkim=str(tag("adkim") or ""),
        aspf=str(tag("aspf") or ""),
        authorized=dict(authorized),
        error=error,
        warnings=tuple(str(w) for w in result.get("warnings") or ()),
    )


def external_destinations(domain: str, rua: tuple[str, ...], ruf: tuple[str, ...]) -> list[str]:
    """Report addresses outside the domain: each needs <domain>._report._dmarc.<dest>."""
    out = []
    base = domain.rstrip(".").lower()
    for uri in (*rua, *ruf):
        if not uri.lower().startswith("mailto:") or "@" not in uri:
            continue
        dest = uri.split("@", 1)[1].split("!", 1)[0].rstrip(".").lower()
        if dest != base and not dest.endswith("." + base) and not base.endswith("." + dest):
            out.append(uri)
    return out


def authorization_name(domain: str, uri: str) -> str:
    dest = uri.split("@", 1)[1].split("!", 1)[0].rstrip(".").lower()
    return f"{domain.rstrip('.').lower()}._report._dmarc.{dest}"


def auth_judgements(d: DomainDns) -> list[tuple[str, Severity, str]]:
    """What a domain's SPF, DKIM and DMARC say, as (subject, severity, sentence): the one
    judgement the alert rules, `check` and the screens share. A lookup that got no answer
    is a warning that says so, never "fails"."""
    out: list[tuple[str, Severity, str]] = []
    spf = d.spf
    if spf.temperror:
        out.append((f"{d.domain} SPF", "warning", f"{d.domain}: SPF unknown: {spf.error}"))
    elif not spf.valid:
        out.append((f"{d.domain} SPF", "critical", f"{d.domain}: SPF fails: {spf.error}"))
    for k in d.dkim:
        subject = f"{d.domain} DKIM {k.selector}"
        if k.temperror:
            out.append((subject, "warning", f"{d.domain}: DKIM {k.selector} unknown: {k.error}"))
        elif not k.valid:
            out.append((subject, "critical", f"{d.domain}: DKIM {k.selector} fails: {k.error}"))
    m = d.dmarc
    subject = f"{d.domain} DMARC"
    if m.temperror:
        out.append((subject, "warning", f"{d.domain}: DMARC unknown: {m.error}"))
    elif not m.valid:
        out.append((subject, "critical", f"{d.domain}: DMARC fails: {m.error}"))
    elif m.policy == "none":
        out.append((subject, "warning", f"{d.domain}: DMARC policy is none (monitoring only)"))
    if m.valid:
        refused = [a for a, ok in m.authorized.items() if ok is False]
        unknown = [a for a, ok in m.authorized.items() if ok is None]
        if refused:
            out.append((f"{subject} reports", "warning",
                        f"{d.domain}: DMARC valid (p={m.policy}), but no aggregate reports will "
                        f"arrive at {', '.join(refused)}: that domain has not authorized "
                        "reports about this one"))  # fmt: skip
        if unknown:
            out.append((f"{subject} reports", "warning",
                        f"{d.domain}: DMARC valid (p={m.policy}); whether {', '.join(unknown)} "
                        "accepts its reports is unknown (the lookup got no answer)"))  # fmt: skip
    return out
