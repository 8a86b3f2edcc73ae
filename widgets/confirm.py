"""A yes/no question before anything that acts on the outside world (sends mail, deletes)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from console.textsafe import visible
from widgets.footer import FittingFooter


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True only on an explicit yes; Escape, n and "No" all mean no."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        Binding("escape", "answer(False)", "Cancel"),
    ]

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 72; height: auto; border: thick $warning; background: $panel; padding: 1 2;
    }
    ConfirmScreen #confirm-title { text-style: bold; }
    ConfirmScreen #confirm-body { margin: 1 0; }
    ConfirmScreen Horizontal { height: auto; align: right middle; }
    ConfirmScreen Button { margin-left: 2; }
    """

    def __init__(self, title: str, body: str, yes: str = "Yes") -> None:
        super().__init__()
        self._title = title
        self._body = body
        self._yes = yes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(visible(self._title)), id="confirm-title")
            yield Static(Text(visible(self._body, keep_newlines=True)), id="confirm-body")
            with Horizontal():
                yield Button("No (n)", id="no")
                yield Button(f"{self._yes} (y)", id="yes", variant="warning")
        yield FittingFooter()  # its own keys, not those of the screen underneath

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # Enter on an unread dialog must not send mail

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
