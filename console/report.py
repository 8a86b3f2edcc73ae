"""The JSON form of each thing mailops reports, one function per noun.

Pure: view objects in, plain dicts out. `check --json` is built from these, so a
figure has one shape and one meaning wherever it is exported. Unknown is null,
never zero or false.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.analysis.dmarc import DomainRow
    from console.analysis.tlsrpt import TlsDomainRow
    from console.model import (
        AccountView,
        ContentResult,
        DomainDns,
        GmailBoard,
        GmailCompliance,
        GmailDay,
        IpDns,
        IpRow,
        MandrillDay,
        ReadSpan,
        SeedRun,
        SenderDomain,
        SubaccountRow,
    )


def dns_json(d: DomainDns | None) -> dict[str, Any]:
    if d is None:
        return {"spf": None, "dkim": None, "dmarc": None, "mx": None}
    return {
        "spf": {
            "valid": None if d.spf.temperror else d.spf.valid,  # null: no answer, unknown
            "temperror": d.spf.temperror,
            "lookups": d.spf.lookups,
            "void_lookups": d.spf.void_lookups,
            "error": d.spf.error or None,
        },
        "dkim": {
            k.selector: {
                "valid": None if k.temperror else k.valid,
                "kind": k.kind,
                "error": k.error or None,
            }
            for k in d.dkim
        },
        "dmarc": {
            "valid": None if d.dmarc.temperror else d.dmarc.valid,
            "policy": d.dmarc.policy or None,
            "rua": list(d.dmarc.rua),
            "rua_authorized": dict(d.dmarc.authorized),
            "error": d.dmarc.error or None,
        },
        "mx": list(d.mx),
    }


def rates_json(stats: Any) -> dict[str, Any]:
    return {
        "sent": stats.sent,
        "delivery_rate": stats.delivery_rate,
        "hard_bounce_rate": stats.hard_bounce_rate,
        "soft_bounce_rate": stats.soft_bounce_rate,
        "reject_rate": stats.reject_rate,
        "complaint_rate": stats.complaint_rate,
    }


def span_json(span: ReadSpan | None) -> dict[str, Any] | None:
    """A count's period: what it is meant to cover, and the part of it the mail read covers."""
    if span is None:
        return None
    return {
        "period": span.name,
        "from": span.start.isoformat(),
        "read_since": span.since.isoformat(),
        "until": span.until.isoformat(),
        "whole": span.whole,
        "text": span.text,
    }


def seed_json(run: SeedRun | None) -> list[dict[str, Any]]:
    """The `seeds` key of `check --json`: the latest stored run, one object per seed."""
    if run is None:
        return []
    return [
        {
            "seed": r.seed,
            "provider": r.provider,
            "placement": r.placement,
            "folder": r.folder or None,
            "auth": {m: r.auth.get(m) for m in ("spf", "dkim", "dmarc")},
            "source_ip": r.source_ip or r.received_ip or None,
            "received_ip": r.received_ip or None,
            "delay_s": None if r.delay_s is None else round(r.delay_s, 1),
            "run_at": r.run_at.isoformat(),
            "error": r.error or None,
            "mandrill_status": r.mandrill_status or None,
            "message_id": r.message_id or None,
        }
        for r in run.results
    ]


def ip_json(
    r: IpRow, complete: bool | None, rdns: IpDns | None, listings: list[dict[str, Any]]
) -> dict[str, Any]:
    """One sending IP; its counts are null when the messages were not read (`complete`
    None), and `complete` false when the read was cut short."""
    read = complete is not None
    return {
        "ip": r.ip,
        "pool": r.pool,
        "dedicated": r.dedicated,
        "warming_up": r.warming_up,
        "warmup_day": r.warmup_day,
        "warmup_days": r.warmup_days,
        "complete": complete,
        "sent": r.sent if read else None,
        "delivered": r.delivered if read else None,
        "delivery_rate": r.delivery_rate if read else None,
        "noisy_neighbour": r.noisy,
        "ptr": list(rdns.ptr) if rdns else None,
        "fcrdns": rdns.fcrdns if rdns else None,
        "listings": listings,
    }


def subaccount_json(s: SubaccountRow) -> dict[str, Any]:
    """One customer: Mandrill's reputation and sent_weekly, our counts of the mail read."""
    return {
        "id": s.id,
        "name": s.name,
        "status": s.status,
        "reputation": s.reputation,
        "complaints": s.complaints,
        "hard_bounces": s.hard_bounces,
        "messages_read": s.messages,
        "sent_weekly": s.sent_weekly,
    }


def account_json(view: AccountView) -> dict[str, Any]:
    a = view.account
    return {
        "username": a.username,
        "reputation": a.reputation,
        "reputation_word": view.word,
        "hourly_quota": a.hourly_quota,
        "backlog": a.backlog,
        "today": rates_json(a.stats["today"]) if "today" in a.stats else None,
        "last_7_days": rates_json(a.stats["last_7_days"]) if "last_7_days" in a.stats else None,
    }


def content_json(r: ContentResult) -> dict[str, Any]:
    return {
        "name": r.name,
        "score": r.report.score if r.report else None,
        "threshold": r.report.threshold if r.report else None,
        "rules": [
            {"name": h.name, "points": h.points, "description": h.description}
            for h in (r.report.rules if r.report else ())
        ],
        "lint": [{"code": f.code, "text": f.text} for f in r.lint],
        "error": r.error or None,
    }


def dmarc_row_json(r: DomainRow) -> dict[str, Any]:
    return {
        "domain": r.domain,
        "messages": r.messages,
        "pass_rate": None if r.pass_rate is None else round(r.pass_rate, 4),
        "mandrill_pass_rate": (
            None if r.mandrill_pass_rate is None else round(r.mandrill_pass_rate, 4)
        ),
        "unknown_sources": [
            {"ip": x.ip, "messages": x.messages, "failed": x.failed, "spoofing": x.spoofing}
            for x in r.unknown_sources
        ],
        "last_report_at": r.last_report_at.isoformat() if r.last_report_at else None,
    }


def sender_domain_json(d: SenderDomain) -> dict[str, Any]:
    """Mandrill's own senders/domains verdict on a domain."""
    return {
        "spf": d.spf_valid,
        "dkim": d.dkim_valid,
        "dkim2": d.dkim2_valid,
        "dmarc": d.dmarc_valid,
        "valid_signing": d.valid_signing,
        "verified_at": d.verified_at.isoformat() if d.verified_at else None,
        "errors": dict(d.errors),
    }


def postmaster_json(board: GmailBoard | None) -> list[dict[str, Any]] | None:
    """The `postmaster` key of `check --json`: each domain's latest day Gmail published
    (null figures: not published that day), Mandrill's complaints from that domain on
    the same UTC day, its compliance now, and the sentence when the two disagree; None:
    Gmail not read."""
    from console.analysis.gmail import latest_of

    if board is None:
        return None
    out = []
    for row in board.domains:
        day = latest_of(row.days)
        out.append({
            "domain": row.domain,
            "date": day.day.isoformat() if day else None,
            **_gmail_day_json(day),
            "mandrill": _mandrill_day_json(row.mandrill.get(day.day) if day else None),
            **_compliance_json(row.compliance),
            "disagreement": row.sentence or None,
        })  # fmt: skip
    return out


def _mandrill_day_json(m: MandrillDay | None) -> dict[str, Any] | None:
    """Mandrill's side of that UTC day (null: no mail from the domain read that day)."""
    if m is None:
        return None
    return {"messages": m.messages, "complaints": m.complaints,
            "complaint_rate": m.complaint_rate, "whole_day": m.whole}  # fmt: skip


def _gmail_day_json(day: GmailDay | None) -> dict[str, Any]:
    if day is None:
        return {"spam_rate": None, "auth": {"spf": None, "dkim": None, "dmarc": None},
                "tls_rate": None, "delivery_error_rate": None, "delivery_errors": {}}  # fmt: skip
    return {
        "spam_rate": day.spam_rate,
        "auth": {"spf": day.spf, "dkim": day.dkim, "dmarc": day.dmarc},
        "tls_rate": day.tls_rate,
        "delivery_error_rate": day.error_rate,
        "delivery_errors": dict(day.errors),
    }


def _compliance_json(c: GmailCompliance | None) -> dict[str, Any]:
    if c is None:
        return {"compliance": None, "one_click_unsubscribe": None, "honor_unsubscribe": None}
    return {
        "compliance": dict(c.requirements),
        "one_click_unsubscribe": c.one_click_unsubscribe or None,
        "honor_unsubscribe": c.honor_unsubscribe or None,
    }


def tls_row_json(r: TlsDomainRow, days: int) -> dict[str, Any]:
    """One domain of the `tlsrpt` key: the sessions other senders reported to our MX over
    the last `days` days, failures by type, and the paths that failed most."""
    return {
        "domain": r.domain,
        "window_days": days,
        "reports": r.reports,
        "reporters": list(r.reporters),
        "policy_types": list(r.policy_types),
        "successful_sessions": r.successful,
        "failed_sessions": r.failed,
        "failure_rate": r.failure_rate,
        "failures": dict(r.by_type),
        "top_failures": [
            {
                "result_type": p.result_type,
                "sending_ip": p.sending_ip or None,
                "receiving_mx": p.receiving_mx or None,
                "sessions": p.sessions,
            }
            for p in r.paths[:10]
        ],
        "last_report_end": r.last_end.isoformat() if r.last_end else None,
    }
