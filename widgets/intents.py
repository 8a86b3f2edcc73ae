"""What a panel asks the app to do on the user's behalf; the app confirms and carries it out."""

from __future__ import annotations

from textual.message import Message


class ActionRequested(Message):
    """Change something at Mandrill (see console/actions.py for the kinds)."""

    def __init__(self, kind: str, target: str, subaccount: str | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.target = target
        self.subaccount = subaccount


class CustomerRequested(Message):
    """Open one customer's (subaccount's) view."""

    def __init__(self, subaccount: str) -> None:
        super().__init__()
        self.subaccount = subaccount
