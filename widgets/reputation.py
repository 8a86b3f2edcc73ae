"""Reputation panel: account score with history, rates, quota, and customers worst first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Sparkline, Static

from console.config import Thresholds
from console.registry import ActionKind
from console.textsafe import cell, visible
from widgets.intents import ActionRequested, CustomerRequested

if TYPE_CHECKING:
    from console.model import Account, AccountView, ReadSpan, Reject, Stats, SubaccountRow

WORD_STYLE = {"Excellent": "bold green", "Good": "bold yellow", "Poor": "bold red"}


def pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


class ReputationPanel(Horizontal):
    DEFAULT_CSS = """
    ReputationPanel #rep-left { width: 60; height: 100%; }
    ReputationPanel #rep-summary { height: auto; }
    ReputationPanel #rep-rejects { height: 1; }
    ReputationPanel #rep-gmail { height: 1; display: none; }
    ReputationPanel #rep-spark-label { height: 1; color: $text-muted; }
    ReputationPanel Sparkline { height: 1; }
    ReputationPanel DataTable { width: 1fr; height: 100%; }
    """

    summary_text = ""

    BINDINGS = [
        Binding("z", "pause", "Pause/resume", tooltip="Pause or resume the customer (asks)"),
    ]

    def __init__(self, thresholds: Thresholds | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.thresholds = thresholds or Thresholds()
        self._subs: dict[str, SubaccountRow] = {}
        self._view: AccountView | None = None
        self._span: ReadSpan | None = None
        self.compact = False
        self._gmail = ("", "", "")  # the Gmail line: wide, compact, how loud

    def set_compact(self, compact: bool) -> None:
        """At 80×24: the account on one line and the rates that matter (sent, delivered,
        hard bounces, complaints) for today and 7 days; the rest comes back when wider."""
        if compact != self.compact:
            self.compact = compact
            self._title(self._span, known=bool(self._subs))
            if self._view is not None:
                self.show_account(self._view)
            self.show_gmail(*self._gmail)

    def highlighted_customer(self) -> SubaccountRow | None:
        table: DataTable[Text] = self.query_one("#subaccounts", DataTable)
        if table.row_count == 0 or not 0 <= table.cursor_row < table.row_count:
            return None
        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        return self._subs.get(str(key))

    #: False in a read-only console: it cannot act, so it offers no action
    actions_allowed = True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pause":
            return self.actions_allowed and self.highlighted_customer() is not None
        return True

    @on(DataTable.RowHighlighted, "#subaccounts")
    def _customer_moved(self) -> None:
        self.refresh_bindings()

    def action_pause(self) -> None:
        row = self.highlighted_customer()
        if row is not None:
            kind: ActionKind = "subaccount.resume" if row.status == "paused" else "subaccount.pause"
            self.post_message(ActionRequested(kind, row.id))

    @on(DataTable.RowSelected, "#subaccounts")
    def _open_customer(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.post_message(CustomerRequested(str(event.row_key.value)))

    def compose(self) -> ComposeResult:
        with Vertical(id="rep-left"):
            yield Static("Waiting for Mandrill…", id="rep-summary")
            yield Static("", id="rep-gmail")
            yield Static("", id="rep-rejects")
            yield Static("", id="rep-spark-label")
            yield Sparkline([], id="rep-spark")
        table: DataTable[Text] = DataTable(id="subaccounts", cursor_type="row", zebra_stripes=True)
        table.add_column("customer", key="id", width=17)
        table.add_column("rep", key="rep", width=4)
        table.add_column("complaints", key="complaints", width=11)
        table.add_column("hard", key="bounced", width=5)
        table.add_column("sent/wk", key="sent", width=7)
        yield table

    def on_mount(self) -> None:
        self.border_title = "Reputation · customers worst first"

    def _title(self, span: ReadSpan | None, known: bool = True) -> None:
        """What the customers' columns count: complaints and hard bounces over the mail
        read (and how much of the 7 days that is); sent/wk is Mandrill's own count (out of
        sight at 80 columns, so not named there)."""
        self._span = span
        if span is None or not known:  # no customers yet: nothing counted, nothing claimed
            self.border_title = "Reputation · customers worst first"
        elif self.compact:
            self.border_title = f"Reputation · customers: mail read, {span.text}"
        else:
            self.border_title = (
                f"Reputation · customer counts: mail read, {span.text} · sent/wk: Mandrill's"
            )

    def set_stale(self, note: str | None) -> None:
        # Content, not a str: a border title string is parsed as markup, and notes carry
        # error text that may come from a server.
        self.border_subtitle = Content(visible(note or ""))
        self.set_class(bool(note), "stale")

    def show_account(self, view: AccountView) -> None:
        self._view = view
        head = self._head(view)
        grid = self._rates_grid(view.account)
        self.summary_text = head.plain  # what tests and screen readers can match on
        self.query_one("#rep-summary", Static).update(Group(head, grid))
        self._show_history(view)

    def _head(self, view: AccountView) -> Text:
        """The account, its score and word; quota and backlog on a second line when wide."""
        acc = view.account
        head = Text(no_wrap=True, overflow="ellipsis")
        rep = "—" if acc.reputation is None else str(acc.reputation)
        head.append("" if self.compact else "Account ", style="bold")
        head.append(visible(acc.username) + "  ")
        head.append(f"{'' if self.compact else 'reputation '}{rep}/100 ", style="bold")
        head.append(view.word, style=WORD_STYLE.get(view.word, "bold"))
        quota = "—" if acc.hourly_quota is None else f"{acc.hourly_quota:,}/h"
        backlog = "—" if acc.backlog is None else f"{acc.backlog:,}"
        if not self.compact:
            head.append(f"\nhourly quota {quota}  backlog {backlog}")
        return head

    def _rates_grid(self, acc: Account) -> Table:
        """Today and 7 days; soft bounces and rejects only when wide."""
        from console.model import Stats  # the model loads after the first frame

        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="left", style="dim")
        wide = not self.compact
        heads = ["Mandrill", "sent", "deliv", "hard", *(["soft", "reject"] if wide else [])]
        heads.append("complaint")
        for _ in heads[1:]:
            grid.add_column(justify="right")
        grid.add_row(*heads, style="dim")
        for label, key in (("today", "today"), ("7 days", "last_7_days")):
            s = acc.stats.get(key, Stats())
            rates = [pct(s.delivery_rate), pct(s.hard_bounce_rate, 2)]
            if wide:
                rates += [pct(s.soft_bounce_rate, 2), pct(s.reject_rate, 2)]
            grid.add_row(label, f"{s.sent:,}", *rates, self._complaint(s))
        return grid

    def _complaint(self, s: Stats) -> Text:
        """The complaint rate, red or yellow past the configured thresholds."""
        complaint = Text(pct(s.complaint_rate, 3))
        if (s.complaint_rate or 0) >= self.thresholds.complaint_critical:
            complaint.stylize("bold red")
        elif (s.complaint_rate or 0) >= self.thresholds.complaint_warning:
            complaint.stylize("yellow")
        return complaint

    def _show_history(self, view: AccountView) -> None:
        """The last 120 scores as a sparkline, labelled with their range and start."""
        values = [float(v) for _, v in view.history[-120:]]
        self.query_one("#rep-spark", Sparkline).data = values
        label = ""
        if values:
            first = view.history[-len(values)][0]
            low, high = min(values), max(values)
            label = f"history {low:.0f}–{high:.0f} since {first:%m-%d %H:%M} UTC"
        self.query_one("#rep-spark-label", Static).update(label)

    def show_subaccounts(self, rows: Sequence[SubaccountRow]) -> None:
        self._subs = {r.id: r for r in rows}
        self._title(rows[0].span if rows else None, known=bool(rows))
        table: DataTable[Text] = self.query_one("#subaccounts", DataTable)
        wanted = [r.id for r in rows]
        current = [k.value for k in table.rows]
        with self.app.batch_update():
            if current != wanted:  # ranking changed: rebuild, keeping the cursor on its customer
                focused = (
                    current[table.cursor_row] if 0 <= table.cursor_row < len(current) else None
                )
                table.clear()
                for r in rows:
                    table.add_row(*self._cells(r).values(), key=r.id)
                if focused in wanted:
                    table.move_cursor(row=wanted.index(focused))
            else:
                for r in rows:
                    for col, value in self._cells(r).items():
                        table.update_cell(r.id, col, value)

    def show_gmail(self, wide: str, compact: str, loud: str) -> None:
        """Gmail's latest published spam rate beside Mandrill's complaints, under the
        rates ("" hides it: Postmaster Tools not set up)."""
        self._gmail = (wide, compact, loud)
        line = self.query_one("#rep-gmail", Static)
        text = compact if self.compact else wide
        style = {"critical": "bold red", "warning": "yellow"}.get(loud, "")
        line.update(Text(visible(text), style=style, no_wrap=True, overflow="ellipsis"))
        line.display = bool(text)
        self.set_class(bool(text), "with-gmail")

    def show_rejects(self, rejects: Sequence[Reject]) -> None:
        """The denylist in one line: how many, and why (1000 is Mandrill's listing cap)."""
        from console.analysis.rejects import summarize_rejects

        summary = summarize_rejects(rejects)
        parts = " · ".join(f"{visible(k)} {v:,}" for k, v in summary.by_reason)
        line = Text(f"denylist {summary.total_text}", style="bold")
        if parts:
            line.append(f" ({parts})", style="")
        self.query_one("#rep-rejects", Static).update(line)

    def _cells(self, r: SubaccountRow) -> dict[str, Text]:
        t = self.thresholds
        cr = r.complaint_rate
        return {
            "id": cell(("⏸ " if r.status == "paused" else "") + (r.name or r.id), 17),
            "rep": cell(
                "—" if r.reputation is None else r.reputation,
                style="red"
                if (r.reputation if r.reputation is not None else 100) < t.reputation_good
                else "",
            ),
            "complaints": cell(
                f"{r.complaints} {pct(cr, 2)}" if r.complaints else "0",
                style="bold red" if cr and cr >= t.complaint_critical else "",
            ),
            "bounced": cell(r.hard_bounces),
            "sent": cell(f"{r.sent_weekly:,}"),
        }
