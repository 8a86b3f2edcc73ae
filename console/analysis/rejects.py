"""The denylist in brief: how many entries, and why. One summary for the panel and `check`,
so both say the same (an entry without a reason is "other" in both)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.model import Reject

#: rejects/list answers at most this many entries: a full page means "at least".
LISTING_CAP = 1000


@dataclass(frozen=True)
class RejectSummary:
    total: int
    by_reason: tuple[tuple[str, int], ...]  # sorted by reason

    @property
    def capped(self) -> bool:
        return self.total >= LISTING_CAP

    @property
    def total_text(self) -> str:
        return f"{self.total:,}" + ("+" if self.capped else "")

    def as_json(self) -> dict[str, Any]:
        return {"total": self.total, "capped": self.capped, "by_reason": dict(self.by_reason)}


def summarize_rejects(rejects: Iterable[Reject]) -> RejectSummary:
    counts = Counter(r.reason or "other" for r in rejects)
    return RejectSummary(sum(counts.values()), tuple(sorted(counts.items())))
