"""Filtering the bounce feed: pure, so the same rules serve the table and the export."""

from __future__ import annotations

from collections.abc import Iterable

from console.model import MessageEvent


def matches(ev: MessageEvent, text: str, kind: str | None) -> bool:
    if kind and ev.kind != kind:
        return False
    if not text:
        return True
    return text.lower() in ev.haystack


def filter_events(
    events: Iterable[MessageEvent], text: str = "", kind: str | None = None
) -> list[MessageEvent]:
    needle = text.lower()
    return [
        e for e in events if (not kind or e.kind == kind) and (not needle or needle in e.haystack)
    ]


def count_kinds(events: Iterable[MessageEvent]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in events:
        out[e.kind] = out.get(e.kind, 0) + 1
    return out
