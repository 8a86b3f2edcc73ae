"""What a panel or screen asks the app to do on the user's behalf; the app confirms and
carries it out. They live here, not in the screens, so the app can handle them without
importing a screen before it is first opened."""

from __future__ import annotations

from textual.message import Message

from console.registry import ActionKind


class ActionRequested(Message):
    """Change something at Mandrill (the kinds are declared in console/registry.py)."""

    def __init__(self, kind: ActionKind, target: str, subaccount: str | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.target = target
        self.subaccount = subaccount


class CustomerRequested(Message):
    """Open one customer's (subaccount's) view."""

    def __init__(self, subaccount: str) -> None:
        super().__init__()
        self.subaccount = subaccount


class AlertAcknowledged(Message):
    """The user acknowledged an open alert, with a note for the audit log."""

    def __init__(self, alert_id: str, note: str) -> None:
        super().__init__()
        self.alert_id = alert_id
        self.note = note


class DmarcSourceRequested(Message):
    """Open the report records behind one sending IP of one domain, over the same
    window (days) the DMARC screen's row counted them in."""

    def __init__(self, domain: str, ip: str, days: int) -> None:
        super().__init__()
        self.domain = domain
        self.ip = ip
        self.days = days


class CustomerReportRequested(Message):
    """Write the customer's report (CSV and text) for the customer view on screen."""

    def __init__(self, subaccount: str) -> None:
        super().__init__()
        self.subaccount = subaccount


class TlsReportsRequested(Message):
    """Open the SMTP TLS reports, over the window the DMARC screen shows (days)."""

    def __init__(self, days: int) -> None:
        super().__init__()
        self.days = days
