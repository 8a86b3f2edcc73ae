"""Bounce feed: every bounce, reject, complaint and deferral, newest first, filterable.

The widget shows one `FeedPage` at a time: the newest matches of the filter, as many
as the screen keeps. Searching all stored events is the store's work (the app asks
it when the filter changes and after each poll); the widget only says what the user
typed and draws the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    from console.model import FeedPage, MessageEvent, Reject

KIND_STYLE = {
    "hard": "bold red",
    "reject": "red",
    "spam": "bold magenta",
    "soft": "yellow",
    "deferred": "dim yellow",
    "unsub": "cyan",
}

#: Column widths; the reason has none: it takes whatever width is left (the detail
#: screen shows all of it).
WIDTHS = {"time": 15, "kind": 8, "recipient": 26, "customer": 13, "ip": 15}
LABELS = {"time": "time", "kind": "kind", "recipient": "recipient", "customer": "customer"}
LABELS |= {"ip": "sending IP", "reason": "reason"}
#: Wide, the reason comes last; at 80 columns it comes after the recipient, and the
#: customer and IP are a sideways scroll away. The time then drops its date for today.
WIDE = ("time", "kind", "recipient", "customer", "ip", "reason")
NARROW = ("time", "kind", "recipient", "reason", "customer", "ip")
NARROW_TIME = 11
REASON_MIN = 20


def columns(compact: bool, width: int) -> list[tuple[str, int]]:
    """(key, width) in order for a panel `width` cells wide: every column has a cell of
    padding each side, the panel a frame and padding (none at the sides when compact),
    and no sideways scrollbar takes one of the feed's rows."""
    order = NARROW if compact else WIDE
    sized = dict(WIDTHS, time=NARROW_TIME) if compact else WIDTHS
    before = order[: order.index("reason")] if compact else order[:-1]
    # the reason's own padding, and the vertical scrollbar (2 cells) when rows overflow
    room = width - (2 if compact else 4) - sum(sized[k] + 2 for k in before) - 2 - 2
    reason = max(REASON_MIN, room)
    return [(k, reason if k == "reason" else sized[k]) for k in order]


class TimeCell(Text):
    """A time as shown, sorted by the moment it stands for (shown times of today drop
    their date, so their text no longer sorts)."""

    def __init__(self, text: str, at: datetime) -> None:
        super().__init__(text, no_wrap=True, overflow="ellipsis")
        self.at = at


class FeedTable(DataTable[Text]):
    """The feed's rows; Home/g and End/G jump to the newest and the oldest event."""

    BINDINGS = [
        Binding("home,g", "newest", "Newest", show=False),
        Binding("end,G", "oldest", "Oldest", show=False),
    ]

    def action_newest(self) -> None:
        if self.row_count:
            self.move_cursor(row=0, animate=False)
            self.scroll_home(animate=False)

    def action_oldest(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)


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
    BounceFeed DataTable { height: 1fr; scrollbar-size-horizontal: 0; }
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
        wall: Callable[[], datetime] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.page: FeedPage | None = None  # until the app shows the first one
        self.by_key: dict[str, MessageEvent] = {}
        self.text_filter = ""
        self.kind_filter: str | None = None
        self._local = local_time or (lambda dt: dt.astimezone())
        self._wall = wall or (lambda: datetime.now(UTC))
        self.compact = False
        self._columns = columns(False, 120)
        #: events that arrived above the cursor since the user moved it off the newest
        self.newer = 0
        self.webhook: str | None = None
        self._refiltered = False  # the next page answers a new filter: start at its newest
        self.denylist: dict[str, Reject] = {}

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter: recipient, customer, reason, IP… (Enter keeps, Esc clears)",
            id="feed-filter",
        )
        yield Static("", id="feed-info")
        table = FeedTable(id="feed", cursor_type="row", zebra_stripes=True)
        self._add_columns(table)
        yield table

    def _add_columns(self, table: DataTable[Text]) -> None:
        zone = self._local(self._wall()).strftime("%Z") or "local"
        for key, width in self._columns:
            label = f"{LABELS[key]} ({zone})" if key == "time" else LABELS[key]
            table.add_column(label, key=key, width=width)

    def on_mount(self) -> None:
        self._update_info()  # the title with it

    def set_layout(self, compact: bool, width: int) -> None:
        """Columns for the terminal's width: the reason takes what is left over."""
        wanted = columns(compact, width)
        if (compact, wanted) == (self.compact, self._columns):
            return
        self.compact, self._columns = compact, wanted
        table: DataTable[Text] = self.query_one("#feed", DataTable)
        focused = self._cursor_key(table)
        with self.app.batch_update():
            table.clear(columns=True)
            self._add_columns(table)
            for e in self.page.events if self.page else ():
                table.add_row(*self._cells(e), key=e.key)
            if focused is not None and focused in table.rows:
                table.move_cursor(row=table.get_row_index(focused), animate=False)

    def _title(self) -> None:
        """The panel's title: the filter in force and what it matched (at 80 columns the
        info line is gone, so the title carries it), and the sign that newer events wait
        above the cursor."""
        parts = ["Bounce feed"]
        if self.kind_filter:
            parts.append(f"kind: {self.kind_filter}")
        if self.text_filter:
            parts.append(f"filter: {self.text_filter!r}")
        page = self.page
        if page is not None and (self.kind_filter or self.text_filter):
            parts.append(
                "counting…" if page.matched is None else f"{page.matched:,} of {page.total:,} match"
            )
        if self.newer:
            parts.append(f"▲ {self.newer:,} newer (g/Home)")
        if self.webhook:
            parts.append(self.webhook)
        self.border_title = Content(visible(" · ".join(parts)))

    def set_webhook(self, note: str | None) -> None:
        """When the last webhook batch came ('webhook 2m ago'); None: no webhook yet."""
        if note != self.webhook:
            self.webhook = note
            self._title()

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
            self._rebuild(page, old)  # a new filter: one redraw beats thousands of row removals
            return
        if [k for k in self.by_key] == [r.value for r in table.rows]:
            self._refiltered = False  # the same rows: the cursor stays where it is
            self._update_info()
            return
        with self.app.batch_update():
            self._merge(table, page, old)
        self._update_info()  # the title with it

    def _merge(self, table: DataTable[Text], page: FeedPage, old: dict[str, MessageEvent]) -> None:
        """Only the rows that changed are removed and added, so the cursor keeps its row."""
        focused = self._cursor_key(table)
        follow = table.cursor_row <= 0 or focused is None
        for key in [k for k in table.rows if k.value not in self.by_key]:
            table.remove_row(key)
        added = [e for e in page.events if e.key not in old]
        for e in added:
            table.add_row(*self._cells(e), key=e.key)
        table.sort("time", key=lambda t: t.at, reverse=True)
        self._place_cursor(table, follow, focused, old, added)

    def _follow(self, table: DataTable[Text]) -> None:
        self.newer = 0
        if table.row_count:
            table.move_cursor(row=0, animate=False)
            table.scroll_to(y=0, animate=False)

    @on(DataTable.RowHighlighted, "#feed")
    def _moved(self, event: DataTable.RowHighlighted) -> None:
        table = event.data_table  # a stale highlight of a rebuild (row 0) is not a move
        if event.cursor_row == 0 == table.cursor_row and self.newer:  # back on the newest
            self.newer = 0
            self._title()
        self.refresh_bindings()  # x is offered on denylisted recipients only

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
        local = self._local(e.event_ts)
        if not self.compact:
            when = local.strftime("%m-%d %H:%M:%S")
        elif local.date() == self._local(self._wall()).date():
            when = local.strftime("%H:%M:%S")
        else:
            when = local.strftime("%m-%d %H:%M")
        cells = {
            "time": TimeCell(when, e.event_ts),
            "kind": cell(e.kind, 8, KIND_STYLE.get(e.kind, "")),
            "recipient": cell(e.email, 26),
            "customer": cell(e.subaccount or "—", 13),
            "ip": cell(e.source_ip or "—", 15),
            "reason": cell(e.reason, 160),
        }
        return [cells[k] for k, _ in self._columns]

    @staticmethod
    def _cursor_key(table: DataTable[Text]) -> str | None:
        if table.row_count == 0:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # cursor outside the rows
            return None

    def _rebuild(self, page: FeedPage, old: dict[str, MessageEvent]) -> None:
        table: DataTable[Text] = self.query_one("#feed", DataTable)
        focused = self._cursor_key(table)
        follow = table.cursor_row <= 0 or focused is None
        with self.app.batch_update():
            table.clear()
            for e in page.events:
                table.add_row(*self._cells(e), key=e.key)
            self._place_cursor(table, follow, focused, old, page.events)
        self._update_info()  # the title with it

    def _place_cursor(
        self,
        table: DataTable[Text],
        follow: bool,
        focused: str | None,
        old: dict[str, MessageEvent],
        added: Sequence[MessageEvent],
    ) -> None:
        """On the newest row, the cursor follows new events; anywhere else its row stays
        under it, and the events that came in above are counted for the title."""
        refiltered, self._refiltered = self._refiltered, False
        if follow or refiltered or focused not in table.rows or focused not in old:
            self._follow(table)
            return
        assert focused is not None
        mark = old[focused].event_ts
        self.newer += sum(1 for e in added if e.key not in old and e.event_ts > mark)
        table.move_cursor(row=table.get_row_index(focused), animate=False)

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
        self._title()
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
        self._refiltered = True
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
        self._refiltered = True
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

    #: False in a read-only console: it cannot act, so it offers no action
    actions_allowed = True

    def set_denylist(self, rejects: Sequence[Reject]) -> None:
        """The recipients Mandrill refuses (rejects/list): `x` is offered on those only."""
        self.denylist = {r.email.lower(): r for r in rejects}
        self.refresh_bindings()

    def listed_entry(self) -> Reject | None:
        ev = self.highlighted_event()
        return None if ev is None else self.denylist.get(ev.email.lower())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "unreject":
            return self.actions_allowed and self.listed_entry() is not None
        return True

    def action_unreject(self) -> None:
        entry = self.listed_entry()
        if entry is None:
            return
        # the list it is on: the customer's own denylist, or the account's
        self.post_message(ActionRequested("reject.delete", entry.email, entry.subaccount or None))

    @on(DataTable.RowSelected, "#feed")
    def _open(self, event: DataTable.RowSelected) -> None:
        ev = self.by_key.get(str(event.row_key.value))
        if ev is not None:
            self.post_message(self.DetailRequested(ev))
