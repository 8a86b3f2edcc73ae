"""Mandrill's JSON shapes → model objects. Pure and lenient, shared by client and store.

Unknown fields stay in `raw`; unknown enum values stay plain strings; a
malformed item is skipped (None) rather than failing a whole poll.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from console.model import (
    Account,
    Ip,
    MessageEvent,
    Reject,
    SenderDomain,
    SendResult,
    SmtpEvent,
    Stats,
    Subaccount,
    Warmup,
)
from console.timeutil import from_ts, parse_mandrill_time


def _int(v: object, default: int | None = 0) -> int | None:
    if isinstance(v, bool):
        return default
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v)
    if isinstance(v, str):
        try:
            return int(float(v))
        except ValueError:
            return default
    return default


def _str(v: object) -> str:
    if v is None:
        return ""
    return v if isinstance(v, str) else str(v)


def _ip(v: object) -> str:
    """An IP address as Mandrill's documentation types it, or "" for anything else: text
    or a number in an IP field must never be counted, listed or looked up as an IP."""
    if not isinstance(v, str) or not v:
        return ""
    try:
        return str(ipaddress.ip_address(v.strip()))
    except ValueError:
        return ""


def _bool(v: object) -> bool:
    """JSON true only: the string "true" (or "false", which is truthy) is not a boolean."""
    return v is True


def _opt_bool(v: object) -> bool | None:
    return v if isinstance(v, bool) else None


_LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?$")


def _domain(v: object) -> str:
    """A domain name, or "" (a number, an object, text with spaces or controls)."""
    if not isinstance(v, str):
        return ""
    try:
        ascii_name = v.strip().encode("idna").decode("ascii")
    except UnicodeError:
        return ""
    return v.strip().lower() if _DOMAIN.match(ascii_name) else ""


def parse_stats(d: object) -> Stats:
    if not isinstance(d, dict):
        return Stats()
    return Stats(
        sent=_int(d.get("sent")) or 0,
        hard_bounces=_int(d.get("hard_bounces")) or 0,
        soft_bounces=_int(d.get("soft_bounces")) or 0,
        rejects=_int(d.get("rejects")) or 0,
        complaints=_int(d.get("complaints")) or 0,
        unsubs=_int(d.get("unsubs")) or 0,
        opens=_int(d.get("opens")) or 0,
        clicks=_int(d.get("clicks")) or 0,
    )


def parse_account(d: dict[str, Any]) -> Account:
    stats = d.get("stats") if isinstance(d.get("stats"), dict) else {}
    assert isinstance(stats, dict)
    return Account(
        username=_str(d.get("username")),
        reputation=_int(d.get("reputation"), None),
        hourly_quota=_int(d.get("hourly_quota"), None),
        backlog=_int(d.get("backlog"), None),
        stats={str(k): parse_stats(v) for k, v in stats.items()},
    )


def parse_ip(d: object) -> Ip | None:
    """An ips/list item; None when its `ip` is not an IP address."""
    if not isinstance(d, dict) or not _ip(d.get("ip")):
        return None
    w = d.get("warmup") if isinstance(d.get("warmup"), dict) else {}
    assert isinstance(w, dict)
    return Ip(
        ip=_ip(d.get("ip")),
        pool=_str(d.get("pool")),
        domain=_domain(d.get("domain")),
        warmup=Warmup(
            warming_up=_bool(w.get("warming_up")),
            start_at=parse_mandrill_time(w.get("start_at")),
            end_at=parse_mandrill_time(w.get("end_at")),
        ),
        created_at=parse_mandrill_time(d.get("created_at")),
    )


def parse_subaccount(d: object) -> Subaccount | None:
    if not isinstance(d, dict) or d.get("id") in (None, ""):
        return None
    return Subaccount(
        id=_str(d.get("id")),
        name=_str(d.get("name")),
        status=_str(d.get("status")),
        reputation=_int(d.get("reputation"), None),
        sent_weekly=_int(d.get("sent_weekly")) or 0,
        sent_monthly=_int(d.get("sent_monthly")) or 0,
        sent_total=_int(d.get("sent_total")) or 0,
    )


def parse_reject(d: object) -> Reject | None:
    if not isinstance(d, dict) or not d.get("email"):
        return None
    return Reject(
        email=_str(d.get("email")),
        reason=_str(d.get("reason")),
        detail=_str(d.get("detail")),
        created_at=parse_mandrill_time(d.get("created_at")),
        last_event_at=parse_mandrill_time(d.get("last_event_at")),
        expires_at=parse_mandrill_time(d.get("expires_at")),
        expired=_bool(d.get("expired")),
        subaccount=_str(d.get("subaccount")),
    )


def _valid(section: object) -> bool | None:
    if isinstance(section, dict):
        return _opt_bool(section.get("valid"))
    return None


def parse_domain(d: object) -> SenderDomain | None:
    """A senders/domains item; None when `domain` is not a domain name."""
    if not isinstance(d, dict) or not _domain(d.get("domain")):
        return None
    errors = {
        k: _str(d[k].get("error"))
        for k in ("spf", "dkim", "dkim2", "dmarc")
        if isinstance(d.get(k), dict) and d[k].get("error")
    }
    return SenderDomain(
        domain=_domain(d.get("domain")),
        spf_valid=_valid(d.get("spf")),
        dkim_valid=_valid(d.get("dkim")),
        dkim2_valid=_valid(d.get("dkim2")),
        dmarc_valid=_valid(d.get("dmarc")),
        valid_signing=_opt_bool(d.get("valid_signing")),
        verified_at=parse_mandrill_time(d.get("verified_at")),
        errors=errors,
    )


def parse_smtp_events(items: object) -> tuple[SmtpEvent, ...]:
    if not isinstance(items, list):
        return ()
    out = []
    for e in items:
        if not isinstance(e, dict):
            continue
        out.append(
            SmtpEvent(
                ts=from_ts(e.get("ts")),
                type=_str(e.get("type")),
                diag=_str(e.get("diag")),
                source_ip=_ip(e.get("source_ip")),
                destination_ip=_ip(e.get("destination_ip")),
                size=_int(e.get("size"), None),
            )
        )
    return tuple(out)


def is_sms(d: dict[str, Any]) -> bool:
    return d.get("channel") == "sms" or "sms_events" in d


def parse_message(d: object) -> MessageEvent | None:
    """A search/info item → MessageEvent; None for SMS items and items without id or time."""
    if not isinstance(d, dict) or is_sms(d):
        return None
    ts = from_ts(d.get("ts"))
    mid = _str(d.get("_id"))
    if ts is None or not mid:
        return None
    reject = d.get("reject") if isinstance(d.get("reject"), dict) else {}
    assert isinstance(reject, dict)
    tags = d.get("tags") if isinstance(d.get("tags"), list) else []
    assert isinstance(tags, list)
    return MessageEvent(
        message_id=mid,
        ts=ts,
        state=_str(d.get("state")) or "unknown",
        email=_str(d.get("email")),
        sender=_str(d.get("sender")),
        subject=_str(d.get("subject")),
        subaccount=_str(d.get("subaccount")),
        diag=_str(d.get("diag")),
        bounce_description=_str(d.get("bounce_description")),
        reject_reason=_str(reject.get("reason")),
        template=_str(d.get("template")),
        tags=tuple(_str(t) for t in tags),
        smtp_events=parse_smtp_events(d.get("smtp_events")),
        raw=d,
    )


def messages_from(items: Iterable[object]) -> list[MessageEvent]:
    return [m for m in (parse_message(i) for i in items) if m is not None]


def parse_send_result(d: object) -> SendResult | None:
    if not isinstance(d, dict) or not d.get("email"):
        return None
    return SendResult(
        email=_str(d.get("email")),
        status=_str(d.get("status")) or "unknown",
        message_id=_str(d.get("_id")),
        reject_reason=_str(d.get("reject_reason")),
        queued_reason=_str(d.get("queued_reason")),
    )
