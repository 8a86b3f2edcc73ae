"""A footer that keeps what fits: at 80 columns a screen's keys do not all fit on one line,
and Textual's footer cuts the last ones off, which were help and quit."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: Always shown, whatever else has to go: how to learn the rest, and how to leave.
PINNED = ("question_mark", "q", "escape")


def key_width(key: FooterKey) -> int:
    """Cells a compact footer key takes: its key, a space, its label, then a margin."""
    label = f" {key.description}" if key.description else ""
    return len(key.key_display) + len(label) + 1


def fitting(keys: list[FooterKey], width: int) -> list[FooterKey]:
    """The keys that fit in `width` cells, in their order (most important first): the
    pinned ones always, then the rest while there is room."""
    room = width - sum(key_width(k) for k in keys if k.key in PINNED)
    kept: list[FooterKey] = []
    for k in keys:
        if k.key in PINNED:
            kept.append(k)
        elif key_width(k) <= room:
            kept.append(k)
            room -= key_width(k)
        else:
            room = -1  # keep the order: nothing after the first key that did not fit
    return kept


class FittingFooter(Footer):
    """Compact, without the palette key (ctrl+p is in the help), and cut to the keys
    that fit the terminal's width, again at every resize."""

    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=False)
        self._width = 0

    def compose(self) -> ComposeResult:
        made: list[Widget] = list(super().compose())
        keys = [w for w in made if isinstance(w, FooterKey)]
        if len(keys) != len(made):  # a binding group: nothing of ours to measure
            yield from made
            return
        yield from fitting(keys, self.app.size.width)

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._width:
            self._width = event.size.width
            self.call_after_refresh(self.recompose)
