"""Bounce feed: every bounce, reject, complaint and deferral, newest first, filterable."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from console.analysis.feed import filter_events, matches
from console.model import FEED_KINDS, MessageEvent
from console.textsafe import cell, visible
from widgets.intents import ActionRequested

KIND_STYLE = {
    "hard": "bold red",
    "reject": "red",
    "spam": "bold magenta",
    "soft": "yellow",
    "deferred": "dim yellow",
    "unsub": "cyan",
}

#: The reason goes last and unsized: it takes whatever width is left, and the
#: table scrolls sideways for the rest (the detail screen shows all of it).
COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("time", "time", 15),
    ("kind", "kind", 8),
    ("recipient", "recipient", 26),
    ("customer", "customer", 13),
    ("ip", "sending IP", 15),
    ("reason", "reason", None),
)


class BounceFeed(Vertical):
    """Keeps the events it was given (bounded) and shows those passing the filter."""

    BINDINGS = [
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding(
            "x", "unreject", "Unreject", tooltip="Remove the recipient from the reject list (asks)"
        ),
    ]

    DEFAULT_CSS = """
    BounceFeed #feed-filter { display: none; height: 3; }
    BounceFeed.filtering #feed-filter { display: block; }
    BounceFeed #feed-info { height: 1; color: $text-muted; }
    BounceFeed DataTable { height: 1fr; }
    """

    class DetailRequested(Message):
        def __init__(self, event: MessageEvent) -> None:
            super().__init__()
            self.event = event

    class ExportRequested(Message):
        def __init__(self, events: list[MessageEvent], description: str) -> None:
            super().__init__()
            self.events = events
            self.description = description

    def __init__(
        self,
        limit: int = 5000,
        local_time: Callable[[datetime], datetime] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.limit = limit
        self.events: list[MessageEvent] = []
        self.by_key: dict[str, MessageEvent] = {}
        self.text_filter = ""
        self.kind_filter: str | None = None
        self._local = local_time or (lambda dt: dt.astimezone())

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter: recipient, customer, reason, IP… (Enter keeps, Esc clears)",
            id="feed-filter",
        )
        yield Static("", id="feed-info")
        table: DataTable[Text] = DataTable(id="feed", cursor_type="row", zebra_stripes=True)
        zone = self._local(datetime.now(UTC)).strftime("%Z") or "local"
        for key, label, width in COLUMNS:
            table.add_column(f"{label} ({zone})" if key == "time" else label, key=key, width=width)
        yield table

    def on_mount(self) -> None:
        self.border_title = "Bounce feed"
        self._update_info()

    def set_stale(self, note: str | None) -> None:
        # Content, not a str: a border title string is parsed as markup, and notes carry
        # error text that may come from a server.
        self.border_subtitle = Content(visible(note or ""))
        self.set_class(bool(note), "stale")

    # -- data in -------------------------------------------------------------------

    def set_events(self, events: Sequence[MessageEvent]) -> None:
        self.events = sorted(events, key=lambda e: e.event_ts, reverse=True)[: self.limit]
        self.by_key = {e.key: e for e in self.events}
        self._rebuild()

    def add_events(self, events: Iterable[MessageEvent]) -> None:
        fresh = [e for e in events if e.key not in self.by_key]
        if not fresh:
            return
        merged = sorted([*fresh, *self.events], key=lambda e: e.event_ts, reverse=True)
        dropped = merged[self.limit :]
        self.events = merged[: self.limit]
        for e in fresh:
            self.by_key[e.key] = e
        for e in dropped:
            self.by_key.pop(e.key, None)
        visible = [e for e in fresh if e.key in self.by_key and self._passes(e)]
        table: DataTable[Text] = self.query_one("#feed", DataTable)
        with self.app.batch_update():
            for e in dropped:
                if e.key in table.rows:
                    table.remove_row(e.key)
            if visible:
                focused = self._cursor_key(table)
                for e in visible:
                    table.add_row(*self._cells(e), key=e.key)
                table.sort("time", key=lambda t: t.plain, reverse=True)
                if focused is not None and focused in table.rows:
                    table.move_cursor(row=table.get_row_index(focused), animate=False)
        self._update_info()

    # -- rendering -------------------------------------------------------------------

    def _passes(self, e: MessageEvent) -> bool:
        return matches(e, self.text_filter, self.kind_filter)

    def visible_events(self) -> list[MessageEvent]:
        return filter_events(self.events, self.text_filter, self.kind_filter)

    def _cells(self, e: MessageEvent) -> list[Text]:
        when = self._local(e.event_ts).strftime("%m-%d %H:%M:%S")
        return [
            cell(when),
            cell(e.kind, 8, KIND_STYLE.get(e.kind, "")),
            cell(e.email, 26),
            cell(e.subaccount or "—", 13),
            cell(e.source_ip or "—", 15),
            cell(e.reason, 160),
        ]

    @staticmethod
    def _cursor_key(table: DataTable[Text]) -> str | None:
        if table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # cursor outside the rows
            return None

    def _rebuild(self) -> None:
        table: DataTable[Text] = self.query_one("#feed", DataTable)
        focused = self._cursor_key(table)
        with self.app.batch_update():
            table.clear()
            for e in self.visible_events():
                table.add_row(*self._cells(e), key=e.key)
            if focused is not None and focused in table.rows:
                table.move_cursor(row=table.get_row_index(focused), animate=False)
        self._update_info()

    def _update_info(self) -> None:
        shown = self.query_one("#feed", DataTable).row_count
        parts = [f"{shown:,} of {len(self.events):,} events"]
        if self.kind_filter:
            parts.append(f"kind: {self.kind_filter}")
        if self.text_filter:
            parts.append(f"filter: {self.text_filter!r}")
        parts.append("/ filter · k kind · Enter details · e export")
        info = Text(" · ".join(parts))
        self.query_one("#feed-info", Static).update(info)

    # -- user intents ----------------------------------------------------------------

    def action_filter(self) -> None:
        self.add_class("filtering")
        self.query_one("#feed-filter", Input).focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#feed-filter", Input)
        box.value = ""
        self.remove_class("filtering")
        self.query_one("#feed", DataTable).focus()

    @on(Input.Changed, "#feed-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.text_filter = event.value.strip()
        self._rebuild()

    @on(Input.Submitted, "#feed-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not self.text_filter:
            self.remove_class("filtering")
        self.query_one("#feed", DataTable).focus()

    def action_cycle_kind(self) -> None:
        kinds: list[str | None] = [None, *FEED_KINDS]
        others = sorted({e.kind for e in self.events} - set(FEED_KINDS))
        kinds += others
        i = kinds.index(self.kind_filter) if self.kind_filter in kinds else 0
        self.kind_filter = kinds[(i + 1) % len(kinds)]
        self._rebuild()

    def action_export(self) -> None:
        desc = self.query_one("#feed-info", Static).content
        self.post_message(self.ExportRequested(self.visible_events(), str(desc)))

    def highlighted_event(self) -> MessageEvent | None:
        table: DataTable[Text] = self.query_one("#feed", DataTable)
        if table.row_count == 0 or not 0 <= table.cursor_row < table.row_count:
            return None
        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        return self.by_key.get(str(key))

    def action_unreject(self) -> None:
        ev = self.highlighted_event()
        if ev is None:
            return
        self.post_message(ActionRequested("reject.delete", ev.email, ev.subaccount or None))

    @on(DataTable.RowSelected, "#feed")
    def _open(self, event: DataTable.RowSelected) -> None:
        ev = self.by_key.get(str(event.row_key.value))
        if ev is not None:
            self.post_message(self.DetailRequested(ev))
