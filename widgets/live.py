"""How a screen stays live: the app publishes on a few Textual signals, and each screen
beside the main one subscribes to what it shows when it is mounted (Textual drops a
subscriber once its screen is gone). The app no longer keeps a handle on every screen
to push each update into it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.signal import Signal

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from console.model import AuditEntry
    from console.updates import AlertsView, Update
    from console.views import Staleness


@dataclass(frozen=True)
class Live:
    """The app's signals, handed to each screen it opens."""

    #: every finished poll, as the pipeline published it
    updates: Signal[Update]
    #: the alerts after each change (a poll's evaluation, an acknowledgement)
    alerts: Signal[AlertsView]
    #: every panel's stale note, once a second and after each poll
    stale: Signal[Staleness]
    #: the action log after an action
    audit: Signal[Sequence[AuditEntry]]

    @classmethod
    def on(cls, owner: DOMNode) -> Live:
        return cls(
            Signal(owner, "updates"),
            Signal(owner, "alerts"),
            Signal(owner, "stale"),
            Signal(owner, "audit"),
        )
