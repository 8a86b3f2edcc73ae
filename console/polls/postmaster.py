"""Gmail Postmaster Tools: the domains' published days and compliance, a few times a day."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from console.analysis.gmail import merge_days
from console.model import GmailView
from console.updates import PollResult

if TYPE_CHECKING:
    from console.jobs import Pipeline

#: how long Gmail's days are kept once read (Google itself keeps about 120)
KEEP_DAYS = 120


async def poll_postmaster(p: Pipeline) -> PollResult:
    client = p.postmaster
    assert client is not None  # the registry runs this source only with credentials
    cfg = p.config.postmaster
    domains = list(cfg.domains) or await client.domains()
    today = p.clock().date()
    start = today - timedelta(days=max(1, cfg.days) - 1)
    fresh, compliance = [], []
    for domain in domains:
        fresh += await client.days(domain, start, today)
        compliance.append(await client.compliance(domain))
    before = p.gmail_view()
    days = merge_days(
        before.days if before else (), fresh, start, today - timedelta(days=KEEP_DAYS), domains
    )
    view = GmailView(days=days, compliance=tuple(compliance), domains=tuple(domains))
    await p.snapshot("postmaster", view)
    return PollResult(gmail=p.gmail_board())
