"""Exports for the engineer to hand to a customer."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from console.model import MessageEvent
from console.textsafe import spreadsheet_safe

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


def export_events_csv(events: Iterable[MessageEvent], directory: Path, now: datetime) -> Path:
    """Write the events to a new CSV (mode 0600: it holds recipient addresses)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"bounces-{now.strftime('%Y%m%d-%H%M%S')}.csv"
    n = 1
    while path.exists():
        n += 1
        path = directory / f"bounces-{now.strftime('%Y%m%d-%H%M%S')}-{n}.csv"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for e in events:
            row = (
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
            writer.writerow([spreadsheet_safe(str(v)) for v in row])
    return path
