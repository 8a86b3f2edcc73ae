"""SMTP TLS reports screen: per domain of ours, the sessions other senders' MTAs reported
opening to our MX hosts, how many failed, why, and between which ends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from console.analysis.dmarc import WINDOWS
from console.analysis.tlsrpt import RESULT_WORDS, TlsDomainRow
from console.textsafe import cell, visible
from console.updates import Update
from widgets.footer import FittingFooter
from widgets.live import Live


class TlsScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to the DMARC screen"),
        Binding("t", "window", "1/7/30 days", tooltip="Cycle the time window"),
    ]

    DEFAULT_CSS = """
    TlsScreen .heading { text-style: bold; padding: 0 1; height: 1; }
    TlsScreen #tls-domains { height: auto; max-height: 8; }
    TlsScreen #tls-paths { height: 1fr; }
    TlsScreen #tls-note { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    """

    def __init__(
        self, windows: Mapping[int, Sequence[TlsDomainRow]], days: int, live: Live | None = None
    ) -> None:
        super().__init__()
        self._windows = windows
        self._days = days if days in WINDOWS else 7
        self._live = live
        self._domain = ""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", classes="heading", id="tls-heading")
            domains: DataTable[Text] = DataTable(id="tls-domains", cursor_type="row")
            for key, label, width in (
                ("domain", "our domain", 26), ("reports", "reports", 7),
                ("sessions", "sessions", 9), ("failed", "failed", 8), ("rate", "rate", 6),
                ("top", "mostly", 22), ("policy", "policy", 8),
            ):  # fmt: skip
                domains.add_column(label, key=key, width=width)
            yield domains
            yield Static("", classes="heading", id="tls-paths-heading")
            paths: DataTable[Text] = DataTable(id="tls-paths", cursor_type="row")
            for key, label, width in (
                ("type", "failure", 26), ("sessions", "sessions", 9),
                ("ip", "sending MTA", 22), ("mx", "our MX", 28),
            ):  # fmt: skip
                paths.add_column(label, key=key, width=width)
            yield paths
            yield Static("", id="tls-note")
        yield FittingFooter()

    def on_mount(self) -> None:
        self._paint()
        if self._live is not None:
            self._live.updates.subscribe(self, self._updated, immediate=True)

    def _updated(self, update: Update) -> None:
        if update.result.tls is not None:
            self._windows = update.result.tls.windows
            self._paint()

    def action_window(self) -> None:
        self._days = WINDOWS[(WINDOWS.index(self._days) + 1) % len(WINDOWS)]
        self._paint()

    def _rows(self) -> Sequence[TlsDomainRow]:
        return self._windows.get(self._days, ())

    def _paint(self) -> None:
        rows = self._rows()
        total = sum(r.reports for r in rows)
        s = "s" if self._days > 1 else ""
        self.query_one("#tls-heading", Static).update(Text(
            f"SMTP TLS reports · last {self._days} day{s} (t cycles) · {total} reports",
            no_wrap=True, overflow="ellipsis"))  # fmt: skip
        table: DataTable[Text] = self.query_one("#tls-domains", DataTable)
        table.clear()
        for r in rows:
            table.add_row(*self._domain_cells(r), key=r.domain)
        if rows and self._domain not in {r.domain for r in rows}:
            self._domain = rows[0].domain
        self._paint_paths()
        note = ("Reports other senders' MTAs send about mail they delivered to our domains' "
                "MX hosts (RFC 8460), as the DMARC reports come in; a rate over "
                "[tlsrpt] failure_rate_max in 7 days is an alert.")  # fmt: skip
        if not rows:
            note = "No TLS report in this window. " + note
        self.query_one("#tls-note", Static).update(Text(note))

    @staticmethod
    def _domain_cells(r: TlsDomainRow) -> list[Text]:
        rate = r.failure_rate
        top = next(iter(r.by_type), "")
        return [
            cell(r.domain, 26),
            cell(f"{r.reports:,}"),
            cell(f"{r.sessions:,}"),
            cell(f"{r.failed:,}", style="bold red" if r.failed else ""),
            cell("—" if rate is None else f"{rate:.1%}", style="bold red" if rate else "green"),
            cell(RESULT_WORDS.get(top, top), 22),
            cell(", ".join(r.policy_types), 8),
        ]

    def _paint_paths(self) -> None:
        row = next((r for r in self._rows() if r.domain == self._domain), None)
        heading = self.query_one("#tls-paths-heading", Static)
        table: DataTable[Text] = self.query_one("#tls-paths", DataTable)
        table.clear()
        if row is None:
            heading.update("")
            return
        reporters = ", ".join(visible(o) for o in row.reporters)
        heading.update(Text(f"Failures for {visible(row.domain)} · reported by {reporters}",
                            no_wrap=True, overflow="ellipsis"))  # fmt: skip
        for i, p in enumerate(row.paths):
            table.add_row(
                cell(RESULT_WORDS.get(p.result_type, p.result_type), 26),
                cell(f"{p.sessions:,}"),
                cell(p.sending_ip or "—", 22),
                cell(p.receiving_mx or "—", 28),
                key=str(i),
            )

    @on(DataTable.RowHighlighted, "#tls-domains")
    def _domain_changed(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None and event.row_key.value != self._domain:
            self._domain = str(event.row_key.value)
            self._paint_paths()
