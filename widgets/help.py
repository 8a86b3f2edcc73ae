"""The help screen: for the screen on view, its keys, what its panels and columns show,
and each figure's source, window and base (the README's words, from console.figures)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from console.figures import figures_for
from console.textsafe import visible
from widgets.footer import FittingFooter

#: screen (its class name, "main" for the main screen) → (title, figures' tag, what it shows)
TOPICS: dict[str, tuple[str, str, str]] = {
    "main": (
        "Main screen",
        "main",
        "Alert line: the open alerts, the worst one's message; 'still evaluating' until every "
        "source has answered once.\n"
        "Reputation: the account's Mandrill reputation and Mandrill's own rates for today and "
        "7 days; customers worst first (rep, complaints and hard bounces over the mail read, "
        "sent/wk as Mandrill counts). Enter opens a customer, z pauses or resumes it.\n"
        "Sending IPs: each IP's delivery rate, sent and delivered over the mail read, "
        "blocklists n/m, warm-up day by time, rDNS (✓ forward-confirmed) and pool; w starts "
        "or cancels a dedicated IP's warm-up. Notes under the table name noisy neighbours, "
        "listings and seed findings.\n"
        "Bounce feed: bounces, rejects, complaints, unsubscribes and deferrals, newest first; "
        "it follows new events until you move the cursor, then '▲ N newer' counts what came "
        "in above (g/Home: newest, G/End: oldest). x removes a denylisted recipient.\n"
        "Gmail line (with Postmaster Tools set up): the worst domain's latest published "
        "spam rate beside Mandrill's complaints that day; i opens the Gmail screen.\n"
        "Status line: each source's last good poll, or why it fails; ◐ partial reads.",
    ),
    "DnsScreen": (
        "DNS and blocklists",
        "dns",
        "Domains: SPF (lookups of the 10 allowed), DKIM per selector, DMARC policy and report "
        "addresses, MX; a lookup that got no answer is unknown, never a failure.\n"
        "Lists: every target (IP or domain) on every list of its kind, with the list's own "
        "answer code and what it means; Enter shows the detail and the delisting page.",
    ),
    "AlertsScreen": (
        "Alerts",
        "alerts",
        "Open alerts first, then the resolved ones: rule, subject, severity, since when, and "
        "the digits that separate the value from its limit. Enter shows the detail; "
        "acknowledging keeps it open but quiet, with your note, in the action log.",
    ),
    "DmarcScreen": (
        "DMARC aggregate reports",
        "dmarc",
        "Per domain and sending source: messages receivers reported, how many passed DMARC "
        "aligned, and whether the source is one of ours (Mandrill's ranges, our IPs). "
        "t cycles the window (1 / 7 / 30 days); Enter lists a source's records; s opens the "
        "SMTP TLS reports.",
    ),
    "TlsScreen": (
        "SMTP TLS reports",
        "tlsrpt",
        "Per domain of ours: the sessions other senders' MTAs reported opening to our MX "
        "hosts over the window (t: 1 / 7 / 30 days), how many failed and mostly why; below, "
        "each failure type with the sending MTA and our MX it happened between.",
    ),
    "DmarcSourceScreen": (
        "DMARC records of one source",
        "dmarc",
        "The reported records of one source in the same window as its row: reporter, "
        "disposition, SPF and DKIM results and alignment.",
    ),
    "GmailScreen": (
        "What Gmail sees",
        "gmail",
        "Per domain (n: the next one), each day of the window newest first: the spam rate "
        "Gmail users reported (Gmail's line: keep under 0.1 %, never reach 0.3 %), "
        "Mandrill's complaints of the same domain's mail that UTC day, SPF / DKIM / DMARC "
        "success, TLS and delivery errors. Days Google has not published say so. Under the "
        "table: the latest day's delivery errors by reason and the IPs that carried the "
        "mail, and each bulk-sender requirement now.",
    ),
    "ContentScreen": (
        "Content checks",
        "content",
        "Each configured template or file scored by spamd: the score against the threshold, "
        "the rules that added the most points, the lint findings, and the score's trend.",
    ),
    "SeedScreen": (
        "Seed-inbox placement",
        "placement",
        "Per provider: where the latest seed test's messages landed (inbox, spam, missing), "
        "their SPF/DKIM/DMARC results and sending IP; the strip shows the last runs. "
        "s sends a seed test (asks first).",
    ),
    "CustomerScreen": (
        "One customer",
        "customer",
        "The customer's Mandrill reputation and sent/wk, its counts over the mail read, its "
        "open alerts, and its feed events of the last 7 days with what each one means. "
        "e writes a report to send the customer; z pauses or resumes it.",
    ),
    "EventDetail": (
        "One feed event",
        "",
        "Every field of the event, its SMTP events and the raw Mandrill item.",
    ),
    "AuditScreen": (
        "The action log",
        "",
        "Every action taken from this console (and refused ones): when, what, on what, "
        "whether Mandrill did it, and its answer.",
    ),
}


def help_text(topic: str, keys: Sequence[tuple[str, str]]) -> Text:
    """The help of one screen: keys, then what it shows, then its figures."""
    title, tag, about = TOPICS.get(topic, (topic, "", ""))
    out = Text()
    out.append(f"{title}\n\n", style="bold")
    out.append("Keys\n", style="bold underline")
    width = max((len(k) for k, _ in keys), default=1)
    for key, what in keys:
        out.append(f"  {key:<{width}}  ", style="bold")
        out.append(f"{visible(what)}\n")
    out.append(f"  {'ctrl+p':<{width}}  ", style="bold")
    out.append("command palette: every screen and action by name\n")
    if about:
        out.append("\nWhat it shows\n", style="bold underline")
        for para in about.split("\n"):
            out.append(f"  {para}\n")
    figures = figures_for(tag) if tag else ()
    if figures:
        out.append("\nFigures: source · window · base\n", style="bold underline")
        for f in figures:
            out.append(f"  {f.figure.replace('`', '')}\n", style="bold")
            out.append(f"    {f.source} · {f.window} · {f.base}\n".replace("`", ""))
    return out


class HelpScreen(ModalScreen[None]):
    """Esc, ? or q close the help, and only the help."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", tooltip="Back to the screen"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100%; max-width: 110; height: 100%; max-height: 40;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, topic: str, keys: Sequence[tuple[str, str]]) -> None:
        super().__init__()
        self.topic = topic
        self.keys = tuple(keys)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(help_text(self.topic, self.keys), id="help-text")
        yield FittingFooter()

    def on_mount(self) -> None:
        self.query_one("#help-body").border_title = "Help"
        self.query_one("#help-body").focus()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
