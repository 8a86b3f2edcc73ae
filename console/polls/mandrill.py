"""The Mandrill data sets: account, IPs, customers, denylist, domains, and the reads of
messages/search (new mail, and the rescan for late bounces and complaints)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from console.model import Account
from console.updates import PollResult

if TYPE_CHECKING:
    from console.jobs import Pipeline

log = logging.getLogger(__name__)

#: Late states worth re-reading: a message may bounce or draw a complaint hours after sending.
LATE_STATES_QUERY = (
    "state:bounced OR state:soft-bounced OR state:rejected OR state:spam OR state:unsub"
)


async def poll_account(p: Pipeline) -> PollResult:
    account = await p.client.users_info()
    await p.snapshot("account", account, lambda: _record_reputation(p, account))
    return PollResult(account=await p.db(p.account_view))


def _record_reputation(p: Pipeline, account: Account) -> None:
    """Keep a point when the value moves, or every 15 minutes: a month stays small."""
    value = account.reputation
    if value is None:
        return
    now = p.clock()
    last = p.store.last_history("reputation")
    if last is None or last[1] != value or now - last[0] >= timedelta(minutes=15):
        p.store.add_history("reputation", now, value)


async def poll_ips(p: Pipeline) -> PollResult:
    await p.snapshot("ips", await p.client.ips_list())
    return PollResult(ips=await p.db(p.ip_view))


async def poll_subaccounts(p: Pipeline) -> PollResult:
    await p.snapshot("subaccounts", await p.client.subaccounts_list())
    return PollResult(subaccounts=await p.db(p.subaccount_view))


async def poll_rejects(p: Pipeline) -> PollResult:
    rejects = await p.client.rejects_list()
    await p.snapshot("rejects", rejects)
    return PollResult(rejects=tuple(rejects))


async def poll_domains(p: Pipeline) -> PollResult:
    domains = await p.client.senders_domains()
    await p.snapshot("domains", domains)
    return PollResult(domains=tuple(domains))


async def poll_messages(p: Pipeline) -> PollResult:
    m = p.config.mandrill
    now = int(p.clock().timestamp())
    floor = now - int(p.backfill_hours * 3600)
    cursor = await p.db(p.store.get_cursor, "messages")
    start = floor if cursor is None else max(floor, cursor + 1 - m.search_overlap)
    # a gap an earlier read left stays worth reading for as long as the store keeps mail
    kept = now - p.config.storage.retention_days * 86400
    return await _read_window(p, "messages", start, now, "", floor=kept, prior=cursor)


async def poll_rescan(p: Pipeline) -> PollResult:
    m = p.config.mandrill
    now = int(p.clock().timestamp())
    # Late states of every message read so far, as far back as rescan_hours allows, but
    # not before the first message read: earlier ones were never in the store.
    first = await p.db(p.store.get_cursor, "messages_floor")
    start = now - int(m.rescan_hours * 3600)
    if first is None:
        start = max(start, now - int(p.backfill_hours * 3600))
    else:
        start = max(start, first)
    # A pass cut short by the call budget resumes where it stopped; -1 means "none open".
    floor, cursor = start, await p.db(p.store.get_cursor, "rescan")
    if cursor is not None and start <= cursor < now:
        start = cursor + 1
    else:
        cursor = None
    return await _read_window(p, "rescan", start, now, LATE_STATES_QUERY, floor=floor, prior=cursor)


async def _read_window(
    p: Pipeline, name: str, start: int, end: int, query: str, *, floor: int, prior: int | None
) -> PollResult:
    """Read [start, end] (after any gap an earlier read left above `floor`) and move
    the cursor: never below `prior`, the cursor this read started from."""
    budget = p.config.mandrill.max_search_calls
    gap = await p.db(p.read_gap, name, floor)
    if gap is not None:  # an earlier read's unread part: it is read first, then the rest
        start = max(start, gap[1] + 1)  # the overlap must not re-open what the gap holds
    result = await p.client.search_range(start, end, query=query, budget=budget, gap=gap)

    def save() -> PollResult:
        _prune_hourly(p)
        if name == "messages":
            _mark_first_read(p, prior, start)
        ingested = p.store.ingest(result.messages)
        p.store.commit()  # events first: a crash before the cursor only re-reads
        until, left = result.resume(prior)
        covered = until
        if name == "rescan" and result.complete:
            covered = -1  # pass finished: the next one reads the whole window again
        if covered >= result.start or covered == -1:
            p.store.set_cursor(name, covered)
        p.store.set_cursor(f"{name}_gap_from", left[0] if left else -1)
        p.store.set_cursor(f"{name}_gap_to", left[1] if left else -1)
        p.store.commit()
        return PollResult(
            new_events=tuple(ingested.new_events),
            ips=p.ip_view(),
            subaccounts=p.subaccount_view(),
            covered_until=datetime.fromtimestamp(until, UTC),
            unread=None if left is None else _span(left),
            partial=result.shortfall(budget),
        )

    poll: PollResult = await p.db(save)
    return poll


def _prune_hourly(p: Pipeline) -> None:
    """Apply retention at the first message poll and then about once an hour."""
    now = p.clock()
    if p.pruned_at is None or now - p.pruned_at >= timedelta(hours=1):
        removed = p.store.prune()
        p.pruned_at = now
        if removed:
            log.info("retention: removed %d day files", removed)


def _mark_first_read(p: Pipeline, prior: int | None, start: int) -> None:
    """Where the stored mail begins, for the period labels: the first read's start,
    moved up to this read's start when the console was away longer than the
    backfill window (the seconds between were never read)."""
    first = p.store.get_cursor("messages_floor")
    if first is None or (prior is not None and prior + 1 < start):
        p.store.set_cursor("messages_floor", start)


def _span(window: tuple[int, int]) -> tuple[datetime, datetime]:
    return datetime.fromtimestamp(window[0], UTC), datetime.fromtimestamp(window[1], UTC)
