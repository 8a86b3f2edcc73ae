"""Outside text made harmless before it reaches a terminal or a spreadsheet.

Bounce reasons, subjects and addresses are written by remote servers and
senders. Control characters (ANSI/OSC escape sequences, C1 controls) could
retitle the terminal, write the clipboard or forge output; bidi overrides
could reorder what the engineer reads. They are shown as visible escapes
instead, and rendering goes through `rich.text.Text`, which never parses
markup, so `[bold]` stays literal.
"""

from __future__ import annotations

import logging
import re

from rich.text import Text

_CONTROLS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff"
    "\ud800-\udfff]"  # lone surrogates (from JSON \\u escapes) cannot be encoded for display
)
_NEWLINES = re.compile("[\n\t]")


def _escape(m: re.Match[str]) -> str:
    ch = m.group(0)
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """Replace every control and bidi character with a printable escape like \\x1b."""
    text = _CONTROLS.sub(_escape, text)
    if not keep_newlines:
        text = _NEWLINES.sub(" ", text)
    return text


def terminal_lines(text: str) -> str:
    """Text bound for stdout or stderr: each line made visible, the line breaks kept. Every
    human-readable output of the commands goes through this, whatever it quotes."""
    return "\n".join(visible(line) for line in text.split("\n"))


class SafeFormatter(logging.Formatter):
    """Log lines with outside text made visible: a log is read with `less` or `tail` in a
    terminal too, and a bounce reason must not retitle it."""

    def format(self, record: logging.LogRecord) -> str:
        return visible(super().format(record), keep_newlines=True)


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def cell(text: object, width: int | None = None, style: str = "") -> Text:
    """A table cell: escaped, on one line, clipped (the detail view shows the full value)."""
    value = visible("" if text is None else str(text))
    if width is not None:
        value = clip(value, width)
    return Text(value, style=style, no_wrap=True, overflow="ellipsis")


def spreadsheet_safe(text: str) -> str:
    """Escape controls and defuse formula injection (=, +, -, @ leading a cell)."""
    value = visible(text)
    if value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        value = "'" + value
    return value
