"""Filtering the bounce feed: pure, so the same rules serve the table and the export."""

from __future__ import annotations

from collections.abc import Iterable

from console.model import MessageEvent


def matches(ev: MessageEvent, text: str, kind: str | None) -> bool:
    if kind and ev.kind != kind:
        return False
    if not text:
        return True
    needle = text.lower()
    hay = (ev.email, ev.subaccount, ev.reason, ev.source_ip, ev.kind, ev.subject, ev.message_id)
    return any(needle in h.lower() for h in hay if h)


def filter_events(
    events: Iterable[MessageEvent], text: str = "", kind: str | None = None
) -> list[MessageEvent]:
    return [e for e in events if matches(e, text, kind)]


def count_kinds(events: Iterable[MessageEvent]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in events:
        out[e.kind] = out.get(e.kind, 0) + 1
    return out
