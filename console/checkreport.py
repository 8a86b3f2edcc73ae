"""The report `mailops check` prints, assembled from the console's own pipeline and the
serializers in console/report.py: what each source answered, the judgement (the same rule
families as the console's alerts), and every figure with the period it covers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from console.analysis.health import ORDER
from console.registry import SourceName, message_reads, spec
from console.report import (
    account_json,
    content_json,
    dmarc_row_json,
    dns_json,
    ip_json,
    postmaster_json,
    seed_json,
    sender_domain_json,
    span_json,
    subaccount_json,
    tls_row_json,
)

if TYPE_CHECKING:
    from console.analysis.health import Signal
    from console.jobs import Pipeline
    from console.model import Alert, BlocklistView, DmarcReport, SeedRun
    from console.updates import Update

EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_UNUSABLE = 0, 1, 2, 3


def check_sources(pipeline: Pipeline) -> tuple[SourceName, ...]:
    """What `check` polls: the sources the registry marks for it that this pipeline runs
    (the Mandrill and DNS data sets, and the content checks if any: scoring is local and
    quick). The late-state rescan is covered by check's own window; the DMARC reports are
    read as the console stored them."""
    return tuple(n for n in pipeline.sources if spec(n).in_check)


def sources_json(
    pipeline: Pipeline, updates: dict[str, Update]
) -> tuple[dict[str, Any], list[str]]:
    """Each source's answer ({ok, error, polled_at}, and for the message reads whether
    they saw their whole window), and the names of those that failed or were skipped."""
    sources: dict[str, Any] = {}
    failed: list[str] = []
    for name in check_sources(pipeline):
        u = updates.get(name)
        if u is None:
            first_error = next(
                (x.status.error for x in updates.values() if not x.status.ok), "not polled"
            )
            sources[name] = {"ok": False, "error": f"skipped: {first_error}", "polled_at": None}
            failed.append(name)
            continue
        st = u.status
        sources[name] = {
            "ok": bool(st.ok),
            "error": st.error or None,
            "polled_at": st.last_attempt_at.isoformat() if st.last_attempt_at else None,
        }
        if name in message_reads():  # did it see every message of its window?
            sources[name] |= _coverage_json(u)
        if not st.ok:
            failed.append(name)
    return sources, failed


def _coverage_json(u: Update) -> dict[str, Any]:
    st, covered, unread = u.status, u.result.covered_until, u.result.unread
    return {
        "complete": st.ok is True and covered is not None and not st.partial,
        "covered_until": covered.isoformat() if covered else None,
        "unread": {"from": unread[0].isoformat(), "to": unread[1].isoformat()} if unread else None,
        "partial": st.partial or None,
    }


def listings_json(blocklists: BlocklistView | None) -> dict[str, list[dict[str, Any]]]:
    """Every list's answer, by the IP or domain it is about."""
    listings: dict[str, list[dict[str, Any]]] = {}
    for item in blocklists.listings if blocklists else ():
        listings.setdefault(item.target, []).append(
            {"zone": item.zone, "verdict": item.verdict, "codes": list(item.codes),
             "meaning": item.meaning}
        )  # fmt: skip
    return listings


def alerts_json(
    signals: Sequence[Signal], stored: Sequence[Alert], checked_at: datetime
) -> list[dict[str, Any]]:
    """The alerts as judged now; `since` from the console's own alert, if it has one."""
    open_ = {a.key: a for a in stored if a.resolved_at is None}
    return [
        {
            "rule": sig.rule,
            "severity": sig.severity,
            "subject": sig.subject,
            "message": sig.message,
            "since": (open_[sig.key].opened_at if sig.key in open_ else checked_at).isoformat(),
        }
        for sig in signals
    ]


def domains_json(
    pipeline: Pipeline, listings: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Each sending or link domain: Mandrill's verdict, mailops' own reading, listings."""
    from console.model import SenderDomain

    snap = pipeline.store.get_snapshot("domains", list[SenderDomain])
    mandrill = {d.domain: sender_domain_json(d) for d in (snap[0] if snap else [])}
    ours = {d.domain: d for d in pipeline.dns_view() or ()}
    names = dict.fromkeys([*mandrill, *ours, *pipeline.config.domains.link_domains])
    return [
        {"domain": name, "mandrill": mandrill.get(name), **dns_json(ours.get(name)),
         "listings": listings.get(name, [])}
        for name in names
    ]  # fmt: skip


def events_json(pipeline: Pipeline, read: bool) -> tuple[dict[str, Any], dict[str, int] | None]:
    """The feed events of the check window by kind (stored, and read by this check), with
    the period they cover; None when the messages could not be read (unknown, not 0)."""
    from console.model import FEED_KINDS

    hours = pipeline.config.mandrill.check_window_hours
    span = pipeline.read_span(f"{hours:g} h", pipeline.clock() - timedelta(hours=hours))
    if not read:
        return span_json(span) or {}, None
    events = pipeline.store.feed_kind_counts(since=span.start)
    known = {k: events.get(k, 0) for k in FEED_KINDS}
    return span_json(span) or {}, known | {k: v for k, v in events.items() if k not in FEED_KINDS}


def judge(
    pipeline: Pipeline, seed_run: SeedRun | None, dmarc_rows: Sequence[Any], dmarc_read: bool
) -> list[Signal]:
    """The console's alert rules over what check read, worst first (failing sources make
    exit 3 on their own, so their rule is not judged here)."""
    from console.analysis.alerts import evaluate as evaluate_alerts

    config = pipeline.config
    inputs = replace(
        pipeline.alert_inputs(),
        seed_run=seed_run,
        statuses=None,
        dmarc=dmarc_rows if dmarc_read else None,
    )
    signals, _ = evaluate_alerts(
        inputs, config.thresholds, config.alerts, config.dmarc, config.postmaster, config.tlsrpt
    )
    return sorted(signals, key=lambda s: (-ORDER[s.severity], s.rule, s.subject))


def figures_json(
    pipeline: Pipeline, read: bool, cut: str, listings: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """The counts over the mail read (per IP, per customer, events by kind), each with the
    period it covers; `read` False: the messages could not be read, so counts built on
    them are unknown; `cut`: why the read stopped short (their counts are partial)."""
    blocklists = pipeline.blocklist_view()
    rdns = {r.ip: r for r in blocklists.ips} if blocklists else {}
    ip_view, subs = pipeline.ip_view(), pipeline.subaccount_view()
    events_span, events = events_json(pipeline, read)
    complete = None if not read else not cut
    return {
        "ips": [ip_json(r, complete, rdns.get(r.ip), listings.get(r.ip, [])) for r in ip_view.rows],
        "subaccounts": [subaccount_json(s) for s in subs],
        # the periods the counts over the mail read really cover
        "counted": {
            "subaccounts": span_json(subs[0].span if subs else pipeline.subaccount_span()),
            "ips": span_json(ip_view.span),
            "events": events_span,
        },
        "events": events,
        "messages_without_ip": ip_view.unattributed,
    }


def gmail_json(pipeline: Pipeline) -> list[dict[str, Any]] | None:
    """Gmail Postmaster Tools per domain; None: not configured, or never read."""
    if "postmaster" not in pipeline.sources:
        return None
    return postmaster_json(pipeline.gmail_board())


def tls_json(pipeline: Pipeline) -> list[dict[str, Any]] | None:
    """SMTP TLS reports per domain over 7 days; None when none is stored at all (no
    report is not "no failure")."""
    from console.analysis.tlsrpt import summarize as summarize_tls

    now = pipeline.clock()
    reports = pipeline.store.tls_reports(now - timedelta(days=7))
    if not reports:
        return None
    return [tls_row_json(r, 7) for r in summarize_tls(reports, now, 7)]


def overall(signals: Sequence[Signal], failed: Sequence[str], doubt: bool) -> tuple[str, int]:
    """The status and exit code: the worst signal; at least a warning when part of the
    state or of the mail could not be read (`doubt`); unknown (exit 3) when a source
    failed."""
    status = max((s.severity for s in signals), key=lambda s: ORDER[s], default="ok")
    if doubt and status == "ok":
        status = "warning"
    if failed:
        return "unknown", EXIT_UNUSABLE
    return status, {"ok": EXIT_OK, "warning": EXIT_WARNING, "critical": EXIT_CRITICAL}[status]


def check_report(
    pipeline: Pipeline,
    updates: dict[str, Update],
    seed_run: SeedRun | None = None,
    stored_alerts: Sequence[Alert] = (),
    dmarc_reports: Sequence[DmarcReport] | None = (),
    state_damage: Sequence[str] = (),
) -> tuple[dict[str, Any], int]:
    """The report `check` prints, and its exit status. `dmarc_reports` None: the stored
    reports could not be read (the key is null, not empty); `state_damage`: what was wrong
    with the state dir's files, each a warning finding."""
    from console.analysis.dmarc import summarize as summarize_dmarc
    from console.analysis.rejects import summarize_rejects

    sources, failed = sources_json(pipeline, updates)
    dmarc_rows = summarize_dmarc(
        dmarc_reports or (), pipeline.clock(), 7, pipeline.sending_ips(), pipeline.config.dmarc
    )
    signals = judge(pipeline, seed_run, dmarc_rows, bool(dmarc_reports))
    checked_at = datetime.now(UTC)
    read = "messages" in updates and bool(updates["messages"].status.ok)
    cut = updates["messages"].status.partial if read else ""
    status, code = overall(signals, failed, bool(state_damage or cut))
    listings = listings_json(pipeline.blocklist_view())
    findings = [{"severity": sig.severity, "text": sig.message} for sig in signals]
    findings += [{"severity": "warning", "text": f"state: {w}"} for w in state_damage]
    findings += [{"severity": "warning", "text": f"messages partial: {cut}"}] if cut else []
    content, rejects, account = (
        pipeline.content_view(), pipeline.rejects_view(), pipeline.account_view(),
    )  # fmt: skip
    report: dict[str, Any] = {
        "status": status,
        "checked_at": checked_at.isoformat(),
        "window_hours": pipeline.config.mandrill.check_window_hours,
        "alerts": alerts_json(signals, stored_alerts, checked_at),
        "findings": findings,
        "messages_complete": (not cut) if read else None,
        "state_warnings": list(state_damage),
        "sources": sources,
        "account": account_json(account) if account is not None else None,
        **figures_json(pipeline, read, cut, listings),
        "seeds": seed_json(seed_run),
        "content": [content_json(r) for r in (content.results if content else ())],
        # None: the stored reports could not be read (unknown, not "no reports")
        "dmarc": None if dmarc_reports is None else [dmarc_row_json(r) for r in dmarc_rows],
        "domains": domains_json(pipeline, listings),
        "postmaster": gmail_json(pipeline),
        "tlsrpt": tls_json(pipeline),
    }
    if rejects is not None:
        report["rejects"] = summarize_rejects(rejects).as_json()
    return report, code
