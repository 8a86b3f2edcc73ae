"""Alerts: the one-line count on the main screen, and the screen with open and past alerts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Static

from console.textsafe import cell, visible
from console.timeutil import age_text
from widgets.footer import FittingFooter
from widgets.intents import AlertAcknowledged
from widgets.live import Live

if TYPE_CHECKING:
    from console.model import Alert

SEVERITY_STYLE = {"critical": "bold red", "warning": "bold yellow"}


def alert_counts(
    alerts: Sequence[Alert], waiting: Sequence[str] = (), failing: Sequence[str] = ()
) -> Text:
    """'ALERTS 1 critical · 3 warning (1 acknowledged) — a to view', or a quiet all-clear
    that is only said once every source has been judged (`waiting`: not read yet this
    session; `failing`: its last read failed, so its rules could not be judged)."""
    open_ = [a for a in alerts if a.resolved_at is None]
    out = Text(no_wrap=True, overflow="ellipsis")
    if not open_:
        _append_all_clear(out, waiting, failing)
        return out
    _append_tally(out, open_)
    if waiting:
        out.append(" (still evaluating)", style="yellow")
    worst = sorted(open_, key=lambda a: (a.severity != "critical", a.acked_at is not None))[0]
    out.append(f" — {visible(worst.message)}", style="")
    return out


def _append_all_clear(out: Text, waiting: Sequence[str], failing: Sequence[str]) -> None:
    """No open alert is only a clean bill once every source has been read and judged."""
    if waiting:
        out.append("Still evaluating alerts", style="bold yellow")
        out.append(f" — waiting for {', '.join(waiting)}")
    elif failing:
        out.append("No open alerts in what was read", style="yellow")
        out.append(f" — not judged: {', '.join(failing)} (failing)")
    else:
        out.append("No open alerts", style="green")


def _append_tally(out: Text, open_: Sequence[Alert]) -> None:
    """'ALERTS 1 critical · 3 warning (1 acknowledged)': the open alerts by severity."""
    crit = sum(1 for a in open_ if a.severity == "critical")
    warn = len(open_) - crit
    acked = sum(1 for a in open_ if a.acked_at is not None)
    out.append("ALERTS ", style="bold")
    if crit:
        out.append(f"{crit} critical", style="bold red")
    if crit and warn:
        out.append(" · ")
    if warn:
        out.append(f"{warn} warning", style="bold yellow")
    if acked:
        out.append(f" ({acked} acknowledged)", style="dim")


class AlertLine(Static):
    """The main screen's one line about alerts."""

    #: the worst alert's message wraps onto a second row at any width, never cut
    DEFAULT_CSS = "AlertLine { height: auto; max-height: 2; padding: 0 1; }"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._alerts: Sequence[Alert] = ()
        self._gaps: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())

    def show(self, alerts: Sequence[Alert]) -> None:
        self._alerts = alerts
        self._paint()

    def show_unjudged(self, waiting: Sequence[str], failing: Sequence[str]) -> None:
        """Which sources the rules have not judged yet; the line says so until they are."""
        gaps = (tuple(waiting), tuple(failing))
        if gaps != self._gaps:
            self._gaps = gaps
            self._paint()

    def _paint(self) -> None:
        text = alert_counts(self._alerts, *self._gaps)
        text.no_wrap = False
        self.update(text)


class AckScreen(ModalScreen[str | None]):
    """Ask for the acknowledgement's note; Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    AckScreen { align: center middle; }
    AckScreen > Vertical { width: 80; height: auto; border: thick $accent; background: $panel;
                           padding: 1 2; }
    """

    def __init__(self, alert: Alert) -> None:
        super().__init__()
        self._alert = alert

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"Acknowledge: {visible(self._alert.message)}", style="bold"))
            yield Input(placeholder="note (who is on it, what was done) — Enter saves", id="note")
        yield FittingFooter()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class AlertsScreen(Screen[None]):
    """Open alerts worst first (Enter acknowledges), then the resolved ones, newest first."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to the main screen"),
        Binding("a", "app.pop_screen", "Back", show=False),
    ]

    DEFAULT_CSS = """
    AlertsScreen .heading { text-style: bold; padding: 0 1; }
    AlertsScreen #alerts-open { height: 1fr; }
    AlertsScreen #alerts-past { height: 1fr; }
    AlertsScreen #alert-detail { height: auto; max-height: 4; padding: 0 1; color: $text-muted; }
    """

    def __init__(
        self,
        local: Callable[[datetime], datetime],
        now: Callable[[], datetime],
        live: Live | None = None,
    ) -> None:
        super().__init__()
        self._local = local
        self._live = live
        self._now = now
        self._alerts: tuple[Alert, ...] = ()
        self._open: list[Alert] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Open alerts", classes="heading", id="alerts-open-heading")
            table: DataTable[Text] = DataTable(id="alerts-open", cursor_type="row")
            for key, label, width in (
                ("sev", "severity", 8),
                ("since", "since", 12),
                ("for", "open for", 8),
                ("subject", "about", 26),
                ("message", "what", 58),
                ("ack", "acknowledged", 30),
            ):
                table.add_column(label, key=key, width=width)
            yield table
            yield Static("", id="alert-detail")
            yield Static("Resolved (newest first)", classes="heading")
            past: DataTable[Text] = DataTable(id="alerts-past", cursor_type="row")
            for key, label, width in (
                ("sev", "peak", 8),
                ("opened", "opened", 12),
                ("resolved", "resolved", 12),
                ("subject", "about", 26),
                ("message", "what", 70),
            ):
                past.add_column(label, key=key, width=width)
            yield past
        yield FittingFooter()

    def on_mount(self) -> None:
        self._paint()
        if self._live is not None:
            self._live.alerts.subscribe(self, lambda v: self.show(v.alerts), immediate=True)

    def show(self, alerts: Sequence[Alert]) -> None:
        self._alerts = tuple(alerts)
        if self.is_mounted:
            self._paint()

    def _when(self, at: datetime | None) -> str:
        return self._local(at).strftime("%m-%d %H:%M") if at else ""

    def _paint(self) -> None:
        now = self._now()
        self._open = sorted(
            (a for a in self._alerts if a.resolved_at is None),
            key=lambda a: (a.severity != "critical", a.acked_at is not None, a.opened_at),
        )
        table: DataTable[Text] = self.query_one("#alerts-open", DataTable)
        current = [k.value for k in table.rows]
        wanted = [a.id for a in self._open]
        with self.app.batch_update():
            if current != wanted:  # rebuilt: the cursor stays on its alert
                on = current[table.cursor_row] if 0 <= table.cursor_row < len(current) else None
                table.clear()
                for a in self._open:
                    table.add_row(*self._open_cells(a, now), key=a.id)
                if on in wanted:
                    table.move_cursor(row=wanted.index(on))
            else:
                for a in self._open:
                    for col, value in zip(
                        ("sev", "since", "for", "subject", "message", "ack"),
                        self._open_cells(a, now),
                        strict=True,
                    ):
                        table.update_cell(a.id, col, value)
            past: DataTable[Text] = self.query_one("#alerts-past", DataTable)
            past.clear()
            done = sorted(
                (a for a in self._alerts if a.resolved_at is not None),
                key=lambda a: a.resolved_at or a.opened_at,
                reverse=True,
            )
            for a in done[:200]:
                past.add_row(
                    cell(a.peak, 8, SEVERITY_STYLE.get(a.peak, "")),
                    cell(self._when(a.opened_at)),
                    cell(self._when(a.resolved_at)),
                    cell(a.subject, 26),
                    cell(a.message, 200),
                    key=a.id,
                )
        self.query_one("#alerts-open-heading", Static).update(
            Text(f"Open alerts ({len(self._open)}) · Enter acknowledges with a note")
        )
        self._paint_detail()

    def _open_cells(self, a: Alert, now: datetime) -> list[Text]:
        ack = ""
        if a.acked_at is not None:
            ack = f"{self._when(a.acked_at)} {a.ack_note}".strip()
        style = SEVERITY_STYLE.get(a.severity, "")
        if a.acked_at is not None:
            style = "dim"
        return [
            cell(a.severity, 8, style),
            cell(self._when(a.opened_at)),
            cell(age_text(max(0.0, (now - a.opened_at).total_seconds()))),
            cell(a.subject, 26),
            cell(a.message, 200),
            cell(ack, 30, "dim"),
        ]

    def action_ack(self) -> None:
        table: DataTable[Text] = self.query_one("#alerts-open", DataTable)
        if not self._open or not 0 <= table.cursor_row < len(self._open):
            return
        alert = self._open[table.cursor_row]

        def done(note: str | None) -> None:
            if note is not None:
                self.post_message(AlertAcknowledged(alert.id, note))

        self.app.push_screen(AckScreen(alert), done)

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._paint_detail()

    def _paint_detail(self) -> None:
        """The whole sentence of the alert under the cursor of the table in use (the open
        one unless the resolved one has focus): the table cuts long ones. Read from the
        cursor, not from an event, so a rebuilt table can never leave another alert's
        sentence standing."""
        table: DataTable[Text] = self.query_one("#alerts-open", DataTable)
        past: DataTable[Text] = self.query_one("#alerts-past", DataTable)
        if past.has_focus:
            table = past
        key = None
        if 0 <= table.cursor_row < table.row_count:
            key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        found = next((a for a in self._alerts if a.id == key), None)
        text = Text()
        if found is not None:
            text.append(f"{found.rule} · {visible(found.subject)}: ", style="bold")
            text.append(visible(found.message))
            if found.ack_note:
                text.append(f"\nacknowledged: {visible(found.ack_note)}", style="italic")
        self.query_one("#alert-detail", Static).update(text)

    @on(DataTable.RowSelected, "#alerts-open")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_ack()
