"""Polling: each Mandrill data set is a job that runs source → store → analysis → publish.

`Pipeline` does one poll of one data set and never raises; `Jobs` schedules
the pipeline on the app's event loop with APScheduler and backs off after
failures. Neither knows about widgets: results leave through `publish`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import tzlocal
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from console import registry
from console.analysis.alerts import AlertInputs, ContentView, acknowledge, reconcile
from console.analysis.alerts import evaluate as evaluate_alerts
from console.analysis.dmarc import WINDOWS as DMARC_WINDOWS
from console.analysis.dmarc import in_window, source_records
from console.analysis.dmarc import summarize as summarize_dmarc
from console.analysis.gmail import gmail_board, latest
from console.analysis.health import Signal
from console.analysis.ips import ip_view
from console.analysis.reputation import reputation_word
from console.analysis.seeds import STRIP_RUNS
from console.analysis.subaccounts import subaccount_rows
from console.analysis.tlsrpt import TlsDomainRow
from console.analysis.tlsrpt import summarize as summarize_tls
from console.config import Config, parse_schedule
from console.model import (
    Account,
    AccountView,
    Alert,
    AuditEntry,
    BlocklistView,
    ContentResult,
    DmarcRecord,
    DmarcReport,
    DomainDns,
    FeedPage,
    GmailBoard,
    GmailView,
    Ip,
    IpView,
    MessageEvent,
    ReadSpan,
    Reject,
    SeedProgress,
    SeedRun,
    SenderDomain,
    SourceStatus,
    Subaccount,
    SubaccountRow,
    WebhookReceipt,
)
from console.polls import POLLS
from console.registry import Needs, SourceName
from console.secret import Secret
from console.seeding import Seed
from console.sources.base import SourceError
from console.sources.control import ControlClient
from console.sources.dns import DnsClient
from console.sources.mandrill import MandrillClient
from console.sources.notify import payload as alert_payload
from console.sources.notify import post_webhook, run_command
from console.sources.postmaster import PostmasterClient
from console.sources.spamd import Scorer, Spamd
from console.store import Store
from console.timeutil import Clock, system_clock
from console.updates import AlertsView, DmarcView, Publish, TlsView, Update

log = logging.getLogger(__name__)


def log_task_failure(task: asyncio.Task[Any]) -> None:
    """A background task that died is logged with its traceback, never lost silently (the
    console's workers have their own handler, which also says it on screen)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s failed", task.get_name(), exc_info=task.exception())


#: The sources, as the registry declares them (console/registry.py).
SOURCES = registry.interval_sources()
#: The data sets that read messages/search, whose completeness `check` reports.
MESSAGE_READS = registry.message_reads()
SEED_FIRST_DELAY = 5.0  # seconds after start, when [seed_test] run_at_start is set


class Pipeline:
    """One poll of one data set at a time; the same code serves the console and `check`."""

    def __init__(
        self,
        client: MandrillClient,
        store: Store,
        config: Config,
        *,
        clock: Clock = system_clock,
        wall: Clock = system_clock,
        publish: Publish | None = None,
        backfill_hours: float | None = None,
        dns: DnsClient | None = None,
        dqs_key: Secret | None = None,
        seeds: Sequence[Seed] = (),
        scorer: Scorer | None = None,
        postmaster: PostmasterClient | None = None,
    ) -> None:
        self.client = client
        self.seeds = tuple(seeds)
        #: the one "a seed test is under way" flag (the scheduler, `s` and the screens ask
        #: it); set by `reserve_seed_test` before the test's task starts, or by the test
        self.seed_running = False
        self.seed_reserved = False
        #: how far the seed test under way is (None: none is)
        self.seed_progress: SeedProgress | None = None
        self._notifying: set[asyncio.Task[None]] = set()
        self.dmarc_password: Secret | None = None
        #: the `mailops serve` that owns the state dir, when this console is attached to it:
        #: polls, actions and acknowledgements are asked of it
        self.remote: ControlClient | None = None
        self._alerts_lock = threading.Lock()
        #: Off for `mailops check`: a fresh store each run would re-announce every alert.
        self.notifications = True
        #: where the log is written, named in errors that say "see the log" (None: no log)
        self.log_path: Path | None = None
        self.dns = dns
        self.dqs_key = dqs_key
        self.store = store
        self.config = config
        self.clock = clock
        self.wall = wall
        self.publish = publish or (lambda u: None)
        self.backfill_hours = backfill_hours or config.mandrill.backfill_hours
        have: set[Needs] = {"dns"} if dns is not None else set()
        if config.content_checks:
            have.add("content_checks")
        #: Gmail Postmaster Tools, when [postmaster] names credentials
        self.postmaster: PostmasterClient | None = postmaster
        if postmaster is not None:
            have.add("postmaster")
        #: the interval sources this pipeline runs, in the registry's order
        self.sources: tuple[SourceName, ...] = registry.enabled(have)
        #: scores messages: spamd, or the demo's recorded scores
        self.scorer: Scorer = scorer or Spamd(
            config.spamd.host, config.spamd.port, config.spamd.timeout
        )
        names = (*self.sources, "seeds") if self.seeds else self.sources
        self.statuses: dict[str, SourceStatus] = _restored_statuses(store, names)
        self.pruned_at: datetime | None = None

    async def aclose(self) -> None:
        """Close the HTTP clients the sources hold (Mandrill's, and Postmaster Tools')."""
        await self.client.aclose()
        if self.postmaster is not None:
            await self.postmaster.aclose()

    async def db(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Store work runs off the event loop so a large write never freezes the screen."""
        return await asyncio.to_thread(fn, *args)

    async def run(self, name: str) -> Update:
        """Poll one data set; failures become a status, never an exception."""
        started = self.wall()
        prev = self.statuses.get(name) or SourceStatus(name)
        error, final = "", False
        deadline = self.poll_deadline(name)
        try:
            async with asyncio.timeout(deadline):
                poll = await POLLS[name](self)
            ok = SourceStatus(
                name,
                ok=True,
                last_ok_at=started,
                last_attempt_at=started,
                partial=poll.partial,
            )
            if ok.partial:
                log.warning("%s poll partial: %s", name, ok.partial)
            await self.db(self._save_status, ok)
        except TimeoutError:
            error = f"{name} poll took longer than its {deadline:g} s deadline; stopped"
            log.warning("%s", error)
        except SourceError as exc:
            error, final = exc.title, exc.final
            log.warning("%s poll failed: %s", name, exc.title)
        except Exception as exc:  # a bug or a full disk must not end polling, nor hide
            log.exception("%s poll crashed", name)
            error = self.crash_text(name, exc)
        if error:
            status = replace(
                prev,
                ok=False,
                last_attempt_at=started,
                error=error,
                final=final,
                failures=prev.failures + 1,
            )
            update = Update(name, status)
        else:
            status = ok
            update = Update(name, status, poll)
        self.statuses[name] = status
        update = await self.judge(update)
        self.publish(update)
        return update

    async def judge(self, update: Update) -> Update:
        """Run the alert rules over the state after a change; the update carries what
        opened and resolved, and a new critical alert is notified."""
        try:
            alerts = await self.db(self.refresh_alerts)
        except Exception:  # alerts must never stop polling; the poll's own result still shows
            log.exception("alert evaluation failed")
            return update
        if alerts is None:
            return update
        critical = [a for a in alerts.opened if a.severity == "critical"]
        a = self.config.alerts
        if critical and self.notifications and (a.webhook_url or a.command):
            task = asyncio.get_running_loop().create_task(self.notify(critical))
            self._notifying.add(task)
            task.add_done_callback(self._notifying.discard)
            task.add_done_callback(log_task_failure)
        return replace(update, result=replace(update.result, alerts=alerts))

    def crash_text(self, name: str, exc: Exception) -> str:
        """The status line for a poll that failed with an exception no source raised: what
        happened in words when it is known (the disk is full), where the details are if
        anywhere (`check` writes no log)."""
        where = f"; see {self.log_path}" if self.log_path else ""
        if isinstance(exc, OSError):
            what = exc.strerror or type(exc).__name__
            if exc.filename:
                what += f": {exc.filename}"
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                return f"disk full: {name} could not be stored ({what})"
            return f"{name} could not be stored ({what}){where}"
        if isinstance(exc, MemoryError):
            return f"out of memory during the {name} poll{where}"
        return f"{name} poll failed unexpectedly ({type(exc).__name__}){where}"

    def reserve_seed_test(self) -> bool:
        """Mark a seed test as under way now, for a run about to start; False if one is."""
        if self.seed_running:
            return False
        self.seed_running = self.seed_reserved = True
        return True

    def poll_deadline(self, name: str) -> float:
        """Seconds one poll of `name` may take in all, so a stuck source never holds the
        scheduler or `check`: `[mandrill.poll] deadline`, and a seed test its wait on top."""
        base = self.config.mandrill.poll.deadline
        if name == "seeds":
            return base + self.config.seed_test.wait_minutes * 60
        return base

    async def notify(self, alerts: Sequence[Alert]) -> None:
        """Webhook and/or command for each new critical alert; a failure is the 'notify'
        status (on the status line), never an exception."""
        a = self.config.alerts
        errors = []
        for alert in alerts:
            body = alert_payload(alert)
            try:
                if a.webhook_url:
                    await post_webhook(a.webhook_url, body, timeout=a.notify_timeout)
                if a.command:
                    await run_command(a.command, body, timeout=a.notify_timeout)
            except SourceError as exc:
                log.warning("notification failed: %s", exc.title)
                errors.append(exc.title)
        now = self.wall()
        prev = self.statuses.get("notify") or SourceStatus("notify")
        if errors:
            status = replace(
                prev, ok=False, last_attempt_at=now, error=errors[-1], failures=prev.failures + 1
            )
        else:
            status = SourceStatus("notify", ok=True, last_ok_at=now, last_attempt_at=now)
        self.statuses["notify"] = status
        self.publish(Update("notify", status))

    # -- alerts ------------------------------------------------------------------------

    def alert_inputs(self) -> AlertInputs:
        """What the rules look at: the stored state, as the panels show it."""
        now = self.clock()
        view = self.account_view()
        have_ips = self.store.get_snapshot("ips", list[Ip]) is not None
        t = self.config.thresholds
        have_subs = self.store.get_snapshot("subaccounts", list[Subaccount]) is not None
        runs = self.store.seed_runs(1)
        ip_view = self.ip_view()  # once: the IP rules and the DMARC grouping both use it
        ip_states = self.store.ip_counts(now - timedelta(hours=t.ip_window_hours), now)
        reports = self.store.dmarc_reports(now - timedelta(days=7))
        dmarc = None
        if reports:
            snap = self.store.get_snapshot("dmarc_rdns", dict[str, str])
            ips = [r.ip for r in ip_view.rows] + list(self.config.blocklists.extra_ips)
            rdns = snap[0] if snap else {}
            dmarc = summarize_dmarc(reports, now, 7, ips, self.config.dmarc, rdns)
        return AlertInputs(
            now=now,
            account=view.account if view else None,
            reputation_history=[(at, float(v)) for at, v in view.history] if view else [],
            ips=ip_view.rows if have_ips else None,
            ip_states=ip_states,
            ip_span=ip_view.span,
            subaccounts=self.subaccount_view() if have_subs else None,
            dns=self.dns_view(),
            blocklists=self.blocklist_view(),
            seed_run=runs[-1] if runs else None,
            statuses=dict(self.statuses),
            wall=self.wall(),
            dmarc=dmarc,
            content=self.content_view(),
            gmail=self.gmail_board(),
            tls=self._tls_week(now),
        )

    def _tls_week(self, now: datetime) -> tuple[TlsDomainRow, ...] | None:
        """The last 7 days of TLS reports per domain (None: no report stored at all)."""
        reports = self.store.tls_reports(now - timedelta(days=7))
        return tuple(summarize_tls(reports, now, 7)) if reports else None

    def refresh_alerts(self) -> AlertsView | None:
        """Evaluate the rules, store the changes; None when nothing changed."""
        c = self.config
        signals, covered = evaluate_alerts(
            self.alert_inputs(), c.thresholds, c.alerts, c.dmarc, c.postmaster, c.tlsrpt
        )
        with self._alerts_lock:  # polls finish in threads: one read-modify-write at a time
            return self._reconcile_alerts(signals, covered)

    def _reconcile_alerts(self, signals: list[Signal], covered: set[str]) -> AlertsView | None:
        before = self.store.alerts()
        result = reconcile(before, signals, covered, self.clock())
        if list(result.alerts) == before:
            return None
        self.store.put_alerts(result.alerts)
        self.store.commit()
        return AlertsView(result.alerts, result.opened, result.resolved)

    def alerts_view(self) -> AlertsView:
        return AlertsView(tuple(self.store.alerts()))

    def unjudged(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(waiting, failing): the polled sources whose rules this process has not judged
        yet, because they have not answered once, or because their last poll failed.
        A read-only viewer judges nothing itself: the writer's alerts are the answer."""
        if self.store.read_only:
            return (), ()
        sts = [self.statuses[n] for n in self.sources if n in self.statuses]
        waiting = tuple(st.name for st in sts if st.ok is None)
        failing = tuple(st.name for st in sts if st.ok is False)
        return waiting, failing

    def acknowledge(self, alert_id: str, note: str) -> AlertsView | None:
        """Mark an open alert as seen, with a note; None if it no longer exists or is closed."""
        with self._alerts_lock:  # an evaluation finishing meanwhile must not undo the note
            alerts = self.store.alerts()
            found = next((a for a in alerts if a.id == alert_id and a.resolved_at is None), None)
            if found is None:
                return None
            acked = acknowledge(found, note, self.clock())
            alerts = [acked if a.id == alert_id else a for a in alerts]
            self.store.put_alerts(alerts)
            self.store.commit()
            return AlertsView(tuple(alerts))

    def _save_status(self, status: SourceStatus) -> None:
        self.store.put_snapshot(f"status:{status.name}", status, self.wall())
        self.store.commit()

    # -- the state beside the polls: the feed, the action log, the console's choices -----
    # (the console reads the state through these, never through the store itself)

    @property
    def read_only(self) -> bool:
        """Another mailops owns the state dir: this one reads it and never writes."""
        return self.store.read_only

    @property
    def can_act(self) -> bool:
        """Whether polls and actions can be done from here: by this process (it owns the
        state dir), or by the service it is attached to."""
        return not self.store.read_only or self.remote is not None

    @property
    def state_dir(self) -> Path:
        return self.store.dir

    def state_warnings(self) -> list[str]:
        """What reading the state found damaged or skipped, for the banner."""
        return list(self.store.warnings)

    def reload(self) -> None:
        """Re-read the files another mailops writes (a read-only console follows it)."""
        self.store.reload()

    def load_feed(self, progress: Callable[[int], None]) -> None:
        self.store.load_feed(progress)

    def feed_page(
        self,
        text: str,
        kind: str | None,
        limit: int,
        *,
        subaccount: str | None = None,
        since: datetime | None = None,
        count: bool = False,
    ) -> FeedPage:
        """The newest `limit` matching events, and with `count` how many match in all
        (without, the count may be None: it follows from `feed_count`, off the UI thread)."""
        return self.store.feed_page(
            text, kind, limit, subaccount=subaccount, since=since, count=count
        )

    def feed_count(self, text: str, kind: str | None, abort: Callable[[], bool]) -> int | None:
        return self.store.feed_count(text, kind, abort=abort)

    def feed_events(
        self,
        text: str = "",
        kind: str | None = None,
        *,
        subaccount: str | None = None,
        since: datetime | None = None,
    ) -> Iterator[MessageEvent]:
        return self.store.feed_events(text, kind, subaccount=subaccount, since=since)

    def audit(self) -> list[AuditEntry]:
        return self.store.audit()

    def ui_choice(self, name: str) -> dict[str, str] | None:
        """A choice the console keeps across runs (the theme picked in the palette)."""
        snap = self.store.get_snapshot(f"ui_{name}", dict[str, str])
        return snap[0] if snap else None

    def keep_ui_choice(self, name: str, value: dict[str, str]) -> None:
        if self.store.read_only:
            return
        self.store.put_snapshot(f"ui_{name}", value, self.wall())
        self.store.commit()

    # -- views over stored state (also used to paint the screen at start-up) --------------

    def account_view(self) -> AccountView | None:
        snap = self.store.get_snapshot("account", Account)
        if snap is None:
            return None
        account: Account = snap[0]
        since = self.clock() - timedelta(days=30)
        hist = tuple((t, int(v)) for t, v in self.store.history("reputation", since))
        return AccountView(
            account, hist, reputation_word(account.reputation, self.config.thresholds)
        )

    def ip_view(self) -> IpView:
        generation = self.store.generation  # before the counts: never newer than they are
        snap = self.store.get_snapshot("ips", list[Ip])
        ips: list[Ip] = snap[0] if snap else []
        now = self.clock()
        t = self.config.thresholds
        start = now - timedelta(hours=t.ip_window_hours)
        window = self.store.ip_counts(start, now)
        recent = self.store.ip_counts(now - timedelta(hours=t.noisy_window_hours), now)
        span = self.read_span(f"{t.ip_window_hours:g} h", start)
        return replace(ip_view(ips, window, recent, now, t, span), generation=generation)

    def subaccount_view(self) -> tuple[SubaccountRow, ...]:
        snap = self.store.get_snapshot("subaccounts", list[Subaccount])
        subs: list[Subaccount] = snap[0] if snap else []
        span = self.subaccount_span()
        counts = self.store.subaccount_counts(span.start.date(), span.until.date())
        return tuple(subaccount_rows(subs, counts, span))

    def subaccount_span(self) -> ReadSpan:
        """The customers' counts: today and the 6 UTC days before, as far as read."""
        first = self.clock().date() - timedelta(days=6)
        return self.read_span("7 d", datetime(first.year, first.month, first.day, tzinfo=UTC))

    def read_span(self, name: str, start: datetime) -> ReadSpan:
        """How much of the period from `start` to now the stored messages cover: from the
        first second read (or the oldest retention keeps) to now, less any gap a read
        left for later (nothing read yet: they cover none)."""
        now = self.clock()
        first = self.store.get_cursor("messages_floor")
        if first is None:
            return ReadSpan(name, start, now, now)
        kept = now - timedelta(days=self.config.storage.retention_days)
        since = min(now, max(datetime.fromtimestamp(first, UTC), kept))
        unread = 0.0
        gap = self.read_gap("messages", -1)
        if gap is not None:
            lo = max(gap[0], int(max(start, since).timestamp()))
            unread = float(max(0, min(gap[1], int(now.timestamp())) - lo + 1))
        return ReadSpan(name, start, since, now, unread)

    def gmail_view(self) -> GmailView | None:
        """What Gmail Postmaster Tools published, as last read (None: never read)."""
        snap = self.store.get_snapshot("postmaster", GmailView)
        return snap[0] if snap else None

    def gmail_board(self) -> GmailBoard | None:
        """Gmail's days beside Mandrill's complaints from the same domain on the same UTC
        days, and the IPs that carried the mail on each domain's latest day (None: Gmail
        never read)."""
        view = self.gmail_view()
        if view is None:
            return None
        today = self.clock().date()
        window = self.config.postmaster.days
        first = today - timedelta(days=max(1, window) - 1)
        counted = self.store.domain_counts(first, today)
        mandrill = {d: (c.counts, c.whole and self.day_read_whole(d)) for d, c in counted.items()}
        latest_days = {g.day for g in (latest(view, dom) for dom in view.domains) if g}
        carriers = {d: self.ip_messages_on(d) for d in latest_days}
        return gmail_board(view, mandrill, carriers, today, window)

    def day_read_whole(self, day: date) -> bool:
        """Whether every second of that UTC day is among the messages read: it is over,
        the store reaches back to its start, and no read left a gap inside it."""
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        end = start + timedelta(days=1)
        if end > self.clock():
            return False
        span = self.read_span("day", start)
        gap = self.read_gap("messages", -1)
        inside = gap is not None and gap[0] < end.timestamp() and gap[1] >= start.timestamp()
        return span.since <= start and not inside

    def ip_messages_on(self, day: date) -> dict[str, int]:
        """Messages per sending IP sent that UTC day (every state that names an IP)."""
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        counts = self.store.ip_counts(start, start + timedelta(hours=23))
        return {ip: sum(c.values()) for ip, c in counts.items() if ip}

    def webhook_receipt(self) -> WebhookReceipt | None:
        """The last webhook batch taken in (by the service owning the state, or this one)."""
        snap = self.store.get_snapshot("webhooks", WebhookReceipt)
        return snap[0] if snap else None

    def rejects_view(self) -> tuple[Reject, ...] | None:
        snap = self.store.get_snapshot("rejects", list[Reject])
        return tuple(snap[0]) if snap else None

    # -- what the polls share ------------------------------------------------------------

    async def snapshot(
        self, source: str, value: Any, also: Callable[[], None] | None = None
    ) -> None:
        """Store a poll's result (plus `also`, in the same commit) off the event loop."""

        def save() -> None:
            self.store.put_snapshot(source, value, self.wall())
            if also is not None:
                also()
            self.store.commit()

        await self.db(save)

    # -- content checks ---------------------------------------------------------------------

    def content_view(self) -> ContentView | None:
        snap = self.store.get_snapshot("content", list[ContentResult])
        if snap is None:
            return None
        since = self.clock() - timedelta(days=30)
        history = {r.name: tuple(self.store.history(f"content:{r.name}", since)) for r in snap[0]}
        return ContentView(tuple(snap[0]), history)

    # -- DMARC aggregate reports ------------------------------------------------------------

    def dmarc_view(self, imported: int = 0, rejected: tuple[str, ...] = ()) -> DmarcView:
        now = self.clock()
        reports = self.store.dmarc_reports(now - timedelta(days=max(DMARC_WINDOWS)))
        snap = self.store.get_snapshot("dmarc_rdns", dict[str, str])
        rdns: dict[str, str] = snap[0] if snap else {}
        ips = self.sending_ips()
        windows = {
            days: tuple(summarize_dmarc(reports, now, days, ips, self.config.dmarc, rdns))
            for days in DMARC_WINDOWS
        }
        return DmarcView(windows, len(reports), imported, rejected)

    def tls_view(self, imported: int = 0) -> TlsView:
        """The stored SMTP TLS reports summed per domain over each DMARC window."""
        now = self.clock()
        reports = self.store.tls_reports(now - timedelta(days=max(DMARC_WINDOWS)))
        windows = {days: tuple(summarize_tls(reports, now, days)) for days in DMARC_WINDOWS}
        return TlsView(windows, len(reports), imported)

    def dmarc_source_records(
        self, domain: str, ip: str, days: int
    ) -> list[tuple[DmarcReport, DmarcRecord]]:
        """The records behind one row of the DMARC screen, over that screen's window."""
        now = self.clock()
        reports = in_window(self.store.dmarc_reports(now - timedelta(days=days)), now, days)
        return source_records(reports, domain, ip)

    # -- seed tests ------------------------------------------------------------------------

    def seed_view(self) -> tuple[SeedRun, ...]:
        return tuple(self.store.seed_runs(STRIP_RUNS))

    # -- mailops' own DNS checks -----------------------------------------------------------

    def dns_view(self) -> tuple[DomainDns, ...] | None:
        snap = self.store.get_snapshot("dns", list[DomainDns])
        return tuple(snap[0]) if snap else None

    def blocklist_view(self) -> BlocklistView | None:
        snap = self.store.get_snapshot("blocklists", BlocklistView)
        return snap[0] if snap else None

    def mandrill_domains_view(self) -> tuple[SenderDomain, ...] | None:
        snap = self.store.get_snapshot("domains", list[SenderDomain])
        return tuple(snap[0]) if snap else None

    def sending_domains(self) -> list[str]:
        configured = list(self.config.domains.sending)
        if configured:
            return configured
        return [d.domain for d in self.mandrill_domains_view() or ()]

    def sending_ips(self) -> list[str]:
        """Dedicated IPs, shared IPs seen carrying our mail in the IP window, and extras."""
        view = self.ip_view()
        ips = [r.ip for r in view.rows] + list(self.config.blocklists.extra_ips)
        return list(dict.fromkeys(ips))

    def read_gap(self, name: str, floor: int) -> tuple[int, int] | None:
        """The window an earlier read of `name` left unread below its cursor, if any
        (what is older than `floor` is no longer worth reading)."""
        lo = self.store.get_cursor(f"{name}_gap_from")
        hi = self.store.get_cursor(f"{name}_gap_to")
        if lo is None or hi is None or lo < 0 or hi < lo:
            return None
        return (max(lo, floor), hi) if hi >= floor else None


def _restored_statuses(store: Store, names: Sequence[str]) -> dict[str, SourceStatus]:
    """Each source's status at start: not polled yet, but with its last good poll
    remembered across restarts (so its data's age is known before it answers)."""
    out = {n: SourceStatus(n) for n in names}
    for name in names:
        snap = store.get_snapshot(f"status:{name}", SourceStatus)
        if snap is not None:
            out[name] = SourceStatus(name, last_ok_at=snap[0].last_ok_at)
    return out


def _first_delay(name: str, order: int) -> float:
    """Seconds after start of a source's first poll: its declared delay, or a small
    stagger by declaration order so the first polls do not all start in the same tick."""
    delay = registry.spec(name).first_delay
    return 0.05 * order if delay is None else delay


class Jobs:
    """The APScheduler side: one interval job per data set, on the running event loop."""

    def __init__(self, pipeline: Pipeline, *, wall: Clock = system_clock) -> None:
        self.pipeline = pipeline
        self.wall = wall
        self.scheduler: AsyncIOScheduler | None = None
        poll = pipeline.config.mandrill.poll
        self.intervals: dict[str, float] = {n: float(getattr(poll, n)) for n in pipeline.sources}
        self.jitter = poll.jitter
        self.cap = poll.backoff_cap
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = False

    def start(self) -> None:
        """Start on the running loop (AsyncIOScheduler needs one); every job fires at once."""
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        now = datetime.now(UTC)
        for i, name in enumerate(self.pipeline.sources):
            self.scheduler.add_job(
                self._run,
                "interval",
                args=[name],
                id=name,
                name=name,
                seconds=self.intervals[name],
                jitter=self.jitter or None,
                # DNS sweeps wait a little, for Mandrill's IPs, domains and first messages
                next_run_time=now + timedelta(seconds=_first_delay(name, i)),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        self._schedule_seeds(now)
        self.scheduler.start()

    def _schedule_seeds(self, now: datetime) -> None:
        """Seed tests send real mail: they run on their own schedule, never on `r`."""
        assert self.scheduler is not None
        cfg = self.pipeline.config.seed_test
        schedule = parse_schedule(cfg.schedule)
        if not self.pipeline.seeds or (schedule is None and not cfg.run_at_start):
            return
        trigger: CronTrigger | IntervalTrigger | None = None
        if schedule is not None and schedule.daily_at is not None:
            hour, minute = schedule.daily_at
            trigger = CronTrigger(hour=hour, minute=minute, timezone=tzlocal.get_localzone())
        elif schedule is not None and schedule.every_seconds is not None:
            trigger = IntervalTrigger(seconds=schedule.every_seconds, timezone=UTC)
        kwargs: dict[str, Any] = {}
        if cfg.run_at_start:
            kwargs["next_run_time"] = now + timedelta(seconds=SEED_FIRST_DELAY)
        if trigger is None:  # run once at start only
            self.scheduler.add_job(
                self._run_seeds,
                "date",
                run_date=now + timedelta(seconds=SEED_FIRST_DELAY),
                id="seeds",
                name="seeds",
            )
            return
        self.scheduler.add_job(
            self._run_seeds,
            trigger,
            id="seeds",
            name="seeds",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,  # a laptop asleep at 06:00 still runs the day's test
            **kwargs,
        )

    @property
    def seed_busy(self) -> bool:
        return self.pipeline.seed_running

    async def _run_seeds(self) -> None:
        if not self.pipeline.reserve_seed_test():
            return  # an on-demand run is under way; this one would only repeat it
        await self._track(self.pipeline.run("seeds"))

    def start_seed_test(self) -> bool:
        """Start a seed test now (the user confirmed); False if one is already running."""
        if not self.pipeline.seeds or not self.pipeline.reserve_seed_test():
            return False
        task = asyncio.get_running_loop().create_task(self._track(self.pipeline.run("seeds")))
        task.add_done_callback(log_task_failure)
        return True

    async def _track(self, work: Awaitable[Update]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            await work
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        finally:
            if task is not None:
                self._running.discard(task)

    def backoff_delay(self, failures: int, final: bool, interval: float) -> float:
        """1×, 2×, 4× … a quarter interval (at least 2 s), capped; final errors wait the cap."""
        if final:
            return self.cap
        base = max(2.0, interval / 4)
        return float(min(self.cap, base * 2 ** max(0, failures - 1)))

    async def _run(self, name: str) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            update = await self.pipeline.run(name)
        except asyncio.CancelledError:
            if self._stopping:
                return  # shutting down: an unfinished poll is simply dropped, not an error
            raise
        finally:
            if task is not None:
                self._running.discard(task)
        st = update.status
        if not st.ok and self.scheduler is not None and self.scheduler.running:
            delay = self.backoff_delay(st.failures, st.final, self.intervals[name])
            job = self.scheduler.get_job(name)
            if job is not None:
                job.modify(next_run_time=datetime.now(UTC) + timedelta(seconds=delay))

    def run_now(self) -> None:
        if self.scheduler is None or not self.scheduler.running:
            return
        now = datetime.now(UTC)
        for job in self.scheduler.get_jobs():
            if job.id != "seeds":  # polls only: a seed test sends mail and needs a yes
                job.modify(next_run_time=now)

    def run_source_now(self, name: str) -> bool:
        """Run one data set's job now (the scheduler keeps it to one run at a time)."""
        if self.scheduler is None or not self.scheduler.running:
            return False
        job = self.scheduler.get_job(name)
        if job is None:
            return False
        job.modify(next_run_time=datetime.now(UTC))
        return True

    @property
    def running(self) -> bool:
        return bool(self.scheduler and self.scheduler.running)

    async def shutdown(self) -> None:
        """Stop scheduling, cancel polls in flight and wait for them to unwind."""
        self._stopping = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # shutdown is queued with call_soon_threadsafe
        tasks = list(self._running)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


async def poll_once(pipeline: Pipeline, names: tuple[str, ...] = SOURCES) -> dict[str, Update]:
    """Run each named poll once, in order (what `mailops check` does)."""
    return {name: await pipeline.run(name) for name in names}
