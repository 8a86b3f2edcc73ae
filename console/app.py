"""The Textual app: the only bridge between the pipeline and the widgets.

Jobs publish `Update`s; this module turns each into a message on the app's
queue and hands the model objects to the panels. User intents come back as
widget messages that this module turns into job runs or file writes.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.geometry import Size
from textual.markup import escape
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Header, Static
from textual.worker import Worker, WorkerState

from console import __version__
from console.analysis.seeds import seed_findings
from console.config import Config
from console.registry import ActionKind
from console.startup import release_collector
from console.textsafe import visible
from console.timeutil import Clock, age_text, system_clock
from console.views import (
    dmarc_note,
    dmarc_sources,
    gmail_main_line,
    gmail_note,
    seed_done,
    staleness,
    webhook_note,
)
from widgets.alerts import AlertLine, AlertsScreen
from widgets.bounces import BounceFeed
from widgets.footer import FittingFooter
from widgets.intents import (
    ActionRequested,
    AlertAcknowledged,
    CustomerReportRequested,
    CustomerRequested,
    DmarcSourceRequested,
    TlsReportsRequested,
)
from widgets.live import Live
from widgets.reputation import ReputationPanel
from widgets.status import StatusLine
from widgets.warmup import WarmupPanel

if TYPE_CHECKING:
    # The pipeline's side (HTTP, DNS, the scheduler) loads after the first frame, and each
    # screen beside the main one where it is first opened: the first frame waits for none.
    from console.actions import Action, Actions
    from console.analysis.health import Finding
    from console.jobs import Jobs, Pipeline
    from console.model import (
        Alert,
        GmailBoard,
        MessageEvent,
        SeedResult,
        SeedRun,
    )
    from console.updates import AlertsView, Update
    from widgets.detail import EventDetail

W = TypeVar("W", bound=Widget)
log = logging.getLogger(__name__)

#: Below this width or height the main screen drops its header, frames and the columns
#: that matter least, so that all it must keep fits an 80×24 SSH window.
COMPACT_BELOW = (100, 32)

#: The main screen's keys, and the other screens (by class) where each also acts.
MAIN_ONLY: dict[str, tuple[str, ...]] = {
    name: ()
    for name in (
        "alerts", "feed_filter", "feed_kind", "dns", "seeds", "dmarc", "gmail", "content",
        "feed_export", "audit",
    )
} | {"content_now": ("ContentScreen",), "seed_test": ("SeedScreen",)}  # fmt: skip
#: What only the console that owns the state dir can do.
WRITES = frozenset({"refresh", "seed_test", "content_now"})

#: Textual's own keys, the same in every app: the help lists the screen's keys instead.
TEXTUAL_KEYS = frozenset({"command_palette", "focus_next", "focus_previous", "copy_text"})

#: Seconds critical alerts are gathered before one notification announces them all.
ALERT_GATHER = 2.0

READ_ONLY_RELOAD = 5.0  # seconds between re-reads of a state dir another mailops owns
ATTACHED_RELOAD = 2.0  # the same, attached to the service: its data shows within 5 s
#: seconds between re-reads of Mandrill's side of the Gmail board while it is incomplete
GMAIL_RECHECK = 60.0

#: Which statuses feed each panel; a panel is stale when its source is failing or unpolled.


class SourceUpdated(Message):
    """A poll finished (well or badly); carries the pipeline's Update."""

    def __init__(self, update: Update) -> None:
        super().__init__()
        self.update = update


class MailopsApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "mailops"
    ENABLE_COMMAND_PALETTE = True

    #: Most used first: at 80 columns the footer keeps as many as fit, and always ? and q.
    BINDINGS = [
        Binding("a", "alerts", "Alerts", tooltip="Open and past alerts", id="alerts"),
        Binding("slash", "feed_filter", "Filter", tooltip="Filter the bounce feed", id="filter"),
        Binding("k", "feed_kind", "Kind", tooltip="Cycle the feed's kind filter", id="kind"),
        Binding("d", "dns", "DNS", tooltip="DNS and blocklists of the domains and IPs", id="dns"),
        Binding("p", "seeds", "Placement", tooltip="Seed-inbox placement per provider", id="seeds"),
        Binding("m", "dmarc", "DMARC", tooltip="DMARC aggregate reports", id="dmarc"),
        Binding("i", "gmail", "Gmail", tooltip="What Gmail sees (Postmaster Tools)", id="gmail"),
        Binding(
            "o", "content", "Content", tooltip="Content checks (SpamAssassin, lint)", id="content"
        ),
        Binding(
            "e", "feed_export", "Export", tooltip="Export the filtered feed as CSV", id="export"
        ),
        Binding("l", "audit", "Log", tooltip="The log of actions taken", id="audit"),
        Binding(
            "s", "seed_test", "Seed test", tooltip="Send a seed test now (asks first)", id="seed"
        ),
        Binding("r", "refresh", "Refresh", tooltip="Poll every source now", id="refresh"),
        Binding(
            "c",
            "content_now",
            "Check content",
            tooltip="Run every content check now",
            id="content_now",
            show=False,
        ),
        Binding("question_mark", "help", "Help", tooltip="Keys and figures of this screen"),
        Binding("q", "quit", "Quit", tooltip="Leave mailops", id="quit"),
    ]

    def __init__(
        self,
        config: Config,
        pipeline: Pipeline | Callable[[], Pipeline],
        *,
        export_dir: Path,
        wall: Clock = system_clock,
        local_time: Callable[[datetime], datetime] | None = None,
        subtitle: str = "",
        start_jobs: bool = True,
        story_clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self.story_clock = story_clock
        self.config = config
        self._pipeline: Pipeline | None = None
        self._make_pipeline: Callable[[], Pipeline] | None = None
        if callable(pipeline):
            self._make_pipeline = pipeline
        else:
            self._adopt(pipeline)
        self._jobs: Jobs | None = None
        self._actions: Actions | None = None
        self.export_dir = export_dir
        self.wall = wall
        self.local_time = local_time or (lambda dt: dt.astimezone())
        self.sub_title = subtitle or f"v{__version__}"
        self.start_jobs = start_jobs
        self._feed_started = False
        #: when the last webhook batch was taken in, as last read from the state
        self._webhook_at: datetime | None = None
        self._count_abort = threading.Event()  # set: the running feed count is not wanted
        self.last_export: Path | None = None
        self.animation_level = "none"  # redraws cost bandwidth over SSH
        #: what the open screens follow: each subscribes to what it shows when mounted
        self.live = Live.on(self)
        self._layout: tuple[bool, int] | None = None  # (compact, width) the panels have
        self._new_critical: list[Alert] = []  # opened, not announced yet
        self._announce_timer: Timer | None = None
        self._gmail_shown: GmailBoard | None = None  # the Gmail board last shown, and when
        self._gmail_at = 0.0

    # -- composition ------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="banner")
        yield AlertLine(id="alert-line")
        acts = not self.config.ui.read_only
        reputation = ReputationPanel(self.config.thresholds, id="reputation")
        warmup = WarmupPanel(id="warmup")
        feed = BounceFeed(
            local_time=self.local_time, wall=self.story_clock or self.wall, id="bounces"
        )
        reputation.actions_allowed = warmup.actions_allowed = feed.actions_allowed = acts
        yield reputation
        yield warmup
        yield feed
        yield StatusLine(self.wall, story_clock=self.story_clock, id="status")
        yield FittingFooter()

    # -- background work: one path for its failures ----------------------------------------

    def _background(
        self,
        work: Callable[[], Any] | Awaitable[Any],
        *,
        group: str,
        thread: bool = False,
        exclusive: bool = False,
    ) -> Worker[Any]:
        """Every worker the console starts: a failure is logged and said on screen by
        `on_worker_state_changed`, and never ends the console."""
        return self.run_worker(
            work, group=group, thread=thread, exclusive=exclusive, exit_on_error=False
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one handler for failed workers (as Harlequin has): log with the traceback,
        tell the user in a line, keep running."""
        worker = event.worker
        if event.state is not WorkerState.ERROR or worker.error is None:
            return
        err = worker.error
        log.error("background work %s failed", worker.group, exc_info=err)
        where = (
            ""
            if self._pipeline is None or self._pipeline.log_path is None
            else (f"; see {self._pipeline.log_path}")
        )
        self.notify(
            f"{worker.group} failed: {visible(type(err).__name__)}: {visible(str(err))[:200]}"
            f"{where}",
            title="Background work failed",
            severity="error",
            markup=False,
            timeout=20,
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys belong to the screen on view: the main screen's keys do nothing (and are
        not offered) under another screen, and a console that does not own its state dir
        is not offered what it cannot do (poll, send, score)."""
        screen = self.screen
        if action in WRITES and self._pipeline is not None and not self._pipeline.can_act:
            return False
        if action in MAIN_ONLY and self.screen_stack and screen is not self.screen_stack[0]:
            return type(screen).__name__ in MAIN_ONLY[action]
        return True

    @property
    def feed(self) -> BounceFeed:
        return self._main(BounceFeed)

    def _main(self, kind: type[W], selector: str = "") -> W:
        """A widget of the main screen, whatever screen is on top: `App.query_one` asks the
        screen on view, and a timer firing under the detail or help screen found nothing."""
        main = self.screen_stack[0]
        return main.query_one(selector, kind) if selector else main.query_one(kind)

    # -- the pipeline, built after the first frame ------------------------------------

    def _adopt(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        pipeline.publish = self._publish

    @property
    def pipeline(self) -> Pipeline:
        """Built on first use when a factory was given: the HTTP, DNS and scheduler
        libraries behind it take longer to load than the whole screen takes to draw."""
        if self._pipeline is None:
            assert self._make_pipeline is not None
            self._adopt(self._make_pipeline())
        assert self._pipeline is not None
        return self._pipeline

    @property
    def jobs(self) -> Jobs:
        if self._jobs is None:
            from console.jobs import Jobs

            self._jobs = Jobs(self.pipeline, wall=self.wall)
        return self._jobs

    @property
    def actions(self) -> Actions:
        if self._actions is None:
            from console.actions import Actions

            self._actions = Actions(
                self.pipeline, read_only=self.config.ui.read_only, remote=self.pipeline.remote
            )
        return self._actions

    def on_mount(self) -> None:
        # the frame first (layout and titles), then what is stored and the polls
        self._lay_out(self.size)
        self.call_after_refresh(self._start)

    def _start(self) -> None:
        release_collector()  # the first frame is drawn: see console.startup
        self._apply_theme()
        self._paint_stored()
        self._refresh_banner()
        self.set_interval(1.0, self._tick_staleness)
        if self.pipeline.read_only:
            every = ATTACHED_RELOAD if self.pipeline.remote else READ_ONLY_RELOAD
            self.set_interval(every, self._reload_read_only)
            self.refresh_bindings()  # now known: it polls nothing, so offers no refresh
        elif self.start_jobs:
            self.jobs.start()

    # -- the theme: [ui] theme, or the one last picked in the palette -----------------------

    def _apply_theme(self) -> None:
        """The theme picked in the palette last time, unless [ui] theme has changed since
        (then the config is the newer wish); an unknown name is said, not fatal."""
        wanted = self.config.ui.theme
        kept = self.pipeline.ui_choice("theme")
        if kept is not None and kept.get("config", "") == wanted:
            wanted = kept.get("theme", wanted)
        if wanted and wanted != self.theme:
            if wanted in self.available_themes:
                self.theme = wanted
            else:
                self.notify(f"Unknown theme {wanted!r} in [ui] theme", severity="warning",
                            markup=False)  # fmt: skip
        self.theme_changed_signal.subscribe(self, self._theme_picked)

    def _theme_picked(self, theme: Any) -> None:
        if self.pipeline.read_only:
            return
        choice = {"theme": str(theme.name), "config": self.config.ui.theme}
        keep = partial(self.pipeline.keep_ui_choice, "theme", choice)
        self._background(keep, thread=True, group="theme")

    async def _reload_read_only(self) -> None:
        """A read-only instance follows the owner's writes by re-reading the files."""
        p = self.pipeline
        await asyncio.to_thread(p.reload)
        if self._closing_now():
            return  # the console closed while the files were read: nothing left to paint
        self._paint_stored()

    def _closing_now(self) -> bool:
        closing = getattr(self, "_closing", False) or not self.is_running
        return bool(closing) or not self.screen_stack or not self.screen_stack[0].is_attached

    def _refuse_if_read_only(self, what: str) -> bool:
        if not self.pipeline.can_act:
            self.notify(
                f"Read-only (another mailops owns the state): {what} is off",
                severity="warning",
                markup=False,
            )
            return True
        return False

    def on_resize(self, event: events.Resize) -> None:
        self._lay_out(event.size)

    def _lay_out(self, size: Size) -> None:
        """Lay the main screen out for the terminal's size, at every resize and both ways
        (the main screen, even when another is on top: it is what Esc comes back to)."""
        compact = size.height < COMPACT_BELOW[1] or size.width < COMPACT_BELOW[0]
        main = self.screen_stack[0] if self.screen_stack else self.screen
        main.set_class(compact, "compact")
        if self._layout == (compact, size.width):
            return
        self._layout = (compact, size.width)
        try:
            self._main(ReputationPanel).set_compact(compact)
            self._main(BounceFeed).set_layout(compact, size.width)
            self._main(StatusLine).set_compact(compact)
        except NoMatches:  # before the main screen is composed: its mount lays it out
            self._layout = None

    def _refresh_banner(self) -> None:
        """Config and state warnings, and errors no retry can fix, stay in sight."""
        lines = [*self.config.warnings, *self.pipeline.state_warnings()]
        finals = {st.error for st in self.pipeline.statuses.values() if st.ok is False and st.final}
        m = self.config.mandrill
        where = f"the file {m.api_key_file}" if m.api_key_file else f"${m.api_key_env}"
        lines += [f"{e}: check the key in {where}, then restart mailops" for e in sorted(finals)]
        banner = self._main(Static, "#banner")
        banner.update(Text("\n".join(f"⚠ {visible(w)}" for w in lines)))
        banner.set_class(bool(lines), "shown")

    async def on_unmount(self) -> None:
        self._count_abort.set()
        if self._jobs is not None:
            await self._jobs.shutdown()
        if self._pipeline is not None:
            await self._pipeline.client.aclose()

    def _paint_stored(self) -> None:
        """Show the last stored state at once, marked stale, before any poll answers."""
        p = self.pipeline
        view = p.account_view()
        if view is not None:
            self._main(ReputationPanel).show_account(view)
        self._main(ReputationPanel).show_subaccounts(p.subaccount_view())
        self._main(WarmupPanel).show_ips(p.ip_view())
        receipt = p.webhook_receipt()
        self._webhook_at = receipt.at if receipt else None
        rejects = p.rejects_view()
        if rejects is not None:
            self._main(ReputationPanel).show_rejects(rejects)
            self._main(BounceFeed).set_denylist(rejects)
        blocklists = p.blocklist_view()
        if blocklists is not None:
            self._main(WarmupPanel).show_blocklists(blocklists)
        if self._feed_started:
            self.refresh_feed()
        else:
            self._feed_started = True
            self._background(self._load_feed, thread=True, group="feed-load")
        self._show_seed_runs(p.seed_view())
        self._gmail_board()
        self._main(AlertLine).show_unjudged(*p.unjudged())
        self._main(AlertLine).show(p.alerts_view().alerts)
        self._main(StatusLine).show(p.statuses)
        self._refresh_staleness()

    # -- the feed ------------------------------------------------------------------------

    def _load_feed(self) -> None:
        """Read the stored events (a thread: half a million take a second or two), showing
        the newest as soon as they are in, then the rest."""
        shown = [0.0]  # the newest partition is shown at once

        def progress(n: int) -> None:
            if time.monotonic() - shown[0] >= 0.5:  # a repaint every half second, no more
                shown[0] = time.monotonic()
                self.call_from_thread(self.refresh_feed)

        self.pipeline.load_feed(progress)
        # What is alive now lives as long as the console: keep the garbage collector from
        # walking it again on every full collection, which stalls a keystroke.
        gc.freeze()
        self.call_from_thread(self.refresh_feed)
        self.call_from_thread(self._refresh_banner)  # reading may have found damage

    def refresh_feed(self) -> None:
        """Ask the store for the page the feed's filter selects, and show it."""
        self._count_abort.set()  # a count for the filter before is of no use now
        feed = self.feed
        text, kind = feed.text_filter, feed.kind_filter
        page = self.pipeline.feed_page(text, kind, self.config.ui.feed_limit)
        feed.show_page(page)
        if page.matched is None:  # the rows first; the exact count follows from a thread
            abort = self._count_abort = threading.Event()
            self._background(
                partial(self._count_feed, feed, text, kind, abort), thread=True, group="feed-count"
            )

    def _count_feed(
        self, feed: BounceFeed, text: str, kind: str | None, abort: threading.Event
    ) -> None:
        """In a thread: counting a one-letter filter over half a million events takes a
        few hundred ms, which on the UI thread would hold up the next keystroke."""
        matched = self.pipeline.feed_count(text, kind, abort.is_set)
        if matched is not None and not abort.is_set():
            self.call_from_thread(feed.show_count, text, kind, matched)

    @on(BounceFeed.FilterChanged)
    def _feed_filter(self, message: BounceFeed.FilterChanged) -> None:
        self.refresh_feed()

    # -- updates from the jobs ------------------------------------------------------------

    def _publish(self, update: Update) -> None:
        self.post_message(SourceUpdated(update))

    def _refresh_open_customer(self) -> None:
        """A customer screen on view follows the polls: the customer as just polled (a
        pause shows at once), its events and its alerts, all read at the same moment."""
        from widgets.customer import CustomerScreen

        for screen in self.screen_stack:
            if isinstance(screen, CustomerScreen):
                sid = screen.row.id
                row = next((r for r in self.pipeline.subaccount_view() if r.id == sid), None)
                if row is not None:
                    screen.show(row, *self._customer_state(sid))

    @on(SourceUpdated)
    def _apply(self, message: SourceUpdated) -> None:
        u = message.update.result
        if u.account is not None:
            self._main(ReputationPanel).show_account(u.account)
        if u.subaccounts is not None:
            self._main(ReputationPanel).show_subaccounts(u.subaccounts)
        if u.ips is not None:
            self._main(WarmupPanel).show_ips(u.ips)
        if u.rejects is not None:
            self._main(ReputationPanel).show_rejects(u.rejects)
            self._main(BounceFeed).set_denylist(u.rejects)
        if u.new_events:
            self.refresh_feed()
        if u.subaccounts is not None or u.new_events or u.alerts is not None:
            self._refresh_open_customer()
        if u.blocklists is not None:
            self._main(WarmupPanel).show_blocklists(u.blocklists)
        self._gmail_update(message.update)
        if u.alerts is not None:
            self._show_alerts(u.alerts)
        if u.dmarc is not None and u.dmarc.rejected:
            self.notify(
                f"{len(u.dmarc.rejected)} DMARC report(s) refused: {u.dmarc.rejected[0]}",
                severity="warning",
                markup=False,
            )
        self._seed_update(message.update)
        self.live.updates.publish(message.update)  # the open screens take what they show
        self._main(StatusLine).show(self.pipeline.statuses)
        self._main(AlertLine).show_unjudged(*self.pipeline.unjudged())
        self._refresh_staleness()
        if message.update.status.final or "shown" in self._main(Static, "#banner").classes:
            self._refresh_banner()

    def _seed_update(self, update: Update) -> None:
        """A seed test's progress on the status line, and a line when it ends."""
        u = update.result
        if u.seed_progress is not None:
            self._show_seed_progress()
        if u.seed_runs is not None:
            self._show_seed_progress()
            self._show_seed_runs(u.seed_runs)
            done = seed_done(u.seed_runs)
            if done is not None:
                text, bad = done
                severity: SeverityLevel = "warning" if bad else "information"
                self.notify(text, severity=severity, markup=False, timeout=10)
        elif update.source == "seeds" and update.status.ok is False:
            self._show_seed_progress()
            self.notify(f"Seed test failed: {update.status.error}", severity="error", markup=False)

    def _tick_staleness(self) -> None:
        """The once-a-second ages. A tick can land while the app is closing and the main
        screen's widgets (or the screen itself) are already gone: nothing to age then, and
        no reason to crash."""
        if self._closing_now():
            return
        try:
            self._refresh_staleness()
        except NoMatches:
            if not self._closing_now():
                raise

    def _refresh_staleness(self) -> None:
        p = self.pipeline
        self.feed.set_webhook(webhook_note(self._webhook_at, self.wall()))
        notes = staleness(p.statuses, self.wall(), p.read_only)
        self._main(ReputationPanel).set_stale(notes["reputation"])
        self._main(WarmupPanel).set_stale(notes["warmup"])
        self.feed.set_stale(notes["feed"])
        self.live.stale.publish(notes)

    # -- user intents -----------------------------------------------------------------

    def action_refresh(self) -> None:
        if self._refuse_if_read_only("polling"):
            return
        if self.pipeline.remote is not None:
            self._background(self._ask_service({"op": "poll"}), group="remote")
            return
        if self.jobs.running:
            self.jobs.run_now()
            self.notify("Polling every source now")

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Refresh now", "Poll every source now", self.action_refresh)
        yield SystemCommand("Filter the bounce feed", "Type to filter", self.action_feed_filter)
        yield SystemCommand("Cycle the feed's kind filter", "hard, soft, …", self.action_feed_kind)
        yield SystemCommand("Export the feed as CSV", "The filtered rows", self.action_feed_export)
        yield SystemCommand("DNS & blocklists", "SPF, DKIM, DMARC, rDNS, listings", self.action_dns)
        yield SystemCommand("Alerts", "Open and resolved alerts", self.action_alerts)
        yield SystemCommand("DMARC reports", "Who sends as our domains", self.action_dmarc)
        yield SystemCommand("Content checks", "SpamAssassin scores and lint", self.action_content)
        yield SystemCommand("Run content checks now", "Score every check", self.action_content_now)
        yield SystemCommand("Action log", "Actions taken or refused", self.action_audit)
        yield SystemCommand("Seed placement", "Where seed messages landed", self.action_seeds)
        yield SystemCommand("Run a seed test now", "Sends test messages", self.action_seed_test)
        yield from self._target_commands()

    def _target_commands(self) -> Iterator[SystemCommand]:
        """A command per thing to act on: open or pause a customer by name, start or cancel
        a warm-up, remove a recipient from the denylist, acknowledge an alert. Each asks
        first, as its key does; a console that cannot act lists only what it can open."""
        p = self._pipeline
        if p is None:
            return
        acts = not self.config.ui.read_only
        yield from self._customer_commands(p, acts)
        if not acts:
            return
        yield from self._warmup_commands(p)
        yield from self._denylist_commands(p)
        yield from self._acknowledge_commands(p)

    def _customer_commands(self, p: Pipeline, acts: bool) -> Iterator[SystemCommand]:
        """Open each customer; pause or resume it too when the console can act."""
        for row in p.subaccount_view():
            name = escape(visible(row.name or row.id))  # palette text is markup
            yield SystemCommand(
                f"Open customer {name}",
                escape(f"{visible(row.id)} · {visible(row.status)}"),
                partial(self.post_message, CustomerRequested(row.id)),
            )  # fmt: skip
            if acts:
                paused = row.status == "paused"
                kind: ActionKind = "subaccount.resume" if paused else "subaccount.pause"
                yield SystemCommand(
                    f"{'Resume' if paused else 'Pause'} customer {name}", "Asks first",
                    partial(self.post_message, ActionRequested(kind, row.id)),
                )  # fmt: skip

    def _warmup_commands(self, p: Pipeline) -> Iterator[SystemCommand]:
        """Start or cancel the warm-up of each dedicated IP: shared ones have none."""
        for ip in p.ip_view().rows:
            if ip.dedicated:
                ip_kind: ActionKind = "ip.cancel_warmup" if ip.warming_up else "ip.start_warmup"
                verb = "Cancel" if ip.warming_up else "Start"
                yield SystemCommand(
                    f"{verb} warm-up of {ip.ip}", "Asks first",
                    partial(self.post_message, ActionRequested(ip_kind, ip.ip)),
                )  # fmt: skip

    def _denylist_commands(self, p: Pipeline) -> Iterator[SystemCommand]:
        """Remove each recipient on the denylist (none until the rejects are read)."""
        for r in p.rejects_view() or ():
            yield SystemCommand(
                f"Remove {escape(visible(r.email))} from the denylist",
                f"{escape(visible(r.reason))} · asks first",
                partial(self.post_message,
                        ActionRequested("reject.delete", r.email, r.subaccount or None)),
            )  # fmt: skip

    def _acknowledge_commands(self, p: Pipeline) -> Iterator[SystemCommand]:
        """Acknowledge each open alert nobody has acknowledged yet."""
        for a in p.alerts_view().open:
            if a.acked_at is None:
                yield SystemCommand(
                    f"Acknowledge: {escape(visible(a.message)[:80])}", "With a note",
                    partial(self._ask_acknowledge, a),
                )  # fmt: skip

    def _ask_acknowledge(self, alert: Alert) -> None:
        from widgets.alerts import AckScreen

        def done(note: str | None) -> None:
            if note is not None:
                self.post_message(AlertAcknowledged(alert.id, note))

        self.push_screen(AckScreen(alert), done)

    def action_dns(self) -> None:
        """Open the DNS & blocklists screen on what is stored, kept live while it is open."""
        from widgets.dns import DnsScreen

        p = self.pipeline
        screen = DnsScreen(self.local_time, self.live)
        screen.show_dns(p.dns_view() or ())
        blocklists = p.blocklist_view()
        if blocklists is not None:
            screen.show_blocklists(blocklists)
        domains = p.mandrill_domains_view()
        if domains is not None:
            screen.show_mandrill(domains)
        self.push_screen(screen)
        self._refresh_staleness()

    # -- alerts -----------------------------------------------------------------------

    def _show_alerts(self, view: AlertsView) -> None:
        self._main(AlertLine).show(view.alerts)
        self.live.alerts.publish(view)
        critical = [a for a in view.opened if a.severity == "critical"]
        if critical:  # gathered for a moment: the sources answer one by one at start-up
            self._new_critical.extend(critical)
            if self._announce_timer is None:
                self._announce_timer = self.set_timer(ALERT_GATHER, self._announce_alerts)

    def _announce_alerts(self) -> None:
        """One notification (and one bell) for the critical alerts opened together."""
        self._announce_timer = None
        new, self._new_critical = self._new_critical, []
        if not new:
            return
        if len(new) == 1:
            self.notify(new[0].message, title="New critical alert", severity="error", markup=False)
        else:
            self.notify(
                f"{len(new)} new critical alerts — a to see them",
                title="New critical alerts",
                severity="error",
                markup=False,
            )
        if self.config.alerts.bell:
            self.bell()

    def action_alerts(self) -> None:
        screen = AlertsScreen(self.local_time, self.pipeline.clock, self.live)
        screen.show(self.pipeline.alerts_view().alerts)
        self.push_screen(screen)

    async def _ask_service(self, request: dict[str, Any]) -> None:
        """Ask the service this console is attached to; say its answer, then re-read the
        state so what it did shows now, not at the next re-read."""
        from console.sources.base import SourceError

        remote = self.pipeline.remote
        assert remote is not None
        try:
            answer = await remote.call(request)
        except SourceError as exc:
            self.notify(exc.title, severity="error", markup=False)
            return
        if answer.get("ok"):
            self.notify(f"The service: {answer.get('result', 'done')}", markup=False)
        else:
            self.notify(f"The service refused: {answer.get('error')}", severity="error",
                        markup=False)  # fmt: skip
        await self._reload_read_only()
        if not self._closing_now():
            self.live.audit.publish(self.pipeline.audit())
            self._show_alerts(self.pipeline.alerts_view())

    @on(AlertAcknowledged)
    def _acknowledge(self, message: AlertAcknowledged) -> None:
        if self._refuse_if_read_only("acknowledging"):
            return
        if self.pipeline.remote is not None:
            request = {"op": "ack", "alert_id": message.alert_id, "note": message.note}
            self._background(self._ask_service(request), group="remote")
            return
        view = self.pipeline.acknowledge(message.alert_id, message.note)
        if view is None:
            self.notify("That alert has resolved meanwhile", markup=False)
            view = self.pipeline.alerts_view()
        else:
            self.notify("Alert acknowledged", markup=False)
            acked = next((a for a in view.alerts if a.id == message.alert_id), None)
            what = acked.subject if acked else message.alert_id
            self._background(
                self.actions.note("alert.acknowledge", what, True, message.note or "(no note)"),
                group="actions",
            )
        self._show_alerts(view)

    # -- content checks ---------------------------------------------------------------

    def action_content(self) -> None:
        from widgets.content import ContentScreen

        screen = ContentScreen(self.local_time, self.live)
        view = self.pipeline.content_view()
        if view is not None:
            screen.show(view.results, view.history)
        self.push_screen(screen)
        self._refresh_staleness()

    def action_content_now(self) -> None:
        if self._refuse_if_read_only("scoring content"):
            return
        if "content" not in self.pipeline.sources:
            self.notify(
                "No content checks configured: add [[content_checks]] to the config",
                severity="warning",
                markup=False,
            )
            return
        if self.pipeline.remote is not None:
            self._background(self._ask_service({"op": "poll", "source": "content"}),
                             group="remote")  # fmt: skip
            return
        self.notify("Scoring every content check now", markup=False)
        if not self.jobs.run_source_now("content"):  # no scheduler (tests, read-only)
            self._background(self.pipeline.run("content"), group="content", exclusive=True)

    # -- DMARC ------------------------------------------------------------------------

    def action_dmarc(self) -> None:
        from widgets.dmarc import DmarcScreen

        view = self.pipeline.dmarc_view()
        sources = dmarc_sources(self.config.dmarc)
        screen = DmarcScreen(self.local_time, self.live, sources)
        screen.show(view.windows, dmarc_note(view, sources))
        self.push_screen(screen)

    @on(DmarcSourceRequested)
    def _dmarc_source(self, message: DmarcSourceRequested) -> None:
        from widgets.dmarc import DmarcSourceScreen

        m = message
        records = self.pipeline.dmarc_source_records(m.domain, m.ip, m.days)
        self.push_screen(DmarcSourceScreen(m.domain, m.ip, records, self.local_time, m.days))

    @on(TlsReportsRequested)
    def _tls_reports(self, message: TlsReportsRequested) -> None:
        from widgets.tlsrpt import TlsScreen

        view = self.pipeline.tls_view()
        self.push_screen(TlsScreen(view.windows, message.days, self.live))

    # -- Gmail ------------------------------------------------------------------------

    def action_gmail(self) -> None:
        from widgets.gmail import GmailScreen

        pm = self.config.postmaster
        screen = GmailScreen(self._gmail_note, self.live, pm.spam_warning, pm.spam_critical)
        screen.show(self._gmail_board())
        self.push_screen(screen)

    def _gmail_note(self) -> str:
        configured = "postmaster" in self.pipeline.sources
        return gmail_note(self.pipeline.statuses.get("postmaster"), self.wall(), configured)

    def _gmail_board(self, polled: GmailBoard | None = None) -> GmailBoard | None:
        """Show the Gmail line from `polled` (what a Postmaster poll just built), or read
        the board afresh."""
        board = polled
        if board is None and "postmaster" in self.pipeline.sources:
            board = self.pipeline.gmail_board()
        self._gmail_shown = board
        self._gmail_at = time.monotonic()
        pm = self.config.postmaster
        wide, loud = gmail_main_line(board, False, pm.spam_warning, pm.spam_critical)
        compact, _ = gmail_main_line(board, True, pm.spam_warning, pm.spam_critical)
        self._main(ReputationPanel).show_gmail(wide, compact, loud)
        if self.screen_stack:
            self.screen_stack[0].set_class(bool(wide), "with-gmail")
        return board

    def _gmail_update(self, update: Update) -> None:
        """A poll of Gmail, or a read of messages that may complete Mandrill's side."""
        if update.result.gmail is not None:
            self._gmail_board(update.result.gmail)
        elif update.source == "messages" and self._gmail_wants_mandrill():
            self._gmail_board()

    def _gmail_wants_mandrill(self) -> bool:
        """Whether a read of messages may complete the Gmail board: a domain's latest
        Gmail day has no whole Mandrill day beside it yet."""
        from console.analysis.gmail import latest_of

        board = self._gmail_shown
        if board is None or time.monotonic() - self._gmail_at < GMAIL_RECHECK:
            return False
        for row in board.domains:
            day = latest_of(row.days)
            m = row.mandrill.get(day.day) if day else None
            if day is not None and (m is None or not m.whole):
                return True
        return False

    # -- customers --------------------------------------------------------------------

    @on(CustomerRequested)
    def _customer(self, message: CustomerRequested) -> None:
        from console.analysis.explain import explain
        from widgets.customer import CustomerScreen

        sid = message.subaccount
        p = self.pipeline
        row = next((r for r in p.subaccount_view() if r.id == sid), None)
        if row is None:
            self.notify(f"No data for customer {sid} yet", markup=False)
            return
        events, alerts, matched = self._customer_state(sid)
        seeds: list[SeedResult] = []
        runs = p.seed_view()
        if runs and self.config.seed_test.subaccount == sid:
            seeds = list(runs[-1].results)
        screen = CustomerScreen(row, events, alerts, seeds, explain, self.local_time, matched)
        screen.actions_allowed = not self.config.ui.read_only
        self.push_screen(screen)

    def _customer_state(self, sid: str) -> tuple[list[MessageEvent], list[Alert], int | None]:
        """A customer's feed events of the last 7 days (the newest the screen holds, and how
        many match in all) and open alerts: read together, so the screen's figures agree."""
        p = self.pipeline
        week = p.clock() - timedelta(days=7)  # the window of the row and of the report
        limit = self.config.ui.feed_limit
        page = p.feed_page("", None, limit, subaccount=sid, since=week, count=True)
        alerts = [
            a
            for a in p.alerts_view().open
            if a.subject == f"customer {sid}" or a.subject.startswith(f"customer {sid} (")
        ]
        return list(page.events), alerts, page.matched

    @on(CustomerReportRequested)
    def _customer_report(self, message: CustomerReportRequested) -> None:
        from console.analysis.explain import explain
        from console.export import export_customer_report
        from widgets.customer import CustomerScreen

        screen = self.screen
        if not isinstance(screen, CustomerScreen):
            return
        row, p, week = screen.row, self.pipeline, self.pipeline.clock() - timedelta(days=7)

        def write() -> tuple[Path, str]:
            csv_path, txt_path = export_customer_report(
                row,
                p.feed_events(subaccount=row.id, since=week),
                explain,
                self.export_dir,
                self.wall(),
                self.config.thresholds,
            )
            return txt_path, f"Wrote {txt_path} and {csv_path}"

        self._export_in_thread(write)

    # -- actions ----------------------------------------------------------------------

    @on(ActionRequested)
    def _action_requested(self, message: ActionRequested) -> None:
        if self._refuse_if_read_only("every action"):
            return
        from console.actions import Action
        from widgets.confirm import ConfirmScreen

        action = Action(message.kind, message.target, message.subaccount)
        if self.actions.read_only:
            self.notify(
                "Read-only: actions are off (started with --read-only or [ui] read_only)",
                severity="warning",
                markup=False,
            )
            self._background(self._perform(action), group="actions")
            return
        entry = None
        if action.kind == "reject.delete":  # the entry as listed, in the confirmation
            listed = self.pipeline.rejects_view() or ()
            entry = next(
                (
                    r
                    for r in listed
                    if r.email.lower() == action.target.lower()
                    and (r.subaccount or None) == action.subaccount
                ),
                None,
            )
        question, consequence = action.describe(entry)

        def answered(yes: bool | None) -> None:
            if yes:
                self._background(self._perform(action), group="actions")

        self.push_screen(ConfirmScreen(question, consequence, yes="Do it"), answered)

    async def _perform(self, action: Action) -> None:
        entry, _ = await self.actions.perform(action)  # the re-poll has published
        if self.pipeline.remote is not None:
            await self._reload_read_only()  # what the service did, shown now
        if not self.actions.read_only:
            self.notify(
                f"{action.kind} {action.target}: {entry.result}",
                severity="information" if entry.ok else "error",
                markup=False,
                timeout=10,
            )
        self.live.audit.publish(self.pipeline.audit())

    def action_audit(self) -> None:
        from widgets.audit import AuditScreen

        screen = AuditScreen(self.local_time, self.actions.read_only, self.live)
        screen.show(self.pipeline.audit())
        self.push_screen(screen)

    # -- seed placement ---------------------------------------------------------------

    def _seed_findings(self, run: SeedRun | None) -> list[Finding]:
        return seed_findings(run, self.pipeline.clock(), self.config.alerts.seed_inbox_min)

    def _show_seed_runs(self, runs: Sequence[SeedRun]) -> None:
        findings = self._seed_findings(runs[-1] if runs else None)
        ip_notes = [f.text for f in findings if f.topic == "seed-spam"]
        self._main(WarmupPanel).show_seed_notes(ip_notes)

    def _show_seed_progress(self) -> None:
        p = self.pipeline.seed_progress
        status = self._main(StatusLine)
        status.progress = (
            f"seed test {p.found}/{p.total} found · {age_text(p.waited_s)}" if p else ""
        )
        status.refresh_text()

    def action_seeds(self) -> None:
        """Open the seed placement screen on the stored runs, kept live while it is open."""
        from widgets.seeds import SeedScreen

        screen = SeedScreen(
            self.local_time, len(self.pipeline.seeds), self.live, self._seed_findings
        )
        runs = self.pipeline.seed_view()
        screen.show_runs(runs, self._seed_findings(runs[-1] if runs else None))
        screen.show_progress(self.pipeline.seed_progress)
        self.push_screen(screen)
        self._refresh_staleness()

    def action_seed_test(self) -> None:
        """Ask first: a seed test sends real messages through Mandrill."""
        from widgets.confirm import ConfirmScreen

        if self._refuse_if_read_only("sending a seed test"):
            return
        seeds = self.pipeline.seeds
        if not seeds:
            self.notify(
                "No seed mailboxes configured: add [[seeds]] tables to the config",
                severity="warning",
                markup=False,
            )
            return
        if self.jobs.seed_busy:
            self.notify("A seed test is already running", markup=False)
            return
        st = self.config.seed_test
        names = ", ".join(s.name for s in seeds[:6]) + (" …" if len(seeds) > 6 else "")
        what = f"template {st.template}" if st.template else f"subject {st.subject!r}"
        body = (
            f"{len(seeds)} message{'s' if len(seeds) != 1 else ''} will be sent through Mandrill "
            f"from {st.from_email or '(no from address)'}, one to each seed mailbox "
            f"({names}), with {what}.\nPlacement is checked for up to "
            f"{st.wait_minutes:g} minutes."
        )

        def answered(yes: bool | None) -> None:
            if yes and self.pipeline.remote is not None:
                self._background(self._ask_service({"op": "seed_test"}), group="remote")
            elif yes and self.jobs.start_seed_test():
                self.notify(f"Seed test started: {len(seeds)} messages sent", markup=False)
                note = self.actions.note("seed.test", names, True, f"{len(seeds)} sent")
                self._background(note, group="actions")

        self.push_screen(
            ConfirmScreen(f"Send {len(seeds)} seed test messages now?", body, yes="Send"),
            answered,
        )

    def action_feed_filter(self) -> None:
        self.feed.action_filter()

    def action_feed_kind(self) -> None:
        self.feed.action_cycle_kind()

    def action_feed_export(self) -> None:
        self.feed.action_export()

    def action_help(self) -> None:
        """The help of the screen on view: its keys as they stand (what is not offered
        there is not listed), what it shows, and where each of its figures comes from."""
        from widgets.help import HelpScreen

        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        topic = "main" if screen is self.screen_stack[0] else type(screen).__name__
        self.push_screen(HelpScreen(topic, self._screen_keys(screen)))

    def _screen_keys(self, screen: Screen[Any]) -> list[tuple[str, str]]:
        """(key, what it does) of the bindings that act on `screen` now, Textual's own
        cursor and editing keys left out (they are the same everywhere)."""
        out: dict[str, tuple[str, str]] = {}
        for node, binding, enabled, tooltip in screen.active_bindings.values():
            textual_own = type(node).__module__.startswith("textual.")  # scroll, cursor keys
            if not enabled or not binding.description or textual_own:
                continue
            action = binding.action.rsplit(".", 1)[-1]
            if action in TEXTUAL_KEYS or (action == "quit" and binding.key != "q"):
                continue  # ctrl+p is listed by the help itself, ctrl+q beside q
            what = tooltip or binding.tooltip or binding.description
            out.setdefault(binding.action, (self.get_key_display(binding), what))
        return list(out.values())

    @on(BounceFeed.DetailRequested)
    def _detail(self, message: BounceFeed.DetailRequested) -> None:
        from widgets.detail import EventDetail

        screen = EventDetail(message.event, self.local_time)
        self.push_screen(screen)
        screen.show_note("stored copy · asking Mandrill for the latest (messages/info)…")
        self._background(self._refresh_detail(screen), exclusive=True, group="detail")

    async def _refresh_detail(self, screen: EventDetail) -> None:
        """messages/info holds the newest smtp_events; the stored copy stays if it fails."""
        from console.sources.base import SourceError

        old = screen.event
        try:
            fresh = await self.pipeline.client.message_info(old.message_id)
        except SourceError as exc:
            if screen.is_attached:
                screen.show_note(f"stored copy · messages/info failed: {exc.title}")
            return
        if not screen.is_attached:
            return
        if fresh is None:
            screen.show_note("stored copy · messages/info returned nothing usable")
        elif fresh.state != old.state:
            # the feed row is this (message, state); show it, and say the message moved on
            screen.show_note(f"stored copy · the message is now {fresh.state!r} in Mandrill")
        else:
            now = (self.story_clock or self.wall)()  # the clock the event's times are on
            screen.show_fresh(fresh, f"as Mandrill reports it now ({now:%H:%M:%S} UTC)")

    @on(BounceFeed.ExportRequested)
    def _export(self, message: BounceFeed.ExportRequested) -> None:
        from console.export import export_events_csv

        p, text, kind = self.pipeline, message.text, message.kind

        def write() -> tuple[Path, str]:
            written = 0

            def counted(events: Iterable[MessageEvent]) -> Iterator[MessageEvent]:
                nonlocal written
                for e in events:
                    written += 1
                    yield e

            path = export_events_csv(
                counted(p.feed_events(text, kind)), self.export_dir, self.wall()
            )
            return path, f"Exported {written:,} events to {path}"

        self._export_in_thread(write)

    def _export_in_thread(self, write: Callable[[], tuple[Path, str]]) -> None:
        """Exports read every matching stored event: in a thread, so the screen stays live."""
        self.notify("Exporting…", timeout=3)

        def run() -> None:
            try:
                path, note = write()
            except OSError as exc:
                why = f"Export failed: {exc.strerror or exc}"
                self.call_from_thread(self.notify, why, severity="error", markup=False)
                return
            self.call_from_thread(self._exported, path, note)

        self._background(run, thread=True, group="export")

    def _exported(self, path: Path, note: str) -> None:
        """Say where, in full (and on the clipboard, where the terminal allows), and keep
        it in the action log: a toast is gone in seconds."""
        self.last_export = path
        self.copy_to_clipboard(str(path))
        self.notify(f"{note}\n(path copied to the clipboard; l shows it again)", timeout=20,
                    markup=False)  # fmt: skip
        if self.pipeline.can_act:
            self._background(self.actions.note("export", str(path), True, note), group="actions")


def build_app(
    config: Config,
    pipeline: Pipeline | Callable[[], Pipeline],
    *,
    wall: Clock = system_clock,
    subtitle: str = "",
    start_jobs: bool = True,
    local_time: Callable[[datetime], datetime] | None = None,
    story_clock: Clock | None = None,
) -> MailopsApp:
    """The one factory the CLI, the demo and the tests use. `story_clock`: the time the
    data is at when it is not the wall clock's (the demo's scenario runs 60× faster): the
    status line shows it, and the feed's "today" is its day."""
    state_dir = config.state_path() if callable(pipeline) else pipeline.state_dir
    export_dir = (
        Path(config.storage.export_dir).expanduser()
        if config.storage.export_dir
        else state_dir / "exports"
    )
    return MailopsApp(
        config,
        pipeline,
        export_dir=export_dir,
        wall=wall,
        subtitle=subtitle,
        start_jobs=start_jobs,
        local_time=local_time,
        story_clock=story_clock,
    )


__all__ = ["MailopsApp", "SourceUpdated", "build_app"]
