"""IP panel: each sending IP, its warm-up day, what it carried and how it delivered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from console.analysis.dnsbl import TargetSummary, summarize
from console.registry import ActionKind
from console.textsafe import cell, visible
from widgets.intents import ActionRequested

if TYPE_CHECKING:
    from console.model import BlocklistView, IpDns, IpRow, IpView


def bar(progress: float | None, width: int = 6) -> str:
    if progress is None:
        return ""
    filled = round(progress * width)
    return "█" * filled + "░" * (width - filled)


def _warmup_text(r: IpRow) -> str:
    if r.warming_up and r.warmup_day is not None:
        return f"day {r.warmup_day}/{r.warmup_days} {bar(r.progress)}"
    if r.dedicated:
        return "warmed" if not r.warming_up else "warming"
    return "shared pool"


def _rdns_name(r: IpRow, rd: IpDns | None) -> str:
    """Forward-confirmed or not comes first, where clipping cannot hide it."""
    name = r.domain or (rd.ptr[0] if rd and rd.ptr else "—")
    if rd is None:
        return name
    return ("✓ " if rd.fcrdns else ("✗ " if rd.fcrdns is False else "? ")) + name


def _lists_style(lists: TargetSummary | None) -> str:
    return "bold red" if lists and lists.listed else ("yellow" if lists and lists.unknown else "")


#: Most telling first: at 80 columns the table ends after the warm-up, and pool and
#: rDNS are a sideways scroll away.
COLUMNS = (
    ("ip", "IP", 15),
    ("rate", "rate", 7),
    ("sent", "sent", 7),
    ("delivered", "deliv'd", 7),
    ("lists", "blocklists", 12),
    ("warmup", "warm-up by time", 16),
    ("rdns", "rDNS", 20),
    ("pool", "pool", 9),
)


class WarmupPanel(Vertical):
    BINDINGS = [
        Binding(
            "w", "warmup", "Warm-up", tooltip="Start or cancel the dedicated IP's warm-up (asks)"
        ),
    ]

    DEFAULT_CSS = """
    WarmupPanel #ip-notes { height: auto; max-height: 4; color: $warning; }
    """

    def compose(self) -> ComposeResult:
        table: DataTable[Text] = DataTable(id="ips", cursor_type="row", zebra_stripes=True)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        yield table
        yield Static("", id="ip-notes")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._view: IpView | None = None
        self._lists: Mapping[str, TargetSummary] = {}
        self._rdns: Mapping[str, IpDns] = {}
        self._seed_notes: tuple[str, ...] = ()

    def on_mount(self) -> None:
        self.border_title = "Sending IPs and warm-up"

    def show_blocklists(self, view: BlocklistView) -> None:
        self._lists = summarize(view.listings)
        self._rdns = {r.ip: r for r in view.ips}
        if self._view is not None:
            self.show_ips(self._view)

    #: False in a read-only console: it cannot act, so it offers no action
    actions_allowed = True

    def highlighted_ip(self) -> IpRow | None:
        table: DataTable[Text] = self.query_one("#ips", DataTable)
        rows = self._view.rows if self._view else ()
        if not rows or not 0 <= table.cursor_row < len(rows):
            return None
        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        return next((r for r in rows if r.ip == key), None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Warm-up is offered on a dedicated IP only: shared-pool IPs have none."""
        if action == "warmup":
            row = self.highlighted_ip()
            return self.actions_allowed and row is not None and row.dedicated
        return True

    @on(DataTable.RowHighlighted, "#ips")
    def _ip_moved(self) -> None:
        self.refresh_bindings()

    def action_warmup(self) -> None:
        row = self.highlighted_ip()
        if row is None or not row.dedicated:
            return
        kind: ActionKind = "ip.cancel_warmup" if row.warming_up else "ip.start_warmup"
        self.post_message(ActionRequested(kind, row.ip))

    def show_seed_notes(self, notes: Sequence[str]) -> None:
        """Seed findings that blame an IP belong beside that IP's numbers."""
        self._seed_notes = tuple(notes)
        if self._view is not None:
            self.show_ips(self._view)

    def set_stale(self, note: str | None) -> None:
        # Content, not a str: a border title string is parsed as markup, and notes carry
        # error text that may come from a server.
        self.border_subtitle = Content(visible(note or ""))
        self.set_class(bool(note), "stale")

    def cells(self, r: IpRow) -> dict[str, Text]:
        rate = "—" if r.delivery_rate is None else f"{r.delivery_rate * 100:.1f}%"
        lists = self._lists.get(r.ip)
        rd = self._rdns.get(r.ip)
        bad = r.noisy or bool(lists and lists.listed)
        rdns_style = "yellow" if rd is not None and not rd.fcrdns else ""
        return {
            "ip": cell(r.ip, 15, "bold" if r.dedicated else ""),
            "pool": cell(r.pool, 9),
            "rdns": cell(_rdns_name(r, rd), 20, rdns_style),
            "lists": cell(lists.text if lists else "—", 12, _lists_style(lists)),
            "warmup": cell(_warmup_text(r), 16),
            "sent": cell(f"{r.sent:,}"),
            "delivered": cell(f"{r.delivered:,}"),
            "rate": cell(f"⚠{rate}" if bad else rate, style="bold red" if bad else ""),
        }

    def show_ips(self, view: IpView) -> None:
        if self._view is not None and view.generation < self._view.generation:
            return  # computed before mail the panel already shows: a poll that finished late
        self._view = view
        over = view.span.text if view.span else f"{view.window_hours:g} h"
        self.border_title = f"Sending IPs and warm-up · counts: mail read, {over}"
        with self.app.batch_update():
            self._fill_table(view.rows)
            self.query_one("#ip-notes", Static).update(self._notes(view))

    def _fill_table(self, rows: Sequence[IpRow]) -> None:
        """The same IPs in the same order are updated in place, keeping the cursor."""
        table: DataTable[Text] = self.query_one("#ips", DataTable)
        wanted = [r.ip for r in rows]
        current = [k.value for k in table.rows]
        if current != wanted:
            table.clear()
            for r in rows:
                cells = self.cells(r)
                table.add_row(*(cells[k] for k, _, _ in COLUMNS), key=r.ip)
        else:
            for r in rows:
                for col, value in self.cells(r).items():
                    table.update_cell(r.ip, col, value)

    def _notes(self, view: IpView) -> Text:
        """Under the table: noisy IPs, then listings, seed findings and unattributed mail."""
        notes = Text()
        for r in view.rows:
            if r.noisy:
                notes.append(f"⚠ {visible(r.ip)} {visible(r.note)}\n", style="bold")
        for r in view.rows:
            self._append_listings(notes, r)
        for text in self._seed_notes:
            notes.append(f"⚠ {visible(text)}\n", style="bold")
        if view.unattributed:
            notes.append(
                f"{view.unattributed:,} messages in the last {view.window_hours:g} h came "
                "without smtp_events: their sending IP is unknown and not counted above\n",
                style="dim",
            )
        return notes

    def _append_listings(self, notes: Text, r: IpRow) -> None:
        """One note per blocklist the IP is on, with since when and what the list means."""
        lists = self._lists.get(r.ip)
        for item in lists.listed if lists else ():
            since = f" since {item.since:%m-%d %H:%M} UTC" if item.since else ""
            notes.append(
                f"⚠ {visible(r.ip)} listed on {visible(item.zone)}{since}: "
                f"{visible(item.meaning)}\n",
                style="bold red",
            )
