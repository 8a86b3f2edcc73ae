"""Seed placement screen: per provider where the last test landed, and the last 14 runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from console.analysis.health import Finding
from console.analysis.seeds import STRIP_RUNS, ProviderRow, provider_rows, sending_ip
from console.model import SeedProgress, SeedRun
from console.textsafe import cell, visible
from console.timeutil import age_text
from console.updates import Update
from widgets.footer import FittingFooter
from widgets.live import Live

#: Strip cell per placement: a letter that reads without colour, and a colour that helps.
GLYPHS = {
    "inbox": ("▪", "green"),
    "other": ("o", "yellow"),
    "missing": ("M", "yellow"),
    "spam": ("S", "bold red"),
    "rejected": ("R", "bold red"),
    "error": ("E", "magenta"),
    "": ("·", "dim"),
}
PLACEMENT_STYLE = {p: style for p, (_, style) in GLYPHS.items()}
LEGEND = "▪ inbox  S spam  M missing  o other folder  R rejected by Mandrill  E not checkable"


def strip_text(strip: Sequence[str]) -> Text:
    out = Text(no_wrap=True)
    for placement in strip:
        glyph, style = GLYPHS.get(placement, ("?", "magenta"))
        out.append(glyph, style=style)
    return out


def auth_cell(row_auth: dict[str, str], method: str) -> Text:
    value = row_auth.get(method)
    if value is None:
        return cell("—", style="dim")
    return cell(value, 10, "green" if value == "pass" else "bold red")


class SeedScreen(Screen[None]):
    """Where seed messages landed: providers first, then each seed of the last run."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="Back to the main screen"),
        Binding("p", "app.pop_screen", "Back", show=False),
        Binding("s", "app.seed_test", "Seed test now", tooltip="Send a seed test (asks first)"),
    ]

    DEFAULT_CSS = """
    SeedScreen #seed-head { height: auto; padding: 0 1; text-style: bold; }
    SeedScreen #seed-progress { height: auto; padding: 0 1; color: $accent; display: none; }
    SeedScreen #seed-stale { height: auto; color: $warning; padding: 0 1; display: none; }
    SeedScreen #seed-providers { height: auto; max-height: 8; }
    SeedScreen #seed-findings { height: auto; max-height: 6; padding: 0 1; }
    SeedScreen #seed-results { height: 1fr; }
    SeedScreen .legend { height: 1; padding: 0 1; color: $text-muted; }
    """

    def __init__(
        self,
        local: Callable[[datetime], datetime],
        seeds: int,
        live: Live | None = None,
        judge: Callable[[SeedRun | None], Sequence[Finding]] = lambda run: (),
    ) -> None:
        super().__init__()
        self._local = local
        self._seeds = seeds
        self._live = live
        self._judge = judge  # the findings of a run (the app knows the clock and thresholds)
        self._runs: tuple[SeedRun, ...] = ()
        self._findings: tuple[Finding, ...] = ()
        self._progress: SeedProgress | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="seed-head")
            yield Static("", id="seed-progress")
            yield Static("", id="seed-stale")
            providers: DataTable[Text] = DataTable(id="seed-providers", cursor_type="none")
            for key, label, width in (
                ("provider", "provider", 8),
                ("inbox", "inbox", 6),
                ("spam", "spam", 5),
                ("missing", "missing", 8),
                ("else", "other", 6),
                ("spf", "SPF", 8),
                ("dkim", "DKIM", 8),
                ("dmarc", "DMARC", 8),
                ("ips", "sending IPs (red: spam)", 23),
                ("strip", f"last {STRIP_RUNS} runs", STRIP_RUNS + 2),
            ):
                providers.add_column(label, key=key, width=width)
            yield providers
            yield Static(LEGEND, classes="legend")
            yield Static("", id="seed-findings")
            results: DataTable[Text] = DataTable(id="seed-results", cursor_type="row")
            for key, label, width in (
                ("seed", "seed", 12),
                ("placement", "placement", 9),
                ("folder", "folder", 14),
                ("auth", "spf/dkim/dmarc", 16),
                ("ip", "sending IP", 15),
                ("delay", "delay", 6),
                ("note", "note", 24),
                ("address", "address", 30),
            ):
                results.add_column(label, key=key, width=width)
            yield results
        yield FittingFooter()

    def on_mount(self) -> None:
        self._paint()
        if self._live is not None:
            self._live.updates.subscribe(self, self._updated, immediate=True)
            self._live.stale.subscribe(self, lambda s: self.set_stale(s["seeds"]), immediate=True)

    def _updated(self, update: Update) -> None:
        r = update.result
        if r.seed_progress is not None:
            self.show_progress(r.seed_progress)
        if r.seed_runs is not None:
            self.show_progress(None)
            self.show_runs(r.seed_runs, self._judge(r.seed_runs[-1] if r.seed_runs else None))
        elif update.source == "seeds" and update.status.ok is False:
            self.show_progress(None)

    # -- data in -------------------------------------------------------------------

    def set_stale(self, note: str | None) -> None:
        for box in self.query("#seed-stale").results(Static):
            box.update(Text(visible(note or "")))
            box.display = bool(note)

    def show_runs(self, runs: Sequence[SeedRun], findings: Sequence[Finding]) -> None:
        self._runs = tuple(runs)
        self._findings = tuple(findings)
        if self.is_mounted:
            self._paint()

    def show_progress(self, progress: SeedProgress | None) -> None:
        self._progress = progress
        if self.is_mounted:
            self._render_progress()

    # -- rendering -------------------------------------------------------------------

    def _render_progress(self) -> None:
        p = self._progress
        text = Text()
        if p is not None:
            text.append(
                f"Seed test running: {p.found} of {p.total} found · waited {age_text(p.waited_s)}"
            )
        box = self.query_one("#seed-progress", Static)
        box.update(text)
        box.display = p is not None

    def _paint(self) -> None:
        self._render_progress()
        head = self.query_one("#seed-head", Static)
        last = self._runs[-1] if self._runs else None
        if last is None:
            head.update(
                Text(
                    f"Seed placement · {self._seeds} seed mailboxes · no run yet (s sends one now)"
                )
            )
        else:
            when = self._local(last.run_at).strftime("%m-%d %H:%M %Z")
            head.update(
                Text(
                    f"Seed placement · last run {when} · {len(last.results)} seeds · "
                    f"{len(self._runs)} runs kept"
                )
            )
        with self.app.batch_update():
            self._render_providers(provider_rows(self._runs))
            self._render_results(last)
            findings = Text()
            for f in self._findings:
                style = "bold red" if f.severity == "critical" else "bold yellow"
                findings.append(f"⚠ {visible(f.text)}\n", style=style)
            self.query_one("#seed-findings", Static).update(findings)

    def _render_providers(self, rows: Sequence[ProviderRow]) -> None:
        table: DataTable[Text] = self.query_one("#seed-providers", DataTable)
        table.clear()
        for r in rows:
            c = r.counts
            other = c.get("other", 0) + c.get("rejected", 0) + c.get("error", 0)
            ips = Text(no_wrap=True, overflow="ellipsis")
            ordered = [*r.spam_ips, *(ip for ip in r.ips if ip not in r.spam_ips)]
            for i, ip in enumerate(ordered):  # the IP at fault first: the cell may be clipped
                if i:
                    ips.append(" ")
                ips.append(visible(ip), style="bold red" if ip in r.spam_ips else "")
            table.add_row(
                cell(r.provider, 9, "bold"),
                cell(f"{c.get('inbox', 0)}/{r.total}", style="green" if c.get("inbox") else ""),
                cell(c.get("spam", 0) or "", style="bold red"),
                cell(c.get("missing", 0) or "", style="yellow"),
                cell(other or "", style="yellow"),
                auth_cell(r.auth, "spf"),
                auth_cell(r.auth, "dkim"),
                auth_cell(r.auth, "dmarc"),
                ips,
                strip_text(r.strip),
                key=r.provider,
            )

    def _render_results(self, run: SeedRun | None) -> None:
        table: DataTable[Text] = self.query_one("#seed-results", DataTable)
        table.clear()
        if run is None:
            return
        for r in run.results:
            auth = "/".join(r.auth.get(m, "-") for m in ("spf", "dkim", "dmarc")) if r.auth else ""
            ip = sending_ip(r)
            note = r.error
            if r.received_ip and r.source_ip and r.received_ip != r.source_ip:
                note = f"receiver saw {r.received_ip}; {note}".strip("; ")
            table.add_row(
                cell(r.seed, 12),
                cell(r.placement, 9, PLACEMENT_STYLE.get(r.placement, "")),
                cell(r.folder, 14),
                cell(auth, 16),
                cell(ip, 15),
                cell("" if r.delay_s is None else age_text(r.delay_s)),
                cell(note, 24),
                cell(r.address, 30),
                key=r.seed,
            )
