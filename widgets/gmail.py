"""Gmail screen: what Gmail Postmaster Tools published per domain and day, beside
Mandrill's complaints from the same domain on the same UTC day; the delivery errors of
the latest day in plain words, and the bulk-sender requirements."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from console.analysis.gmail import REASON_SHORT, carried_by, latest_of
from console.model import GmailBoard, GmailDay, GmailDomain, MandrillDay
from console.textsafe import cell, visible
from console.updates import Update
from widgets.footer import FittingFooter
from widgets.live import Live

COLUMNS = (
    ("day", "day", 5),
    ("spam", "Gmail spam", 10),
    ("mandrill", "Mandrill compl.", 16),
    ("spf", "SPF", 5),
    ("dkim", "DKIM", 5),
    ("dmarc", "DMARC", 5),
    ("tls", "TLS", 5),
    ("errors", "errs", 5),
)

#: delivery-error reasons listed under the table, largest first
MOST_REASONS = 4

#: Gmail's bulk-sender requirements in a few words, in Google's order
REQUIREMENTS = {
    "SPF": "SPF", "DKIM": "DKIM", "SPF_AND_DKIM": "SPF and DKIM",
    "DMARC_POLICY": "DMARC policy", "DMARC_ALIGNMENT": "DMARC alignment",
    "MESSAGE_FORMATTING": "formatting", "DNS_RECORDS": "DNS records", "ENCRYPTION": "TLS",
    "USER_REPORTED_SPAM_RATE": "spam rate", "ONE_CLICK_UNSUBSCRIBE": "one-click unsubscribe",
    "HONOR_UNSUBSCRIBE": "honouring unsubscribes",
}  # fmt: skip


def rate(value: float | None, digits: int = 1) -> str:
    """ "99.8%"; a whole 100 % as "100%" so it fits the same five cells."""
    if value is None:
        return "—"
    return "100%" if value >= 1.0 else f"{value:.{digits}%}"


class GmailScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to the main screen"),
        Binding("i", "app.pop_screen", "Back", show=False),
        Binding("n", "next_domain", "Next domain", tooltip="Show the next domain"),
    ]

    DEFAULT_CSS = """
    GmailScreen .heading { text-style: bold; padding: 0 1; height: 1; }
    GmailScreen #gmail-sentence { height: auto; padding: 0 1; }
    GmailScreen #gmail-days { height: 1fr; min-height: 4; }
    GmailScreen #gmail-errors, GmailScreen #gmail-compliance { height: auto; padding: 0 1; }
    GmailScreen #gmail-note { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    """

    def __init__(
        self,
        note: Callable[[], str],
        live: Live | None = None,
        warning: float = 0.001,
        critical: float = 0.003,
    ) -> None:
        super().__init__()
        self._note = note  # where the figures come from and how old: asked at each paint
        self._live = live
        self._warning, self._critical = warning, critical
        self._board: GmailBoard | None = None
        self._domain = ""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", classes="heading", id="gmail-heading")
            yield Static("", id="gmail-sentence")
            table: DataTable[Text] = DataTable(id="gmail-days", cursor_type="row")
            for key, label, width in COLUMNS:
                table.add_column(label, key=key, width=width)
            yield table
            yield Static("", id="gmail-errors")
            yield Static("", id="gmail-compliance")
            yield Static("", id="gmail-note")
        yield FittingFooter()

    def on_mount(self) -> None:
        self._paint()
        if self._live is not None:
            self._live.updates.subscribe(self, self._updated, immediate=True)

    def _updated(self, update: Update) -> None:
        if update.result.gmail is not None:
            self.show(update.result.gmail)
        elif update.source == "postmaster":
            self._paint()  # a failed poll: the note says so, the figures stay

    def show(self, board: GmailBoard | None) -> None:
        self._board = board
        if self.is_mounted:
            self._paint()

    def action_next_domain(self) -> None:
        rows = self._rows()
        if rows:
            names = [r.domain for r in rows]
            at = names.index(self._domain) if self._domain in names else -1
            self._domain = names[(at + 1) % len(names)]
            self._paint()

    def _rows(self) -> tuple[GmailDomain, ...]:
        return self._board.domains if self._board else ()

    def _row(self) -> GmailDomain | None:
        rows = self._rows()
        if rows and self._domain not in {r.domain for r in rows}:
            self._domain = rows[0].domain
        return next((r for r in rows if r.domain == self._domain), None)

    def _paint(self) -> None:
        row = self._row()
        self.query_one("#gmail-heading", Static).update(self._heading(row))
        sentence = Text(visible(row.sentence), style="bold red") if row and row.sentence else ""
        self.query_one("#gmail-sentence", Static).update(sentence)
        self._paint_days(row)
        self.query_one("#gmail-errors", Static).update(self._errors(row))
        self.query_one("#gmail-compliance", Static).update(self._compliance(row))
        legend = (" · not yet: Google publishes a day or two later · Mandrill: all mail from "
                  "the domain that UTC day, ◐ part of it read")  # fmt: skip
        note = visible(self._note()) + (legend if row else "")
        self.query_one("#gmail-note", Static).update(Text(note))

    def _heading(self, row: GmailDomain | None) -> Text:
        if row is None or self._board is None:
            return Text("Gmail Postmaster Tools · nothing read yet")
        rows = self._rows()
        which = f" ({rows.index(row) + 1}/{len(rows)}, n next)" if len(rows) > 1 else ""
        return Text(
            f"Gmail · {visible(row.domain)}{which} · last {self._board.window_days} days · "
            f"spam lines {self._warning:.1%} / {self._critical:.1%}",
            no_wrap=True, overflow="ellipsis",
        )  # fmt: skip

    def _paint_days(self, row: GmailDomain | None) -> None:
        """Every day of the window, newest first: a day Google has not published says so
        (the days after its latest are "not yet published"), never a 0."""
        table: DataTable[Text] = self.query_one("#gmail-days", DataTable)
        cursor = table.cursor_row
        table.clear()
        if row is None or self._board is None:
            return
        by_day = {d.day: d for d in row.days}
        newest = max(by_day) if by_day else None
        today = self._board.today
        for back in range(self._board.window_days):
            day = today - timedelta(days=back)
            table.add_row(*self._day_cells(day, by_day.get(day), row.mandrill.get(day), newest),
                          key=day.isoformat())  # fmt: skip
        if 0 <= cursor < table.row_count:
            table.move_cursor(row=cursor)

    def _day_cells(
        self, day: date, g: GmailDay | None, m: MandrillDay | None, newest: date | None
    ) -> list[Text]:
        theirs = self._mandrill_cell(m)
        if g is None:  # after Google's newest day: not yet; before it: none for that day
            why = "not yet" if newest is None or day > newest else "no data"
            blank = [cell("") for _ in COLUMNS[3:]]
            return [cell(f"{day:%m-%d}"), cell(why, style="dim"), theirs, *blank]
        spam = cell(rate(g.spam_rate, 2), style=self._loud(g.spam_rate))
        return [cell(f"{day:%m-%d}"), spam, theirs, cell(rate(g.spf)), cell(rate(g.dkim)),
                cell(rate(g.dmarc)), cell(rate(g.tls_rate)), cell(rate(g.error_rate))]  # fmt: skip

    @staticmethod
    def _mandrill_cell(m: MandrillDay | None) -> Text:
        """Complaints of the mail read from the domain that UTC day: "0.02% of 4,999",
        ◐ in front when not all of that day was read (as the status line marks a partial
        read)."""
        if m is None or m.complaint_rate is None:
            return cell("—", style="dim")
        text = f"{m.complaint_rate:.2%} of {m.messages:,}"
        return cell(text if m.whole else f"◐{text}", 16)

    def _loud(self, value: float | None) -> str:
        if value is None:
            return ""
        return "bold red" if value >= self._critical else "yellow" if value >= self._warning else ""

    def _errors(self, row: GmailDomain | None) -> Text:
        """The latest published day's delivery errors by reason, in plain words."""
        day = latest_of(row.days) if row else None
        if row is None or day is None:
            return Text()
        out = Text(f"Delivery errors {day.day:%m-%d}: ", style="bold")
        reasons = sorted(((r, v) for r, v in day.errors.items() if v > 0), key=lambda kv: -kv[1])
        if not reasons:
            out.append("none by reason" if day.error_rate is not None else "not published")
        words = [f"{REASON_SHORT.get(r, visible(r))} {v:.1%}" for r, v in reasons[:MOST_REASONS]]
        more = f" · {len(reasons) - MOST_REASONS} more" if len(reasons) > MOST_REASONS else ""
        out.append(" · ".join(words) + more, style="")
        if row.carriers:
            out.append("\n" + carried_by(row.carriers) + " (every domain's mail)", style="dim")
        return out

    @staticmethod
    def _compliance(row: GmailDomain | None) -> Text:
        """Each bulk-sender requirement now: ✓ compliant, ✗ needs work, ? not stated."""
        c = row.compliance if row else None
        if c is None:
            return Text("Sender requirements: not read", style="dim")
        out = Text("Sender requirements: ", style="bold")
        marks = {"COMPLIANT": ("✓", "green"), "NEEDS_WORK": ("✗", "bold red")}
        order = list(REQUIREMENTS)

        def rank(kv: tuple[str, str]) -> int:
            return order.index(kv[0]) if kv[0] in order else len(order)

        ranked = sorted(c.requirements.items(), key=rank)
        for req, state in ranked:
            mark, style = marks.get(state, ("?", "dim"))
            out.append(f"{mark} {REQUIREMENTS.get(req, visible(req))}  ", style=style)
        for what, verdict, reason in (
            ("one-click unsubscribe", c.one_click_unsubscribe, c.one_click_reason),
            ("honouring unsubscribes", c.honor_unsubscribe, c.honor_reason),
        ):
            if reason:
                out.append(f"\n{what}: {visible(verdict)} ({visible(reason)})", style="dim")
        return out
