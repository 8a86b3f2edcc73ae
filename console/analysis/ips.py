"""Per-IP traffic, warm-up progress and noisy-neighbour detection."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

from console.config import Thresholds
from console.model import Ip, IpRow, IpView, ReadSpan

#: States in which the receiving server accepted the message.
DELIVERED_STATES = frozenset({"sent", "delivered", "spam", "unsub"})


def delivered(c: Mapping[str, int]) -> int:
    return sum(n for s, n in c.items() if s in DELIVERED_STATES)


def warmup_progress(ip: Ip, now: datetime) -> tuple[int | None, int | None, float | None]:
    """(day N, of M days, fraction of time elapsed) — time, not traffic; the API has no more."""
    w = ip.warmup
    if not w.warming_up or w.start_at is None or w.end_at is None:
        return None, None, None
    total = (w.end_at - w.start_at).total_seconds()
    if total <= 0:
        return None, None, None
    elapsed = (now - w.start_at).total_seconds()
    day = max(1, int(elapsed // 86400) + 1)
    days = max(1, round(total / 86400))
    return min(day, days), days, min(1.0, max(0.0, elapsed / total))


def ip_rows(
    ips: Sequence[Ip],
    window: Mapping[str, Counter[str]],
    recent: Mapping[str, Counter[str]],
    now: datetime,
    t: Thresholds,
) -> list[IpRow]:
    """One row per dedicated IP (from ips/list) and per shared IP seen carrying our mail.

    A shared IP is flagged as a noisy neighbour when, over the recent window,
    it delivers `noisy_drop` or more below all our other IPs together, on at
    least `noisy_min_messages` messages — enough to not flag a handful of
    unlucky bounces.
    """
    rows: list[IpRow] = []
    dedicated = {ip.ip: ip for ip in ips}
    seen = [ip for ip in window if ip and ip not in dedicated]
    recent_total: Counter[str] = Counter()
    for addr, c in recent.items():
        if addr:
            recent_total.update(c)
    for addr in [*dedicated, *sorted(seen, key=lambda a: -sum(window[a].values()))]:
        c = window.get(addr, Counter())
        sent = sum(c.values())
        ok = delivered(c)
        ip = dedicated.get(addr)
        day, days, progress = warmup_progress(ip, now) if ip else (None, None, None)
        noisy, note = False, ""
        if ip is None:
            rc = recent.get(addr, Counter())
            n = sum(rc.values())
            others = recent_total - rc
            n_others = sum(others.values())
            if n >= t.noisy_min_messages and n_others:
                rate, rate_others = delivered(rc) / n, delivered(others) / n_others
                if rate_others - rate >= t.noisy_drop:
                    noisy = True
                    note = (
                        f"noisy neighbour: delivers {rate:.0%} vs {rate_others:.0%} "
                        f"on our other IPs (last {t.noisy_window_hours:g} h, {n} msgs)"
                    )
        rows.append(
            IpRow(
                ip=addr,
                pool=ip.pool if ip else "shared",
                domain=ip.domain if ip else "",
                dedicated=ip is not None,
                warming_up=bool(ip and ip.warmup.warming_up),
                warmup_day=day,
                warmup_days=days,
                progress=progress,
                sent=sent,
                delivered=ok,
                bounced=c.get("bounced", 0),
                soft_bounced=c.get("soft-bounced", 0),
                deferred=c.get("deferred", 0),
                delivery_rate=ok / sent if sent else None,
                noisy=noisy,
                note=note,
            )
        )
    return rows


#: States that never reach a receiver, so never have a sending IP.
UNSENT_STATES = frozenset({"rejected", "invalid", "queued", "scheduled", "canceled"})


def ip_view(
    ips: Sequence[Ip],
    window: Mapping[str, Counter[str]],
    recent: Mapping[str, Counter[str]],
    now: datetime,
    t: Thresholds,
    span: ReadSpan | None = None,
) -> IpView:
    no_ip = window.get("", Counter())
    unattributed = sum(n for state, n in no_ip.items() if state not in UNSENT_STATES)
    rows = tuple(ip_rows(ips, window, recent, now, t))
    return IpView(rows, t.ip_window_hours, unattributed, span)
