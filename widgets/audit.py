"""The action log: every action taken or refused from this console, newest first."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from console.model import AuditEntry
from console.textsafe import cell, visible
from widgets.footer import FittingFooter
from widgets.live import Live


class AuditScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to the main screen"),
        Binding("l", "app.pop_screen", "Back", show=False),
    ]

    DEFAULT_CSS = """
    AuditScreen .heading { text-style: bold; padding: 0 1; }
    AuditScreen DataTable { height: 1fr; }
    AuditScreen #audit-detail { height: auto; max-height: 4; padding: 0 1; background: $boost; }
    """

    def __init__(
        self, local: Callable[[datetime], datetime], read_only: bool, live: Live | None = None
    ) -> None:
        super().__init__()
        self._local = local
        self._live = live
        self._read_only = read_only
        self._entries: tuple[AuditEntry, ...] = ()

    def compose(self) -> ComposeResult:
        with Vertical():
            mode = " · read-only: actions are off" if self._read_only else ""
            yield Static(f"Action log (newest first){mode}", classes="heading")
            table: DataTable[Text] = DataTable(id="audit", cursor_type="row")
            for key, label, width in (
                ("at", "time", 19),
                ("action", "action", 18),
                ("target", "target", 32),
                ("ok", "ok", 3),
                ("result", "result", 60),
            ):
                table.add_column(label, key=key, width=width)
            yield table
            yield Static("", id="audit-detail")
        yield FittingFooter()

    @on(DataTable.RowHighlighted, "#audit")
    def _detail(self, event: DataTable.RowHighlighted) -> None:
        """The highlighted entry in full: an export's whole path, to read or select."""
        entries = list(reversed(self._entries))
        i = event.cursor_row
        text = Text()
        if 0 <= i < len(entries):
            e = entries[i]
            text.append(f"{visible(e.action)}  ", style="bold")
            text.append(visible(e.target))
            if e.user:
                text.append(f"  by {visible(e.user)}", style="dim")
            text.append(f"\n{visible(e.result)}")
        self.query_one("#audit-detail", Static).update(text)

    def on_mount(self) -> None:
        self._paint()
        if self._live is not None:
            self._live.audit.subscribe(self, self.show, immediate=True)

    def show(self, entries: Sequence[AuditEntry]) -> None:
        self._entries = tuple(entries)
        if self.is_mounted:
            self._paint()

    def _paint(self) -> None:
        table: DataTable[Text] = self.query_one("#audit", DataTable)
        table.clear()
        if not self._entries:
            self.query_one("#audit-detail", Static).update(
                "Nothing yet: actions, acknowledgements, exports and seed tests sent from "
                "this console are listed here."
            )
        for i, e in enumerate(reversed(self._entries)):
            table.add_row(
                cell(self._local(e.at).strftime("%Y-%m-%d %H:%M:%S")),
                cell(e.action, 18),
                cell(e.target, 32),
                cell("✓" if e.ok else "✗", style="green" if e.ok else "bold red"),
                cell(e.result, 200),
                key=str(i),
            )
