"""What the screens show, worked out from the state without a screen or a store in sight.

The app used to compose these notes inline, each next to the widget it fed. Here they
are plain functions of plain data, so a test asks "what does the DNS screen say when
its source has failed for five minutes" without starting Textual, and the app is left
to move the answers onto the screen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from console.registry import Panel, panel_sources
from console.timeutil import age_text

if TYPE_CHECKING:  # the first frame draws without the model: see tests/unit/test_startup.py
    from console.config import DmarcConfig
    from console.model import GmailBoard, SeedRun, SourceStatus
    from console.updates import DmarcView

PANEL_SOURCES = panel_sources()

#: panel → its note ('stale · …', 'partial · …'), None when it is current
Staleness = Mapping[Panel, str | None]


def stale_note(
    statuses: Mapping[str, SourceStatus], panel: Panel, now: datetime, read_only: bool
) -> str | None:
    """'stale · 3m old · <error>' when a panel's sources are failing or not yet polled."""
    sts = [statuses[s] for s in PANEL_SOURCES[panel] if s in statuses]
    if all(st.ok for st in sts):
        partial = [st.partial for st in sts if st.partial]
        return f"partial · {partial[0][:70]}" if partial else None
    age = _oldest_good(sts, now)
    errors = [st.error for st in sts if st.ok is False and st.error]
    if errors:
        return f"stale · last good {age or 'never'} · {errors[0][:60]}"
    if not any(st.ok is None for st in sts):
        return None
    return _unpolled_note(age, read_only)


def _oldest_good(sts: Sequence[SourceStatus], now: datetime) -> str | None:
    """The age of the oldest last good poll among `sts` ('3m'), None if none was good."""
    oks = [st.last_ok_at for st in sts if st.last_ok_at]
    return age_text((now - min(oks)).total_seconds()) if oks else None


def _unpolled_note(age: str | None, read_only: bool) -> str:
    if read_only:  # it never polls: the owner's data, and its age
        return f"the owner's data, {age} old" if age else "nothing stored yet"
    return f"stored data, {age} old · polling…" if age else "waiting for first poll…"


def staleness(statuses: Mapping[str, SourceStatus], now: datetime, read_only: bool) -> Staleness:
    """Every panel's note at once. Content and seed tests are judged more gently: content
    that has not been scored yet is not stale, and seed tests run on a schedule, so not
    having run yet is not stale either."""
    notes = {p: stale_note(statuses, p, now, read_only) for p in PANEL_SOURCES}
    content = notes["content"] if "content" in statuses else None
    notes["content"] = None if content and content.startswith("waiting") else content
    seeds = notes["seeds"] if "seeds" in statuses else None
    notes["seeds"] = None if seeds and seeds.startswith(("waiting", "stored")) else seeds
    return notes


def dmarc_sources(d: DmarcConfig) -> str:
    """Where the DMARC reports come from, as the DMARC screen names it."""
    where = [f"directory {d.directory}"] if d.directory else []
    if d.imap_host:
        where.append(f"mailbox {d.username} on {d.imap_host}")
    if not where:
        return "nothing configured: `mailops dmarc import FILES`, or [dmarc] directory/imap"
    return " and ".join(where)


def dmarc_note(view: DmarcView, sources: str) -> str:
    """'12 reports stored of the last 30 days · reading from directory … · last poll
    refused 1: …' (the title counts the reports of the window on view)."""
    days = max(view.windows, default=30)
    note = f"{view.reports} reports stored of the last {days} days · reading from {sources}"
    if view.rejected:
        note += f" · last poll refused {len(view.rejected)}: {view.rejected[-1]}"
    return note


def seed_done(runs: Sequence[SeedRun]) -> tuple[str, bool] | None:
    """The line that says a seed test finished ('inbox 5 · spam 1'), and whether any
    message went astray; None when there is no run."""
    last = runs[-1] if runs else None
    if last is None:
        return None
    counts = Counter(r.placement for r in last.results)
    summary = " · ".join(f"{k} {v}" for k, v in counts.most_common())
    bad = counts["spam"] + counts["missing"] + counts["rejected"] + counts["error"]
    return f"Seed test done: {summary}", bad > 0


def webhook_note(last_batch_at: datetime | None, now: datetime) -> str | None:
    """'webhook 2m ago': when Mandrill's last webhook batch was taken in (None: never, and
    then the feed says nothing of webhooks: they may simply not be set up)."""
    if last_batch_at is None:
        return None
    return f"webhook {age_text(max(0.0, (now - last_batch_at).total_seconds()))} ago"


def gmail_main_line(
    board: GmailBoard | None, compact: bool, warning: float, critical: float
) -> tuple[str, str]:
    """The main screen's Gmail line and how loud it is ("", "warning", "critical" by the
    [postmaster] spam lines): the worst domain's latest published spam rate beside
    Mandrill's complaints that UTC day. ("", "") when Postmaster Tools was never read."""
    from console.analysis.gmail import latest_of  # the model loads after the first frame

    if board is None:
        return "", ""
    rated = []
    for r in board.domains:
        d = latest_of(r.days)
        if d is not None and d.spam_rate is not None:
            rated.append((d.spam_rate, r, d))
    if not rated:
        return "Gmail: no day published yet", ""
    rate, row, day = max(rated, key=lambda x: x[0])
    m = row.mandrill.get(day.day)
    theirs = "—" if m is None or m.complaint_rate is None else f"{m.complaint_rate:.2%}"
    if m is not None and not m.whole and theirs != "—":
        theirs += " part"
    loud = "critical" if rate >= critical else "warning" if rate >= warning else ""
    if compact:
        return f"Gmail {day.day:%m-%d} spam {rate:.2%} Mandrill {theirs}", loud
    more = f" +{len(board.domains) - 1} more" if len(board.domains) > 1 else ""
    return (
        f"Gmail {day.day:%m-%d} spam {rate:.2%} · Mandrill complaints {theirs} · "
        f"{row.domain}{more}",
        loud,
    )


def gmail_note(status: SourceStatus | None, now: datetime, configured: bool) -> str:
    """Where Gmail's figures come from, and how old or why missing."""
    if not configured:
        return ("Gmail Postmaster Tools is not set up: name an authorized-user or service-"
                "account JSON in [postmaster] credentials_file (the README says how to get "
                "one)")  # fmt: skip
    if status is None or status.ok is None:
        return "Gmail Postmaster Tools: not read yet"
    age = age_text((now - status.last_ok_at).total_seconds()) if status.last_ok_at else None
    if status.ok:
        return f"Gmail Postmaster Tools read {age} ago"
    since = f"last read {age} ago" if age else "never read"
    return f"Gmail Postmaster Tools: {status.error} ({since})"
