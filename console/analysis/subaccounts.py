"""Customers (subaccounts) ranked so the one hurting the account comes first."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from console.model import ReadSpan, Subaccount, SubaccountRow


def subaccount_rows(
    subs: Sequence[Subaccount], counts: Mapping[str, Counter[str]], span: ReadSpan | None = None
) -> list[SubaccountRow]:
    """Worst first: lowest reputation, then most complaints, then most mail this week.

    Complaints and hard bounces come from the ingested message states
    (subaccounts/list carries no complaint figures).
    """
    rows = []
    known = {s.id for s in subs}
    for s in subs:
        c = counts.get(s.id, Counter())
        rows.append(
            SubaccountRow(
                id=s.id,
                name=s.name,
                status=s.status,
                reputation=s.reputation,
                sent_weekly=s.sent_weekly,
                complaints=c.get("spam", 0),
                hard_bounces=c.get("bounced", 0),
                messages=sum(c.values()),
                span=span,
            )
        )
    for sid, c in counts.items():
        if sid and sid not in known:  # seen in mail but not (yet) in subaccounts/list
            rows.append(
                SubaccountRow(
                    sid,
                    "",
                    "unknown",
                    None,
                    0,
                    c.get("spam", 0),
                    c.get("bounced", 0),
                    sum(c.values()),
                    span,
                )
            )
    return sorted(
        rows,
        key=lambda r: (
            r.reputation if r.reputation is not None else 101,
            -r.complaints,
            -r.sent_weekly,
            r.id,
        ),
    )
