"""The garbage collector during start-up.

Importing Textual, Rich and this program and drawing the first frame creates a few
hundred thousand objects that all live as long as the console. While they are being
created the collector keeps walking them, and finds nothing: on a 2-core box that was
a fifth of the time to the first frame. So the `mailops` command holds the collector
off from its first line until the first frame is drawn, then freezes what exists (it is
never walked again, which also keeps later full collections short) and lets it run.
"""

from __future__ import annotations

import gc

_held = False


def hold_collector() -> None:
    """Called once, first thing, by the command's entry point."""
    global _held
    if gc.isenabled():
        gc.disable()
        _held = True


def release_collector() -> None:
    """Idempotent; does nothing unless `hold_collector` turned the collector off, so an
    app built by a test or an embedding program never changes its collector."""
    global _held
    if _held:
        _held = False
        gc.freeze()
        gc.enable()
