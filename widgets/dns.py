"""DNS & blocklists screen: each domain's SPF/DKIM/DMARC/MX, each target's listings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static

from console.analysis.dnsbl import coverage, summarize
from console.model import BlocklistView, DomainDns, Listing, SenderDomain
from console.textsafe import cell, visible
from console.updates import Update
from widgets.footer import FittingFooter
from widgets.live import Live

OK, BAD, UNKNOWN = "green", "bold red", "yellow"


def _word(valid: bool | None, text: str) -> Text:
    style = OK if valid else (BAD if valid is False else UNKNOWN)
    return cell(text, 30, style)


def _spf_cell(d: DomainDns) -> Text:
    """SPF: a lookup that failed is unknown, not a fail; a good record shows its lookups."""
    if d.spf.temperror:
        text = "unknown: no answer"
    elif not d.spf.valid:
        text = "FAIL"
    else:
        text = f"ok ({d.spf.lookups}/10)" if d.spf.lookups is not None else "ok"
    return _word(None if d.spf.temperror else d.spf.valid, text)


def _dkim_text(d: DomainDns) -> str:
    """The failing selectors first, then the unknown ones, then a note of legacy keys."""
    unknown = [k.selector for k in d.dkim if k.temperror]
    bad = [k.selector for k in d.dkim if not k.valid and not k.temperror]
    legacy = [k.selector for k in d.dkim if k.kind == "legacy"]
    text = "FAIL " + ",".join(bad) if bad else "ok"
    if unknown:
        text = ("" if not bad else text + " ") + "unknown " + ",".join(unknown)
    if legacy:
        text += " +legacy"
    return text


def _dkim_cell(d: DomainDns) -> Text:
    """DKIM: unknown when lookups failed and none is known bad; no selector at all is bad."""
    unknown = any(k.temperror for k in d.dkim)
    bad = any(not k.valid and not k.temperror for k in d.dkim)
    dkim_ok = None if unknown and not bad else (not bad and bool(d.dkim))
    return _word(dkim_ok, _dkim_text(d) if d.dkim else "none")


def _dmarc_cell(d: DomainDns) -> Text:
    """DMARC: p=none protects nothing, so it reads as unknown rather than ok."""
    if d.dmarc.temperror:
        text = "unknown: no answer"
    else:
        text = f"p={d.dmarc.policy}" if d.dmarc.valid else "FAIL"
    return _word(None if d.dmarc.temperror or d.dmarc.policy == "none" else d.dmarc.valid, text)


def _our_cells(d: DomainDns | None) -> tuple[Text, Text, Text, Text]:
    """The SPF, DKIM, DMARC and MX cells of mailops' own reading."""
    if d is None:
        waiting = cell("not checked yet", 18, UNKNOWN)
        return waiting, waiting, waiting, waiting
    mx = _word(bool(d.mx), "ok" if d.mx else "none")
    return _spf_cell(d), _dkim_cell(d), _dmarc_cell(d), mx


def _mandrill_cell(m: SenderDomain | None, d: DomainDns | None) -> Text:
    """What Mandrill says, and whether it disagrees with our own reading."""
    if m is None:
        return cell("—")
    flags = {
        "SPF": m.spf_valid,
        "DKIM": m.dkim_valid,
        "DKIM2": m.dkim2_valid,
        "DMARC": m.dmarc_valid,
    }
    failing = [k for k, v in flags.items() if v is False]
    text = "all valid" if not failing else "✗ " + " ".join(failing)
    if d is not None:
        ours_ok = d.spf.valid and all(k.valid for k in d.dkim) and d.dmarc.valid
        if ours_ok == bool(failing):  # one says fine, the other does not
            text += " (disagrees)"
    return _word(not failing, text)


class DnsScreen(Screen[None]):
    """Everything DNS says about the sending domains and IPs; Enter shows the raw records."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to the main screen"),
        Binding("d", "app.pop_screen", "Back", show=False),
    ]

    DEFAULT_CSS = """
    DnsScreen #dns-domains { height: auto; max-height: 12; }
    DnsScreen #dns-lists { height: 1fr; }
    DnsScreen #dns-detail { height: 10; border: round $primary 60%; padding: 0 1; }
    DnsScreen .heading { text-style: bold; padding: 0 1; }
    DnsScreen #dns-stale { height: auto; color: $warning; padding: 0 1; }
    """

    def __init__(self, local: Callable[[datetime], datetime], live: Live | None = None) -> None:
        super().__init__()
        self._local = local
        self._live = live
        self._domains: dict[str, DomainDns] = {}
        self._mandrill: dict[str, SenderDomain] = {}
        self._blocklists: BlocklistView | None = None
        self._items: list[Listing] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                "Sending domains: mailops' own DNS reading (Mandrill's beside it)",
                classes="heading",
            )
            domains: DataTable[Text] = DataTable(id="dns-domains", cursor_type="row")
            for key, label, width in (
                ("domain", "domain", 30),
                ("spf", "SPF", 18),
                ("dkim", "DKIM", 24),
                ("dmarc", "DMARC", 18),
                ("mx", "MX", 6),
                ("mandrill", "Mandrill says", 22),
            ):
                domains.add_column(label, key=key, width=width)
            yield domains
            yield Static(
                "Blocklists (listed / not_listed / error / broken / timeout)",
                classes="heading",
                id="dns-lists-heading",
            )
            lists: DataTable[Text] = DataTable(id="dns-lists", cursor_type="row")
            for key, label, width in (
                ("target", "IP or domain", 30),
                ("zone", "list", 26),
                ("verdict", "verdict", 11),
                ("since", "since", 12),
                ("meaning", "meaning", 60),
            ):
                lists.add_column(label, key=key, width=width)
            yield lists
            with VerticalScroll(id="dns-detail"):
                yield Static("The highlighted row's records show here.", id="dns-detail-body")
        yield FittingFooter()

    def on_mount(self) -> None:
        self._render_domains()
        self._render_lists()
        if self._live is not None:
            self._live.updates.subscribe(self, self._updated, immediate=True)
            self._live.stale.subscribe(self, lambda s: self.set_stale(s["dns"]), immediate=True)

    def _updated(self, update: Update) -> None:
        r = update.result
        if r.dns is not None:
            self.show_dns(r.dns)
        if r.blocklists is not None:
            self.show_blocklists(r.blocklists)
        if r.domains is not None:
            self.show_mandrill(r.domains)

    # -- data in -------------------------------------------------------------------

    def set_stale(self, note: str | None) -> None:
        for box in self.query("#dns-stale").results(Static):  # none until composed
            box.update(Text(visible(note or "")))

    def show_dns(self, domains: Sequence[DomainDns]) -> None:
        self._domains = {d.domain: d for d in domains}
        if self.is_mounted:
            self._render_domains()

    def show_mandrill(self, domains: Sequence[SenderDomain]) -> None:
        self._mandrill = {d.domain: d for d in domains}
        if self.is_mounted:
            self._render_domains()

    def show_blocklists(self, view: BlocklistView) -> None:
        self._blocklists = view
        if self.is_mounted:
            self._render_lists()

    # -- rendering -------------------------------------------------------------------

    def _render_domains(self) -> None:
        table: DataTable[Text] = self.query_one("#dns-domains", DataTable)
        table.clear()
        for name in dict.fromkeys([*self._domains, *self._mandrill]):
            d = self._domains.get(name)
            spf, dkim, dmarc, mx = _our_cells(d)
            said = _mandrill_cell(self._mandrill.get(name), d)
            table.add_row(cell(name, 30), spf, dkim, dmarc, mx, said, key=name)

    def _render_lists(self) -> None:
        table: DataTable[Text] = self.query_one("#dns-lists", DataTable)
        table.clear()
        view = self._blocklists
        if view is None:
            return
        order = {"listed": 0, "broken": 1, "error": 2, "timeout": 3, "not_listed": 4}
        items = sorted(view.listings, key=lambda x: (order.get(x.verdict, 9), x.target, x.zone))
        style = {
            "listed": BAD,
            "not_listed": OK,
            "error": UNKNOWN,
            "broken": UNKNOWN,
            "timeout": UNKNOWN,
        }
        for i, x in enumerate(items):
            since = self._local(x.since).strftime("%m-%d %H:%M") if x.since else ""
            table.add_row(
                cell(x.target, 30),
                cell(x.zone, 26),
                cell(x.verdict, 11, style.get(x.verdict, "")),
                cell(since),
                cell(x.meaning or x.txt, 200),
                key=str(i),
            )
        summary = summarize(view.listings)
        listed = sum(1 for s in summary.values() if s.listed)
        unknown = sum(1 for s in summary.values() if s.unknown and not s.listed)
        heading = (
            f"Blocklists: {coverage(view.listings)} · {listed} listed · "
            f"{unknown} not known to be clean"
        )
        for zone, target, at in view.delisted[-3:]:
            heading += f" · {visible(target)} delisted from {visible(zone)} {at:%m-%d %H:%M} UTC"
        self.query_one("#dns-lists-heading", Static).update(Text(heading))
        self._items = items

    @on(DataTable.RowHighlighted, "#dns-domains")
    @on(DataTable.RowSelected, "#dns-domains")
    def _domain_detail(self, event: DataTable.RowHighlighted | DataTable.RowSelected) -> None:
        if event.row_key.value is None:
            return
        d = self._domains.get(str(event.row_key.value))
        body = Text()
        if d is None:
            body.append("Not checked yet.")
        else:

            def line(label: str, value: str) -> None:
                body.append(f"{label}: ", style="bold")
                body.append(visible(value or "—") + "\n")

            line("SPF record", d.spf.record)
            counted = (
                f"{d.spf.lookups} of 10 DNS lookups, {d.spf.void_lookups} of 2 void"
                if d.spf.lookups is not None
                else "lookups not counted (the record was not evaluated)"
            )
            line("SPF", f"{counted}; {d.spf.error}" if d.spf.error else counted)
            for k in d.dkim:
                line(
                    f"DKIM {k.selector} ({k.kind})",
                    f"{k.target + ' → ' if k.target else ''}{k.record[:120]} {k.error}",
                )
            line("DMARC record", d.dmarc.record)
            line("DMARC", d.dmarc.error or "; ".join(d.dmarc.warnings))
            line("MX", ", ".join(d.mx) or d.mx_error)
        self.query_one("#dns-detail-body", Static).update(body)

    @on(DataTable.RowHighlighted, "#dns-lists")
    @on(DataTable.RowSelected, "#dns-lists")
    def _list_detail(self, event: DataTable.RowHighlighted | DataTable.RowSelected) -> None:
        if event.row_key.value is None or not self._items:
            return
        x = self._items[int(str(event.row_key.value))]
        body = Text()
        body.append(f"{visible(x.target)} on {visible(x.zone)}: {x.verdict}\n", style="bold")
        body.append(f"codes: {', '.join(x.codes) or '—'}\n")
        body.append(f"meaning: {visible(x.meaning) or '—'}\n")
        body.append(f"TXT: {visible(x.txt) or '—'}\n")
        self.query_one("#dns-detail-body", Static).update(body)
