"""The status line: per source, the age of its last good poll, or why it is failing."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from console.textsafe import clip, visible
from console.timeutil import age_text

if TYPE_CHECKING:
    from console.model import SourceStatus


class StatusLine(Static):
    """Wide, every source in turn; compact (80×24), one line: the sources that are not
    fine first, in full, then the healthy ones counted with the oldest poll's age."""

    DEFAULT_CSS = """
    StatusLine { height: auto; max-height: 3; padding: 0 1; background: $boost; }
    StatusLine.compact { height: 1; }
    """
    compact = False

    def set_compact(self, compact: bool) -> None:
        self.compact = compact
        self.set_class(compact, "compact")
        self.refresh_text()

    def __init__(
        self,
        wall: Callable[[], datetime],
        story_clock: Callable[[], datetime] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self._wall = wall
        self._story = story_clock  # the demo's scenario time, shown first
        self._statuses: dict[str, SourceStatus] = {}
        self.note = ""
        self.progress = ""  # a long job under way, e.g. a seed test waiting for messages

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh_text)

    def show(self, statuses: Mapping[str, SourceStatus]) -> None:
        self._statuses = dict(statuses)
        self.refresh_text()

    def refresh_text(self) -> None:
        self.update(self.render_text())

    def render_text(self) -> Text:
        now = self._wall()
        out = Text()
        self._append_notes(out)
        statuses = list(self._statuses.values())
        fine = [st for st in statuses if st.ok is True and not st.partial]
        if self.compact:  # what needs a look first; the healthy ones in one count
            statuses = [st for st in statuses if st not in fine]
        for i, st in enumerate(statuses):
            if i:
                out.append(" · ", style="dim")
            _append_source(out, st, now)
        if self.compact and fine:
            _append_fine_count(out, fine, now, after=bool(statuses))
        out.no_wrap, out.overflow = self.compact, "ellipsis"
        return out

    def _append_notes(self, out: Text) -> None:
        """Before the sources: the scenario's clock, the note and the job under way."""
        if self._story is not None:
            out.append(f"⏱ {self._story():%m-%d %H:%M} UTC (scenario) ", style="bold cyan")
        if self.note:
            out.append(visible(self.note) + "  ", style="bold yellow")
        if self.progress:
            out.append(visible(self.progress) + "  ", style="bold cyan")


def _append_source(out: Text, st: SourceStatus, now: datetime) -> None:
    """One source: failing, not polled yet, partial or fine, each with its poll's age."""
    age = age_text((now - st.last_ok_at).total_seconds()) if st.last_ok_at else "—"
    if st.ok is False:
        out.append(f"{st.name} ✗ ", style="bold red")
        out.append(clip(visible(st.error), 90), style="red")
        out.append(f" (last good {age})", style="dim")
    elif st.ok is None:  # not polled yet this run: age of the stored poll, if any
        out.append(f"{st.name} … {age if st.last_ok_at else 'waiting'}", style="dim")
    elif st.partial:  # it worked, but did not read everything: say so, in yellow
        out.append(f"{st.name} ◐ ", style="bold yellow")
        out.append(age)
        out.append(f" partial: {clip(visible(st.partial), 70)}", style="yellow")
    else:
        out.append(f"{st.name} ✓ ", style="green")
        out.append(age)


def _append_fine_count(
    out: Text, fine: Sequence[SourceStatus], now: datetime, *, after: bool
) -> None:
    """Compact: the healthy sources in one count, with the age of the oldest poll."""
    oldest = min((st.last_ok_at for st in fine if st.last_ok_at), default=None)
    age = age_text((now - oldest).total_seconds()) if oldest else "—"
    out.append(" · " if after else "", style="dim")
    out.append(f"✓ {len(fine)} sources fine", style="green")
    out.append(f" (oldest poll {age})", style="dim")
