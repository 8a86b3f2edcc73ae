"""Detail screen: every field of one event, its smtp_events and the raw item, all escaped."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widgets import Static

from console.model import MessageEvent
from console.textsafe import visible
from widgets.footer import FittingFooter


def _fmt(dt: datetime | None, local: Callable[[datetime], datetime]) -> str:
    if dt is None:
        return "—"
    loc = local(dt)
    return f"{loc:%Y-%m-%d %H:%M:%S %Z} ({dt:%H:%M:%S} UTC)"


def _indent_kept(text: str) -> str:
    """Leading spaces as no-break spaces: Textual trims ordinary ones at line starts."""
    lines = []
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        lines.append("\u00a0" * (len(line) - len(stripped)) + stripped)
    return "\n".join(lines)


def detail_text(e: MessageEvent, local: Callable[[datetime], datetime]) -> Text:
    t = Text()

    def row(label: str, value: object) -> None:
        t.append(f"{label:>20}  ", style="bold")
        t.append(visible(str(value) if value not in (None, "") else "—", keep_newlines=True))
        t.append("\n")

    row("kind", f"{e.kind} (state {e.state})")
    row("when", _fmt(e.event_ts, local))
    row("sent at", _fmt(e.ts, local))
    row("recipient", e.email)
    row("customer", e.subaccount)
    row("sender", e.sender)
    row("subject", e.subject)
    row("reason", e.reason)
    row("bounce description", e.bounce_description)
    row("reject reason", e.reject_reason)
    row("sending IP", e.source_ip)
    row("template", e.template)
    row("tags", ", ".join(e.tags))
    row("message id", e.message_id)
    t.append("\nSMTP events\n", style="bold underline")
    if not e.smtp_events:
        t.append("  none recorded\n", style="dim")
    for ev in e.smtp_events:
        t.append(f"\u00a0\u00a0{_fmt(ev.ts, local)}  {visible(ev.type)}  ", style="bold")
        t.append(f"from {visible(ev.source_ip) or '—'} to {visible(ev.destination_ip) or '—'}")
        if ev.size is not None:
            t.append(f"  {ev.size:,} bytes")
        t.append("\n\u00a0\u00a0\u00a0\u00a0" + visible(ev.diag or "—", keep_newlines=True) + "\n")
    t.append("\nAll fields as Mandrill sent them\n", style="bold underline")
    raw = json.dumps(e.raw, indent=2, ensure_ascii=False, default=str)
    t.append(_indent_kept(visible(raw, keep_newlines=True)))
    return t


class EventDetail(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close", tooltip="Back to the feed"),
        Binding("q", "dismiss", "Close", show=False),
        # a modal screen stops the app's keys: its help is bound here
        Binding("question_mark", "app.help", "Help", tooltip="Keys of this screen"),
    ]

    DEFAULT_CSS = """
    EventDetail { align: center middle; }
    EventDetail > VerticalScroll {
        width: 90%; height: 90%; border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, event: MessageEvent, local: Callable[[datetime], datetime]) -> None:
        super().__init__()
        self.event = event
        self._local = local
        self._note = ""

    def compose(self) -> ComposeResult:
        box = VerticalScroll()
        box.border_title = "Event detail (Esc to close)"
        with box:
            yield Static(Text(self._note, style="dim italic"), id="detail-note")
            yield Static(detail_text(self.event, self._local), id="detail-body")
        yield FittingFooter()  # its own keys, not those of the feed underneath

    def on_mount(self) -> None:
        # an answer that came while the screen was being built (composed with the note
        # before it, not yet mounted to take the update) is shown now
        self._paint()

    def _paint(self, *, body: bool = True) -> None:
        """Show the note (and the event) on the widgets, once they exist: `is_mounted` is
        not yet true while the children are, so ask for them instead."""
        try:
            self.query_one("#detail-note", Static).update(Text(self._note, style="dim italic"))
            if body:
                self.query_one("#detail-body", Static).update(detail_text(self.event, self._local))
        except NoMatches:
            pass  # not composed yet: compose and on_mount show the current state

    def show_note(self, note: str) -> None:
        self._note = visible(note)
        self._paint(body=False)

    def show_fresh(self, event: MessageEvent, note: str) -> None:
        """Replace the stored copy with what Mandrill says now (messages/info)."""
        self.event = event
        self._note = visible(note)
        self._paint()

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
