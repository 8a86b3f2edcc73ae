"""DMARC screen: per domain how much mail passes, through which sources, and who spoofs us."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Static

from console.analysis.dmarc import WINDOWS, DomainRow, SourceRow
from console.model import DmarcRecord, DmarcReport
from console.textsafe import cell, visible
from console.updates import Update
from console.views import dmarc_note
from widgets.footer import FittingFooter
from widgets.intents import DmarcSourceRequested, TlsReportsRequested
from widgets.live import Live

GROUP_STYLE = {"mandrill": "green", "known": "cyan", "unknown": "bold yellow"}


def pct(n: int, total: int) -> str:
    return f"{n / total:.1%}" if total else "—"


class DmarcScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to the main screen"),
        Binding("m", "app.pop_screen", "Back", show=False),
        Binding("t", "window", "1/7/30 days", tooltip="Cycle the time window"),
        Binding("s", "tls", "TLS reports", tooltip="SMTP TLS reports (RFC 8460) of our domains"),
    ]

    DEFAULT_CSS = """
    DmarcScreen .heading { text-style: bold; padding: 0 1; }
    DmarcScreen #dmarc-domains { height: auto; max-height: 8; }
    DmarcScreen #dmarc-sources { height: 1fr; }
    DmarcScreen #dmarc-note { height: auto; max-height: 4; padding: 0 1; color: $text-muted; }
    """

    def __init__(
        self, local: Callable[[datetime], datetime], live: Live | None = None, sources: str = ""
    ) -> None:
        super().__init__()
        self._local = local
        self._live = live
        self._sources = sources  # where the reports come from, named in the note
        self._windows: Mapping[int, Sequence[DomainRow]] = {}
        self._days = 7
        self._domain = ""
        self._note = ""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", classes="heading", id="dmarc-heading")
            domains: DataTable[Text] = DataTable(id="dmarc-domains", cursor_type="row")
            for key, label, width in (
                ("domain", "domain", 28),
                ("messages", "messages", 9),
                ("pass", "DMARC pass", 10),
                ("dkim", "DKIM align", 10),
                ("spf", "SPF align", 9),
                ("mandrill", "Mandrill pass", 13),
                ("unknown", "unknown", 8),
                ("last", "last report", 12),
            ):
                domains.add_column(label, key=key, width=width)
            yield domains
            yield Static("", classes="heading", id="dmarc-sources-heading")
            sources: DataTable[Text] = DataTable(id="dmarc-sources", cursor_type="row")
            for key, label, width in (
                ("ip", "source IP", 16),
                ("group", "group", 8),
                ("name", "who (rDNS)", 30),
                ("messages", "messages", 9),
                ("pass", "pass", 6),
                ("fail", "fail", 6),
                ("reporters", "reported by", 22),
                ("flag", "", 10),
            ):
                sources.add_column(label, key=key, width=width)
            yield sources
            yield Static("", id="dmarc-note")
        yield FittingFooter()

    def on_mount(self) -> None:
        self._paint()
        if self._live is not None:
            self._live.updates.subscribe(self, self._updated, immediate=True)

    def _updated(self, update: Update) -> None:
        view = update.result.dmarc
        if view is not None:
            self.show(view.windows, dmarc_note(view, self._sources))

    def show(self, windows: Mapping[int, Sequence[DomainRow]], note: str = "") -> None:
        self._windows = windows
        self._note = note
        if self.is_mounted:
            self._paint()

    def action_window(self) -> None:
        self._days = WINDOWS[(WINDOWS.index(self._days) + 1) % len(WINDOWS)]
        self._paint()

    def action_tls(self) -> None:
        self.post_message(TlsReportsRequested(self._days))

    def _rows(self) -> Sequence[DomainRow]:
        return self._windows.get(self._days, ())

    def _paint(self) -> None:
        rows = self._rows()
        total = sum(r.reports for r in rows)
        self.query_one("#dmarc-heading", Static).update(
            Text(
                f"DMARC aggregate reports · last {self._days} day{'s' if self._days > 1 else ''} "
                f"(t cycles 1/7/30) · {total} reports · Enter on a source lists its records"
            )
        )
        table: DataTable[Text] = self.query_one("#dmarc-domains", DataTable)
        table.clear()
        for r in rows:
            table.add_row(*self._domain_cells(r), key=r.domain)
        if rows and self._domain not in {r.domain for r in rows}:
            self._domain = rows[0].domain
        self._paint_sources()
        note = Text(visible(self._note)) if self._note else Text()
        self.query_one("#dmarc-note", Static).update(note)

    def _domain_cells(self, r: DomainRow) -> list[Text]:
        """A domain's pass and alignment rates; red where Mandrill fails or someone spoofs."""
        unknown = r.unknown_sources
        spoof = [s for s in unknown if s.spoofing]
        mp = r.mandrill_pass_rate
        last = self._local(r.last_report_at).strftime("%m-%d %H:%M") if r.last_report_at else ""
        return [
            cell(r.domain, 28),
            cell(f"{r.messages:,}"),
            cell(pct(r.passed, r.messages), style="green" if r.passed == r.messages else ""),
            cell(pct(r.dkim_aligned, r.messages)),
            cell(pct(r.spf_aligned, r.messages)),
            cell("—" if mp is None else f"{mp:.1%}", style="bold red" if mp and mp < 0.95 else ""),
            cell(f"{len(unknown)}" + (" ⚠" if spoof else ""), style="bold red" if spoof else ""),
            cell(last),
        ]

    def _paint_sources(self) -> None:
        row = next((r for r in self._rows() if r.domain == self._domain), None)
        heading = self.query_one("#dmarc-sources-heading", Static)
        table: DataTable[Text] = self.query_one("#dmarc-sources", DataTable)
        table.clear()
        if row is None:
            heading.update(Text("No reports in this window."))
            return
        reporters = ", ".join(f"{visible(org)} {n:,}" for org, n in row.reporters)
        heading.update(Text(f"Sources sending as {visible(row.domain)} · reporters: {reporters}"))
        for s in row.sources:
            table.add_row(*self._source_cells(s), key=s.ip)

    def _source_cells(self, s: SourceRow) -> list[Text]:
        who = s.label or s.rdns or ("(no rDNS yet)" if s.group == "unknown" else "")
        if s.label and s.rdns:
            who = f"{s.label} · {s.rdns}"
        return [
            cell(s.ip, 16),
            cell(s.group, 8, GROUP_STYLE.get(s.group, "")),
            cell(who, 30),
            cell(f"{s.messages:,}"),
            cell(f"{s.passed:,}", style="green" if s.passed else ""),
            cell(f"{s.failed:,}", style="bold red" if s.failed else ""),
            cell(", ".join(s.reporters), 22),
            cell("⚠ spoofing?" if s.spoofing else "", style="bold red"),
        ]

    @on(DataTable.RowHighlighted, "#dmarc-domains")
    def _domain_changed(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None and event.row_key.value != self._domain:
            self._domain = str(event.row_key.value)
            self._paint_sources()

    @on(DataTable.RowSelected, "#dmarc-sources")
    def _source_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.post_message(
                DmarcSourceRequested(self._domain, str(event.row_key.value), self._days)
            )

    def selected_source(self) -> str | None:
        table: DataTable[Text] = self.query_one("#dmarc-sources", DataTable)
        if table.row_count == 0:
            return None
        return str(table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value)


class DmarcSourceScreen(Screen[None]):
    """Every record one source sent as one domain, as the reporters described them."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", tooltip="Back to the DMARC screen")]
    DEFAULT_CSS = """
    DmarcSourceScreen .heading { text-style: bold; padding: 0 1; }
    DmarcSourceScreen DataTable { height: 1fr; }
    """

    def __init__(
        self,
        domain: str,
        ip: str,
        records: Sequence[tuple[DmarcReport, DmarcRecord]],
        local: Callable[[datetime], datetime],
        days: int,
    ) -> None:
        super().__init__()
        self._domain, self._ip, self._records, self._local = domain, ip, records, local
        self._days = days

    def compose(self) -> ComposeResult:
        total = sum(rec.count for _, rec in self._records)
        yield Static(
            Text(
                f"{visible(self._ip)} sending as {visible(self._domain)}, reports of the "
                f"last {self._days} day{'s' if self._days > 1 else ''}: "
                f"{len(self._records)} records, {total:,} messages"
            ),
            classes="heading",
        )
        table: DataTable[Text] = DataTable(id="dmarc-records", cursor_type="row")
        for key, label, width in (
            ("day", "report day", 10),
            ("org", "reporter", 14),
            ("count", "count", 6),
            ("disp", "disposition", 11),
            ("dkim", "DKIM", 5),
            ("spf", "SPF", 5),
            ("from", "envelope from", 20),
            ("auth", "auth results", 40),
            ("why", "override", 20),
        ):
            table.add_column(label, key=key, width=width)
        yield table
        yield FittingFooter()

    def on_mount(self) -> None:
        table: DataTable[Text] = self.query_one("#dmarc-records", DataTable)
        for i, (rep, rec) in enumerate(self._records):
            auth = " ".join(
                [f"dkim={r} ({d} {s})".replace(" )", ")") for d, s, r in rec.dkim_results]
                + [f"spf={r} ({d})" for d, _, r in rec.spf_results]
            )
            table.add_row(
                cell(self._local(rep.begin).strftime("%Y-%m-%d")),
                cell(rep.org_name, 14),
                cell(rec.count),
                cell(rec.disposition, 11),
                cell(rec.dkim, 5, "green" if rec.dkim == "pass" else "red"),
                cell(rec.spf, 5, "green" if rec.spf == "pass" else "red"),
                cell(rec.envelope_from, 20),
                cell(auth, 200),
                cell("; ".join(rec.reasons), 60),
                key=str(i),
            )
