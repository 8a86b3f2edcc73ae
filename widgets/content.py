"""Content screen: each key message's SpamAssassin score, its trend, rule hits and lint."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static

from console.analysis.content import top_rules
from console.model import ContentResult
from console.textsafe import cell, visible
from console.updates import Update
from widgets.footer import FittingFooter
from widgets.live import Live

BLOCKS = "▁▂▃▄▅▆▇█"


def trend(values: Sequence[float], threshold: float, width: int = 24) -> Text:
    """A sparkline scaled from 0 to the threshold (scores above it fill the cell, in red)."""
    out = Text(no_wrap=True)
    for v in list(values)[-width:]:
        level = min(len(BLOCKS) - 1, max(0, int(v / max(threshold, 0.1) * (len(BLOCKS) - 1))))
        out.append(BLOCKS[level], style="bold red" if v >= threshold else "green")
    return out


class ContentScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to the main screen"),
        Binding("o", "app.pop_screen", "Back", show=False),
        Binding("c", "app.content_now", "Check now", tooltip="Run every content check now"),
    ]

    DEFAULT_CSS = """
    ContentScreen .heading { text-style: bold; padding: 0 1; }
    ContentScreen #content-stale { height: auto; color: $warning; padding: 0 1; display: none; }
    ContentScreen #content-checks { height: auto; max-height: 12; }
    ContentScreen #content-detail { height: 1fr; border: round $primary 60%; padding: 0 1; }
    """

    def __init__(self, local: Callable[[datetime], datetime], live: Live | None = None) -> None:
        super().__init__()
        self._local = local
        self._live = live
        self._results: dict[str, ContentResult] = {}
        self._history: Mapping[str, Sequence[tuple[datetime, float]]] = {}
        self._current = ""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", classes="heading", id="content-heading")
            yield Static("", id="content-stale")
            table: DataTable[Text] = DataTable(id="content-checks", cursor_type="row")
            for key, label, width in (
                ("name", "check", 16),
                ("score", "score / threshold", 17),
                ("trend", "30 days", 24),
                ("rules", "top rules", 34),
                ("lint", "lint", 5),
                ("at", "checked", 11),
            ):
                table.add_column(label, key=key, width=width)
            yield table
            with VerticalScroll(id="content-detail"):
                yield Static("The highlighted check's full report shows here.", id="content-body")
        yield FittingFooter()

    def on_mount(self) -> None:
        self._paint()
        if self._live is not None:
            self._live.updates.subscribe(self, self._updated, immediate=True)
            self._live.stale.subscribe(self, lambda s: self.set_stale(s["content"]), immediate=True)

    def _updated(self, update: Update) -> None:
        if update.result.content is not None:
            self.show(update.result.content.results, update.result.content.history)

    def set_stale(self, note: str | None) -> None:
        for box in self.query("#content-stale").results(Static):
            box.update(Text(visible(note or "")))
            box.display = bool(note)

    def show(
        self,
        results: Sequence[ContentResult],
        history: Mapping[str, Sequence[tuple[datetime, float]]],
    ) -> None:
        self._results = {r.name: r for r in results}
        self._history = history
        if self.is_mounted:
            self._paint()

    def _paint(self) -> None:
        recorded = any(r.recorded for r in self._results.values())
        self.query_one("#content-heading", Static).update(
            Text(
                "Content checks · SpamAssassin score and lint of the messages that matter"
                + (" · DEMO: recorded scores, no spamd here" if recorded else "")
                + " · c checks now"
            )
        )
        table: DataTable[Text] = self.query_one("#content-checks", DataTable)
        table.clear()
        for r in self._results.values():
            rep = r.report
            if rep is None:
                score = cell(r.error or "not scored", 17, "bold red")
                threshold = 5.0
            else:
                threshold = rep.threshold
                score = cell(
                    f"{rep.score:.1f} / {rep.threshold:.1f}",
                    style="bold red" if rep.score >= rep.threshold else "green",
                )
            values = [v for _, v in self._history.get(r.name, ())]
            top = top_rules(rep.rules) if rep else ""
            table.add_row(
                cell(r.name, 16),
                score,
                trend(values, threshold),
                cell(top, 34),
                cell(len(r.lint) or "", style="bold yellow"),
                cell(self._local(r.checked_at).strftime("%m-%d %H:%M")),
                key=r.name,
            )
        if self._current not in self._results and self._results:
            self._current = next(iter(self._results))
        self._paint_detail()

    def _paint_detail(self) -> None:
        r = self._results.get(self._current)
        body = Text()
        if r is None:
            body.append("No content check has run yet.")
        else:
            body.append(f"{visible(r.name)}", style="bold")
            if r.recorded:
                body.append("  (recorded score: the demo has no spamd)", style="italic")
            body.append("\n")
            if r.error:
                body.append(f"could not be scored: {visible(r.error)}\n", style="bold red")
            if r.report is not None:
                rep = r.report
                verdict = "SPAM" if rep.is_spam else "not spam"
                body.append(f"score {rep.score:.1f} of {rep.threshold:.1f}: {verdict}\n")
                for h in sorted(rep.rules, key=lambda h: -h.points):
                    body.append(f"  {h.points:6.1f}  {h.name:<24} {visible(h.description)}\n")
            if r.lint:
                body.append("lint:\n", style="bold")
                for f in r.lint:
                    body.append(f"  ⚠ {visible(f.text)}\n", style="yellow")
        self.query_one("#content-body", Static).update(body)

    @on(DataTable.RowHighlighted, "#content-checks")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._current = str(event.row_key.value)
            self._paint_detail()
