"""IP panel: each sending IP, its warm-up day, what it carried and how it delivered."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import DataTable, Static

from console.model import IpRow, IpView
from console.textsafe import cell, visible


def bar(progress: float | None, width: int = 10) -> str:
    if progress is None:
        return ""
    filled = round(progress * width)
    return "█" * filled + "░" * (width - filled)


COLUMNS = (
    ("ip", "IP", 15),
    ("pool", "pool", 10),
    ("rdns", "rDNS", 26),
    ("warmup", "warm-up (by time)", 20),
    ("sent", "sent", 8),
    ("delivered", "delivered", 9),
    ("rate", "rate", 6),
    ("flag", "", 2),
)


class WarmupPanel(Vertical):
    DEFAULT_CSS = """
    WarmupPanel DataTable { height: 1fr; }
    WarmupPanel #ip-notes { height: auto; color: $warning; }
    """

    def compose(self) -> ComposeResult:
        table: DataTable[Text] = DataTable(id="ips", cursor_type="row", zebra_stripes=True)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        yield table
        yield Static("", id="ip-notes")

    def on_mount(self) -> None:
        self.border_title = "Sending IPs and warm-up"

    def set_stale(self, note: str | None) -> None:
        # Content, not a str: a border title string is parsed as markup, and notes carry
        # error text that may come from a server.
        self.border_subtitle = Content(visible(note or ""))
        self.set_class(bool(note), "stale")

    @staticmethod
    def cells(r: IpRow) -> dict[str, Text]:
        if r.warming_up and r.warmup_day is not None:
            warm = f"day {r.warmup_day}/{r.warmup_days} {bar(r.progress)}"
        elif r.dedicated:
            warm = "warmed" if not r.warming_up else "warming"
        else:
            warm = "shared pool"
        rate = "—" if r.delivery_rate is None else f"{r.delivery_rate * 100:.1f}%"
        bad = r.noisy
        return {
            "ip": cell(r.ip, 15, "bold" if r.dedicated else ""),
            "pool": cell(r.pool, 10),
            "rdns": cell(r.domain or "—", 26),
            "warmup": cell(warm, 20),
            "sent": cell(f"{r.sent:,}"),
            "delivered": cell(f"{r.delivered:,}"),
            "rate": cell(rate, style="bold red" if bad else ""),
            "flag": cell("⚠" if bad else "", style="bold red"),
        }

    def show_ips(self, view: IpView) -> None:
        rows = view.rows
        table: DataTable[Text] = self.query_one("#ips", DataTable)
        wanted = [r.ip for r in rows]
        current = [k.value for k in table.rows]
        with self.app.batch_update():
            if current != wanted:
                table.clear()
                for r in rows:
                    table.add_row(*self.cells(r).values(), key=r.ip)
            else:
                for r in rows:
                    for col, value in self.cells(r).items():
                        table.update_cell(r.ip, col, value)
            notes = Text()
            for r in rows:
                if r.noisy:
                    notes.append(f"⚠ {visible(r.ip)} {visible(r.note)}\n", style="bold")
            if view.unattributed:
                notes.append(
                    f"{view.unattributed:,} messages in the last {view.window_hours:g} h came "
                    "without smtp_events: their sending IP is unknown and not counted above\n",
                    style="dim",
                )
            self.query_one("#ip-notes", Static).update(notes)
