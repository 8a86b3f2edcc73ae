"""Bounce feed: every bounce, reject, complaint and deferral, newest first, filterable.

The widget shows one `FeedPage` at a time: the newest matches of the filter, as many
as the screen keeps. Searching all stored events is the store's work (the app asks
it when the filter changes and after each poll); the widget only says what the user
typed and draws the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Input, Static

from console.textsafe import cell, visible
from widgets.intents import ActionRequested

if TYPE_CHECKING:
    from console.model import FeedPage, MessageEvent

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


#: Up to this many rows in or out, a new page updates the table in place (the cursor
#: and the scroll stay); more, and the table is redrawn.
DIFF_MAX = 100


class BounceFeed(Vertical):
    """Shows the page of events it was given; says when the filter changes."""

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
        """Every stored event matching the filter, not only the rows on screen."""

        def __init__(self, text: str, kind: str | None, description: str) -> None:
            super().__init__()
            self.text = text
            self.kind = kind
            self.description = description

    class FilterChanged(Message):
        def __init__(self, text: str, kind: str | None) -> None:
            super().__init__()
            self.text = text
            self.kind = kind

    def __init__(
        self,
        local_time: Callable[[datetime], datetime] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.page: FeedPage | None = None  # until the app shows the first one
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

    def show_page(self, page: FeedPage) -> None:
        """Draw a new answer. Rows already on screen stay (and the cursor with them) when
        most of the page is the same, as after a poll; a new filter redraws the table."""
        self.page = page
        old = self.by_key
        self.by_key = {e.key: e for e in page.events}
        table: DataTable[Text] = self.query_one("#feed", DataTable)
        kept = sum(1 for k in self.by_key if k in old)
        if len(self.by_key) - kept > DIFF_MAX or len(old) - kept > DIFF_MAX:
            self._rebuild(page)  # a new filter: one redraw beats thousands of row removals
            return
        if [k for k in self.by_key] == [r.value for r in table.rows]:
            self._update_info()
            return
        with self.app.batch_update():
            focused = self._cursor_key(table)
            for key in [k for k in table.rows if k.value not in self.by_key]:
                table.remove_row(key)
            for e in page.events:
                if e.key not in old:
                    table.add_row(*self._cells(e), key=e.key)
            table.sort("time", key=lambda t: t.plain, reverse=True)
            if focused is not None and focused in table.rows:
                table.move_cursor(row=table.get_row_index(focused), animate=False)
        self._update_info()

    def show_count(self, text: str, kind: str | None, matched: int) -> None:
        """The count of a page shown without one, if the filter is still the same."""
        page, same = self.page, (text, kind) == (self.text_filter, self.kind_filter)
        if page is not None and page.matched is None and same:
            self.page = replace(page, matched=matched)
            self._update_info()

    @property
    def reading(self) -> bool:
        """Whether stored events are still being read (or no page has come yet)."""
        return self.page is None or self.page.loading

    # -- rendering -------------------------------------------------------------------

    def visible_events(self) -> list[MessageEvent]:
        """The rows on screen, newest first."""
        return list(self.page.events) if self.page is not None else []

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

    def _rebuild(self, page: FeedPage) -> None:
        table: DataTable[Text] = self.query_one("#feed", DataTable)
        focused = self._cursor_key(table)
        with self.app.batch_update():
            table.clear()
            for e in page.events:
                table.add_row(*self._cells(e), key=e.key)
            if focused is not None and focused in table.rows:
                table.move_cursor(row=table.get_row_index(focused), animate=False)
        self._update_info()

    def _counts(self, page: FeedPage) -> list[str]:
        """How many events, how many match, how many are shown (a count can come later)."""
        shown, matched = len(page.events), page.matched
        if not (self.text_filter or self.kind_filter):
            parts = [f"{page.total:,} events"]
            return parts + ([f"newest {shown:,} shown"] if shown < page.total else [])
        if matched is None:
            return [f"counting matches among {page.total:,} events…", f"newest {shown:,} shown"]
        parts = [f"{matched:,} of {page.total:,} events match"]
        return parts + ([f"newest {shown:,} shown"] if shown < matched else [])

    def _update_info(self) -> None:
        page = self.page
        parts = self._counts(page) if page is not None else []
        if page is None or page.loading:
            parts.append("reading stored events…")
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
        self.post_message(self.FilterChanged(self.text_filter, self.kind_filter))

    @on(Input.Submitted, "#feed-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not self.text_filter:
            self.remove_class("filtering")
        self.query_one("#feed", DataTable).focus()

    def action_cycle_kind(self) -> None:
        from console.model import FEED_KINDS

        kinds: list[str | None] = [None, *FEED_KINDS]
        kinds += sorted(set(self.page.kinds if self.page else ()) - set(FEED_KINDS))
        i = kinds.index(self.kind_filter) if self.kind_filter in kinds else 0
        self.kind_filter = kinds[(i + 1) % len(kinds)]
        self.post_message(self.FilterChanged(self.text_filter, self.kind_filter))

    def action_export(self) -> None:
        desc = self.query_one("#feed-info", Static).content
        self.post_message(self.ExportRequested(self.text_filter, self.kind_filter, str(desc)))

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
