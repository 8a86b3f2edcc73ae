"""One customer (subaccount): its standing, its bounces and complaints in plain words."""

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

from console.model import Alert, MessageEvent, SeedResult, SubaccountRow
from console.registry import ActionKind
from console.textsafe import cell, visible
from widgets.bounces import KIND_STYLE, BounceFeed
from widgets.footer import FittingFooter
from widgets.intents import ActionRequested, CustomerReportRequested


class CustomerScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to the main screen"),
        Binding("e", "report", "Report", tooltip="Export CSV + a summary to send the customer"),
        Binding("z", "pause", "Pause/resume", tooltip="Pause or resume this customer (asks)"),
    ]

    DEFAULT_CSS = """
    CustomerScreen #cust-head { height: auto; padding: 0 1; }
    CustomerScreen #cust-alerts { height: auto; max-height: 5; padding: 0 1; }
    CustomerScreen #cust-events { height: 1fr; }
    CustomerScreen #cust-seeds { height: auto; max-height: 4; padding: 0 1; color: $text-muted; }
    """

    def __init__(
        self,
        row: SubaccountRow,
        events: Sequence[MessageEvent],
        alerts: Sequence[Alert],
        seeds: Sequence[SeedResult],
        explain: Callable[[MessageEvent], str],
        local: Callable[[datetime], datetime],
        matched: int | None = None,
    ) -> None:
        super().__init__()
        self.row = row
        self.events = list(events)
        #: how many feed events of the last 7 days match in all (None: not counted yet);
        #: `events` are the newest of them, as many as the screen holds
        self.matched = matched
        self._alerts = alerts
        self._seeds = seeds
        self._explain = explain
        self._local = local

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._head(), id="cust-head")
            yield Static(self._alert_text(), id="cust-alerts")
            table: DataTable[Text] = DataTable(id="cust-events", cursor_type="row")
            for key, label, width in (
                ("time", "time", 14),
                ("kind", "kind", 8),
                ("to", "recipient", 22),
                ("why", "in plain words", 40),
                ("raw", "as the receiver said it", 60),
            ):
                table.add_column(label, key=key, width=width)
            yield table
            yield Static(self._seed_text(), id="cust-seeds")
        yield FittingFooter()

    def on_mount(self) -> None:
        self._fill_events()

    def _fill_events(self) -> None:
        """The events, newest first, keyed by event: the cursor stays on its event."""
        table: DataTable[Text] = self.query_one("#cust-events", DataTable)
        keys = [e.key for e in self.events]
        if keys == [str(k.value) for k in table.rows]:
            return
        focused = None
        if table.row_count and 0 <= table.cursor_row < table.row_count:
            focused = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        table.clear()
        for e in self.events:
            table.add_row(
                cell(self._local(e.event_ts).strftime("%m-%d %H:%M:%S")),
                cell(e.kind, 8, KIND_STYLE.get(e.kind, "")),
                cell(e.email, 24),
                cell(self._explain(e), 120),
                cell(e.reason, 200),
                key=e.key,
            )
        if focused in keys:
            table.move_cursor(row=keys.index(focused), animate=False)

    @on(DataTable.RowSelected, "#cust-events")
    def _open_event(self, event: DataTable.RowSelected) -> None:
        """Enter on an event: all of it, as on the feed (the receiver's whole answer)."""
        found = next((e for e in self.events if e.key == event.row_key.value), None)
        if found is not None:
            self.post_message(BounceFeed.DetailRequested(found))

    def show(
        self,
        row: SubaccountRow,
        events: Sequence[MessageEvent],
        alerts: Sequence[Alert],
        matched: int | None,
    ) -> None:
        """The customer as polled again (after a pause or resume, at once), with its
        events and alerts of the same moment, so the head and the list agree."""
        self.row, self.events, self._alerts, self.matched = row, list(events), alerts, matched
        if not self.is_mounted:
            return
        self.query_one("#cust-head", Static).update(self._head())
        self.query_one("#cust-alerts", Static).update(self._alert_text())
        self._fill_events()

    def _head(self) -> Text:
        r = self.row
        out = Text()
        out.append(f"{visible(r.name or r.id)} ", style="bold")
        out.append(f"({visible(r.id)}) · {visible(r.status)} · ")
        out.append(f"reputation {r.reputation if r.reputation is not None else '—'}")
        out.append(f" · {r.sent_weekly:,} sent since Monday (Mandrill)\n")
        if r.messages:
            over = r.span.text if r.span else "7 d"
            out.append(
                f"mail read, {over}: {r.messages:,} messages · hard bounces {r.hard_bounces} "
                f"({r.hard_bounces / r.messages:.2%}) · spam complaints {r.complaints} "
                f"({r.complaints / r.messages:.2%})"
            )
        counts: dict[str, int] = {}
        for e in self.events:
            counts[e.kind] = counts.get(e.kind, 0) + 1
        if counts:
            n = len(self.events)
            of = "" if self.matched is None or self.matched <= n else f"newest {n:,} of "
            total = f"{self.matched:,}" if self.matched is not None else f"{n:,}"
            out.append(
                f" · {of}{total} feed events, 7 d: "
                + ", ".join(f"{visible(k)} {v}" for k, v in sorted(counts.items()))
            )
        return out

    def _alert_text(self) -> Text:
        out = Text()
        for a in self._alerts:
            style = "bold red" if a.severity == "critical" else "bold yellow"
            out.append(f"⚠ {visible(a.message)}\n", style=style)
        return out

    def _seed_text(self) -> Text:
        if not self._seeds:
            return Text("")
        parts = [f"{visible(s.seed)} {s.placement}" for s in self._seeds]
        return Text("latest seed test (sent as this customer): " + ", ".join(parts))

    def action_report(self) -> None:
        self.post_message(CustomerReportRequested(self.row.id))

    #: False in a read-only console: it cannot act, so it offers no action
    actions_allowed = True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.actions_allowed if action == "pause" else True

    def action_pause(self) -> None:
        paused = self.row.status == "paused"
        kind: ActionKind = "subaccount.resume" if paused else "subaccount.pause"
        self.post_message(ActionRequested(kind, self.row.id))
