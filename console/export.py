"""Exports for the engineer to hand to a customer."""

from __future__ import annotations

import csv
import heapq
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

from console.config import Thresholds
from console.model import MessageEvent, ReadSpan, SubaccountRow
from console.textsafe import spreadsheet_safe, terminal_lines, visible

COLUMNS = (
    "time_utc",
    "kind",
    "state",
    "recipient",
    "subaccount",
    "reason",
    "bounce_description",
    "source_ip",
    "subject",
    "message_id",
)


def _new_file(directory: Path, stem: str, suffix: str) -> tuple[Path, int]:
    """A fresh file (never overwriting an export), mode 0600: it holds recipient addresses."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stem}{suffix}"
    n = 1
    while True:
        try:
            return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            n += 1
            path = directory / f"{stem}-{n}{suffix}"


def export_events_csv(
    events: Iterable[MessageEvent],
    directory: Path,
    now: datetime,
    *,
    stem: str = "bounces",
    explain: Callable[[MessageEvent], str] | None = None,
) -> Path:
    """Write the events to a new CSV; with `explain`, a plain-words column too."""
    path, fd = _new_file(directory, f"{stem}-{now.strftime('%Y%m%d-%H%M%S')}", ".csv")
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow((*COLUMNS, "explanation") if explain else COLUMNS)
        for e in events:
            row: tuple[str, ...] = (
                e.event_ts.strftime("%Y-%m-%d %H:%M:%S"),
                e.kind,
                e.state,
                e.email,
                e.subaccount,
                e.reason,
                e.bounce_description,
                e.source_ip,
                e.subject,
                e.message_id,
            )
            if explain is not None:
                row = (*row, explain(e))
            writer.writerow([spreadsheet_safe(str(v)) for v in row])
    return path


class _Summary:
    """What the customer summary says, gathered in one pass over any number of events:
    counts, a few examples and the first 50 complaints, never the events themselves."""

    def __init__(self, explain: Callable[[MessageEvent], str]) -> None:
        self.explain = explain
        self.kinds: Counter[str] = Counter()
        self.why: dict[str, tuple[int, list[str]]] = {}  # reason → (count, 3 first emails)
        # the 50 earliest complaints, as a heap whose top is the latest of them
        self.complaints: list[tuple[float, int, MessageEvent]] = []
        self.n_complaints = 0

    def add(self, e: MessageEvent) -> None:
        self.kinds[e.kind] += 1
        if e.kind in ("hard", "soft", "reject"):
            reason = self.explain(e)
            n, examples = self.why.get(reason, (0, []))
            email = visible(e.email)
            if email not in examples:
                examples = sorted([*examples, email])[:3]
            self.why[reason] = (n + 1, examples)
        if e.kind == "spam":
            self.n_complaints += 1
            heapq.heappush(self.complaints, (-e.event_ts.timestamp(), -self.n_complaints, e))
            if len(self.complaints) > 50:
                heapq.heappop(self.complaints)

    def earliest_complaints(self) -> list[MessageEvent]:
        return [e for *_, e in sorted(self.complaints, key=lambda c: (-c[0], -c[1]))]


def customer_summary(
    sub: SubaccountRow,
    events: Iterable[MessageEvent],
    explain: Callable[[MessageEvent], str],
    now: datetime,
    t: Thresholds,
) -> str:
    """Plain text fit to paste into an email to the customer: what happened, why, what to do."""
    facts = _Summary(explain)
    for e in events:
        facts.add(e)
    return _summary_text(sub, facts, now, t)


def _period_line(span: ReadSpan | None, now: datetime) -> str:
    """The period the summary covers, said plainly when the counts rest on less than 7 days."""
    if span is None or span.whole:
        return f"Last 7 days, up to {now:%Y-%m-%d %H:%M} UTC"
    if span.since <= span.start:  # the week, with a part still to be read
        return f"Last 7 days, up to {now:%Y-%m-%d %H:%M} UTC ({span.text})"
    # the counts rest on less than the 7 days: say so, never let it pass for a week
    return (
        f"From {span.since:%Y-%m-%d %H:%M} to {now:%Y-%m-%d %H:%M} UTC "
        f"({span.text}; earlier mail was not checked)"
    )


def _rate_lines(sub: SubaccountRow, t: Thresholds) -> list[str]:
    """Bounces and complaints with their rates, each flagged when past its threshold."""
    if not sub.messages:
        return []
    hb = sub.hard_bounces / sub.messages
    cr = sub.complaints / sub.messages
    return [
        f"Bounced (address unusable): {sub.hard_bounces:,} ({hb:.2%})"
        + (f" - above the {t.hard_bounce_rate:.0%} that keeps a sender in good standing"
           if hb > t.hard_bounce_rate else ""),
        f"Marked as spam by recipients: {sub.complaints:,} ({cr:.2%})"
        + (f" - above {t.complaint_critical:.1%}, the limit Gmail and Yahoo enforce"
           if cr > t.complaint_critical else ""),
    ]  # fmt: skip


def _why_lines(facts: _Summary) -> list[str]:
    """Why messages did not arrive, the commonest reason first, each with examples."""
    if not facts.why:
        return []
    lines = ["", "Why messages did not arrive:"]
    for reason, (n, examples) in sorted(facts.why.items(), key=lambda kv: -kv[1][0]):
        lines.append(f"  - {n:,} x {reason} (for example {', '.join(examples)})")
    return lines


def _complaint_lines(facts: _Summary) -> list[str]:
    """The recipients who complained, earliest first (50 at most), so the customer can stop
    mailing them; their addresses and subjects escaped."""
    if not facts.n_complaints:
        return []
    lines = [
        "",
        "Recipients who marked a message as spam (often by accident: the spam button sits",
        "next to delete). Please stop mailing them unless they ask again:",
    ]
    for e in facts.earliest_complaints():
        subject = f' - "{visible(e.subject)}"' if e.subject else ""
        lines.append(f"  - {visible(e.email)} on {e.event_ts:%Y-%m-%d %H:%M} UTC{subject}")
    if facts.n_complaints > 50:
        lines.append(f"  … and {facts.n_complaints - 50} more (see the attached CSV)")
    return lines


def _summary_text(sub: SubaccountRow, facts: _Summary, now: datetime, t: Thresholds) -> str:
    kinds = facts.kinds
    lines = [
        f"Email delivery summary for {sub.name or sub.id}",
        _period_line(sub.span, now),
        "",
        f"Messages checked in this period: {sub.messages:,}",
        f"Sent since Monday 00:00 UTC, as Mandrill counts: {sub.sent_weekly:,}",
        *_rate_lines(sub, t),
    ]
    for kind, label in (
        ("soft", "Temporarily undeliverable"),
        ("reject", "Not sent by us"),
        ("unsub", "Unsubscribed"),
        ("deferred", "Delayed, retried"),
    ):
        if kinds.get(kind):
            lines.append(f"{label}: {kinds[kind]:,}")  # fmt: skip
    lines += _why_lines(facts)
    lines += _complaint_lines(facts)
    lines += [
        "",
        "What helps: remove addresses that bounced as non-existent, send only to people who",
        "asked for your mail, and make unsubscribing easy. The attached CSV lists every event.",
    ]
    return terminal_lines("\n".join(lines)) + "\n"  # a name or reason may hold controls


def export_customer_report(
    sub: SubaccountRow,
    events: Iterable[MessageEvent],
    explain: Callable[[MessageEvent], str],
    directory: Path,
    now: datetime,
    t: Thresholds,
) -> tuple[Path, Path]:
    """The customer's events as CSV (with explanations) and the plain-text summary, in one
    pass over the events (a big customer's week can be more than memory should hold)."""
    stem = f"customer-{_safe_name(sub.id)}"
    facts = _Summary(explain)

    def noted(evs: Iterable[MessageEvent]) -> Iterator[MessageEvent]:
        for e in evs:
            facts.add(e)
            yield e

    csv_path = export_events_csv(noted(events), directory, now, stem=stem, explain=explain)
    txt_path, fd = _new_file(directory, f"{stem}-{now.strftime('%Y%m%d-%H%M%S')}", ".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(_summary_text(sub, facts, now, t))
    return csv_path, txt_path


def _safe_name(text: str) -> str:
    """A subaccount id is outside text: keep it from naming a path."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)[:60] or "customer"
