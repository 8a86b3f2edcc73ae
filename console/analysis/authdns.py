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


def _dkim_lookup_problem(selector: str, cname: str, txt: tuple[str, ...], error: str) -> str:
    """Why what the lookup found cannot hold a usable key (an error, no record, a CNAME
    pointing elsewhere, several records), or "" when there is one record to read."""
    expected = MANDRILL_DKIM_TARGETS.get(selector)
    if error:
        return error
    if not txt:
        return f"no DKIM record at {selector}._domainkey" + (f" (CNAME {cname})" if cname else "")
    if expected and cname and cname.rstrip(".").lower() != expected:
        return f"CNAME points to {cname}, Mandrill expects {expected}"
    if len(txt) > 1:
        return "more than one DKIM record at this selector"
    return ""


def _dkim_key_problem(record: str) -> str:
    """Why the one record's key is not usable (version, missing, revoked, not base64, a
    short RSA key), or "" when it is."""
    tags = parse_tags(record)
    if tags.get("v", "DKIM1") != "DKIM1":
        return f"v={tags['v']} is not DKIM1"
    key = tags.get("p")
    if key is None:
        return "the record has no p= (public key) tag"
    if key == "":
        return "the key is revoked (empty p=)"
    try:
        der = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        return "the p= key is not valid base64"
    k = tags.get("k", "rsa")
    if k == "rsa" and len(der) < 140:
        return f"the RSA key is too short ({len(der)} bytes of DER)"
    return ""


def dkim_check(
    selector: str, cname: str, txt: tuple[str, ...], error: str = "", *, temperror: bool = False
) -> DkimCheck:
    """Judge one selector: where its CNAME points, and whether a usable key is behind it.
    `temperror`: its lookup got no answer, so nothing can be said of the key."""
    if temperror:
        return DkimCheck(selector, False, "missing", cname, "", error, temperror=True)
    legacy = selector in LEGACY_SELECTORS
    kind = "legacy" if legacy else ("cname" if cname else ("txt" if txt else "missing"))
    record = " ".join(txt)
    why = _dkim_lookup_problem(selector, cname, txt, error) or _dkim_key_problem(txt[0])
    if why:
        return DkimCheck(selector, False, kind, cname, record, why)
    if legacy:
        return DkimCheck(
            selector,
            True,
            kind,
            cname,
            record,
            "legacy mandrill._domainkey key: move to mte1/mte2 CNAMEs",
        )
    return DkimCheck(selector, True, kind, cname, record, "")


def _dmarc_tag(tags: Mapping[str, Any], name: str) -> Any:
    """A tag's value as checkdmarc parsed it, None when the record lacks it."""
    value = tags.get(name)
    return value.get("value") if isinstance(value, dict) else None


def _dmarc_uris(tags: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """A report tag's (rua, ruf) addresses as "scheme:address"."""
    items = _dmarc_tag(tags, name) or []
    return tuple(
        f"{i.get('scheme', 'mailto')}:{i.get('address', '')}"
        for i in items
        if isinstance(i, dict)
    )


def _dmarc_pct(pct: Any) -> int | None:
    """pct= as a number, None when it is absent or not one."""
    return int(pct) if isinstance(pct, int | str) and str(pct).isdigit() else None


def dmarc_check(
    result: Mapping[str, Any], authorized: Mapping[str, bool | None]
) -> DmarcCheck:
    """The record's verdict. Report addresses that have not authorized the domain do not
    make the record fail: it is applied all the same, only those reports will not come."""
    tags = result.get("tags") or {}

    def tag(name: str) -> str:
        return str(_dmarc_tag(tags, name) or "")

    valid = bool(result.get("valid"))
    error = str(result.get("error") or "")
    failure = "" if valid else lookup_failure(error)
    if failure:
        error = f"a lookup got no answer ({failure}): {error}"
    return DmarcCheck(
        valid=valid,
        temperror=bool(failure),
        record=str(result.get("record") or ""),
        policy=tag("p"),
        subdomain_policy=tag("sp"),
        pct=_dmarc_pct(_dmarc_tag(tags, "pct")),
        testing=tag("t"),
        non_existent_policy=tag("np"),
        public_suffix=tag("psd"),
        rua=_dmarc_uris(tags, "rua"),
        ruf=_dmarc_uris(tags, "ruf"),
        adkim=tag("adkim"),
        aspf=tag("aspf"),
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
    return [*_spf_judgements(d), *_dkim_judgements(d), *_dmarc_judgements(d)]


def _spf_judgements(d: DomainDns) -> list[tuple[str, Severity, str]]:
    spf = d.spf
    if spf.temperror:
        return [(f"{d.domain} SPF", "warning", f"{d.domain}: SPF unknown: {spf.error}")]
    if not spf.valid:
        return [(f"{d.domain} SPF", "critical", f"{d.domain}: SPF fails: {spf.error}")]
    return []


def _dkim_judgements(d: DomainDns) -> list[tuple[str, Severity, str]]:
    out: list[tuple[str, Severity, str]] = []
    for k in d.dkim:
        subject = f"{d.domain} DKIM {k.selector}"
        if k.temperror:
            out.append((subject, "warning", f"{d.domain}: DKIM {k.selector} unknown: {k.error}"))
        elif not k.valid:
            out.append((subject, "critical", f"{d.domain}: DKIM {k.selector} fails: {k.error}"))
    return out


def _dmarc_judgements(d: DomainDns) -> list[tuple[str, Severity, str]]:
    """The record's verdict, then (when it is valid) the report addresses that will not
    receive its reports or may not."""
    m = d.dmarc
    subject = f"{d.domain} DMARC"
    out: list[tuple[str, Severity, str]] = []
    if m.temperror:
        out.append((subject, "warning", f"{d.domain}: DMARC unknown: {m.error}"))
    elif not m.valid:
        out.append((subject, "critical", f"{d.domain}: DMARC fails: {m.error}"))
    elif m.policy == "none":
        out.append((subject, "warning", f"{d.domain}: DMARC policy is none (monitoring only)"))
    if m.valid:
        out += _dmarc_report_judgements(d)
    return out


def _dmarc_report_judgements(d: DomainDns) -> list[tuple[str, Severity, str]]:
    """Report addresses that refused to authorize the domain, or whose answer is unknown."""
    m = d.dmarc
    subject = f"{d.domain} DMARC"
    out: list[tuple[str, Severity, str]] = []
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
