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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import tzlocal
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from console.analysis.alerts import AlertInputs, ContentView, acknowledge, reconcile
from console.analysis.alerts import evaluate as evaluate_alerts
from console.analysis.content import lint, listed_links
from console.analysis.dmarc import WINDOWS as DMARC_WINDOWS
from console.analysis.dmarc import DomainRow, in_window, source_records
from console.analysis.dmarc import summarize as summarize_dmarc
from console.analysis.dnsbl import configured_zones, judge, plan
from console.analysis.health import Signal
from console.analysis.ips import ip_view
from console.analysis.reputation import reputation_word
from console.analysis.seeds import STRIP_RUNS
from console.analysis.subaccounts import subaccount_rows
from console.config import (
    Config,
    ConfigError,
    ContentCheckConfig,
    parse_schedule,
    resolve_dmarc_password,
)
from console.files import FileRefused, read_regular
from console.limits import EML_FILE_BYTES
from console.model import (
    Account,
    AccountView,
    Alert,
    BlocklistView,
    ContentResult,
    DmarcRecord,
    DmarcReport,
    DomainDns,
    Ip,
    IpDns,
    IpView,
    Listing,
    MessageEvent,
    ReadSpan,
    Reject,
    SeedProgress,
    SeedRun,
    SenderDomain,
    SourceStatus,
    Subaccount,
    SubaccountRow,
)
from console.secret import Secret
from console.seeding import Seed, run_seed_test
from console.sources.authdns import check_domain
from console.sources.base import SourceError
from console.sources.dmarc_inbox import fetch_reports, import_directory
from console.sources.dns import DnsClient, reverse_dns
from console.sources.imap import SeedMailbox
from console.sources.mandrill import MandrillClient
from console.sources.notify import payload as alert_payload
from console.sources.notify import post_webhook, run_command
from console.sources.spamd import Scorer, Spamd
from console.store import Store
from console.timeutil import Clock, system_clock

log = logging.getLogger(__name__)


def log_task_failure(task: asyncio.Task[Any]) -> None:
    """A background task that died is logged with its traceback, never lost silently (the
    console's workers have their own handler, which also says it on screen)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s failed", task.get_name(), exc_info=task.exception())


#: The Mandrill data sets polled, in the order the status line lists them.
MANDRILL_SOURCES = ("account", "ips", "messages", "rescan", "subaccounts", "rejects", "domains")
#: mailops' own DNS checks (when a DNS client is configured).
DNS_SOURCES = ("dns", "blocklists")
#: DMARC aggregate reports: imported from a directory and/or the rua mailbox.
REPORT_SOURCES = ("dmarc",)
SOURCES = (*MANDRILL_SOURCES, *DNS_SOURCES, *REPORT_SOURCES)
#: The data sets that read messages/search, whose completeness `check` reports.
MESSAGE_READS = ("messages", "rescan")
DNS_FIRST_DELAY = 8.0  # seconds after start
SEED_FIRST_DELAY = 5.0  # seconds after start, when [seed_test] run_at_start is set

#: Late states worth re-reading: a message may bounce or draw a complaint hours after sending.
LATE_STATES_QUERY = (
    "state:bounced OR state:soft-bounced OR state:rejected OR state:spam OR state:unsub"
)


@dataclass(frozen=True)
class PollResult:
    """What a successful poll changed; None means "this poll says nothing about it"."""

    account: AccountView | None = None
    ips: IpView | None = None
    subaccounts: tuple[SubaccountRow, ...] | None = None
    new_events: tuple[MessageEvent, ...] = ()
    domains: tuple[SenderDomain, ...] | None = None
    rejects: tuple[Reject, ...] | None = None
    dns: tuple[DomainDns, ...] | None = None
    blocklists: BlocklistView | None = None
    seed_runs: tuple[SeedRun, ...] | None = None  # the latest runs, oldest first
    seed_progress: SeedProgress | None = None  # a seed test still waiting
    alerts: AlertsView | None = None  # set when this poll changed the alerts
    dmarc: DmarcView | None = None
    content: ContentView | None = None
    #: a read of messages: the last second up to which it read everything but `unread`,
    #: the window it left for the next poll, and why it is not all ('' if it is)
    covered_until: datetime | None = None
    unread: tuple[datetime, datetime] | None = None
    partial: str = ""


@dataclass(frozen=True)
class DmarcView:
    """The DMARC panel's data: per window (1, 7, 30 days) a row per domain."""

    windows: dict[int, tuple[DomainRow, ...]]
    reports: int = 0  # stored reports in the longest window
    imported: int = 0  # by this poll
    rejected: tuple[str, ...] = ()  # "name: why", by this poll


@dataclass(frozen=True)
class AlertsView:
    """Every stored alert, and what this evaluation opened (new or escalated) or resolved."""

    alerts: tuple[Alert, ...]
    opened: tuple[Alert, ...] = ()
    resolved: tuple[Alert, ...] = ()

    @property
    def open(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.resolved_at is None)


@dataclass(frozen=True)
class Update:
    """One finished poll, good or bad, handed to whoever displays it."""

    source: str
    status: SourceStatus
    result: PollResult = PollResult()


Publish = Callable[[Update], None]


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
    ) -> None:
        self.client = client
        self.seeds = tuple(seeds)
        self.seed_running = False
        self._notifying: set[asyncio.Task[None]] = set()
        self._dmarc_password: Secret | None = None
        self._alerts_lock = threading.Lock()
        #: Off for `mailops check`: a fresh store each run would re-announce every alert.
        self.notifications = True
        #: where the log is written, named in errors that say "see the log" (None: no log)
        self.log_path: Path | None = None
        self.dns = dns
        self._dqs_key = dqs_key
        self.store = store
        self.config = config
        self.clock = clock
        self.wall = wall
        self.publish = publish or (lambda u: None)
        self.backfill_hours = backfill_hours or config.mandrill.backfill_hours
        self.sources = SOURCES if dns is not None else (*MANDRILL_SOURCES, *REPORT_SOURCES)
        if config.content_checks:
            self.sources = (*self.sources, "content")
        #: scores messages: spamd, or the demo's recorded scores
        self.scorer: Scorer = scorer or Spamd(
            config.spamd.host, config.spamd.port, config.spamd.timeout
        )
        names = (*self.sources, "seeds") if self.seeds else self.sources
        self.statuses: dict[str, SourceStatus] = {n: SourceStatus(n) for n in names}
        self._pruned_at: datetime | None = None
        for name in names:
            snap = store.get_snapshot(f"status:{name}", SourceStatus)
            if snap is not None:  # remember the last good poll across restarts
                st = snap[0]
                self.statuses[name] = SourceStatus(name, last_ok_at=st.last_ok_at)

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
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
                poll: PollResult = await getattr(self, f"_poll_{name}")()
            ok = SourceStatus(
                name,
                ok=True,
                last_ok_at=started,
                last_attempt_at=started,
                partial=poll.partial,
            )
            if ok.partial:
                log.warning("%s poll partial: %s", name, ok.partial)
            await self._db(self._save_status, ok)
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
        try:
            alerts = await self._db(self.refresh_alerts)
        except Exception:  # alerts must never stop polling; the poll's own result still shows
            log.exception("alert evaluation failed")
            alerts = None
        if alerts is not None:
            update = replace(update, result=replace(update.result, alerts=alerts))
            critical = [a for a in alerts.opened if a.severity == "critical"]
            a = self.config.alerts
            if critical and self.notifications and (a.webhook_url or a.command):
                task = asyncio.get_running_loop().create_task(self.notify(critical))
                self._notifying.add(task)
                task.add_done_callback(self._notifying.discard)
                task.add_done_callback(log_task_failure)
        self.publish(update)
        return update

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
        )

    def refresh_alerts(self) -> AlertsView | None:
        """Evaluate the rules, store the changes; None when nothing changed."""
        signals, covered = evaluate_alerts(
            self.alert_inputs(), self.config.thresholds, self.config.alerts, self.config.dmarc
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
        gap = self._read_gap("messages", -1)
        if gap is not None:
            lo = max(gap[0], int(max(start, since).timestamp()))
            unread = float(max(0, min(gap[1], int(now.timestamp())) - lo + 1))
        return ReadSpan(name, start, since, now, unread)

    def rejects_view(self) -> tuple[Reject, ...] | None:
        snap = self.store.get_snapshot("rejects", list[Reject])
        return tuple(snap[0]) if snap else None

    # -- the polls ---------------------------------------------------------------------

    async def _snapshot(
        self, source: str, value: Any, also: Callable[[], None] | None = None
    ) -> None:
        """Store a poll's result (plus `also`, in the same commit) off the event loop."""

        def save() -> None:
            self.store.put_snapshot(source, value, self.wall())
            if also is not None:
                also()
            self.store.commit()

        await self._db(save)

    async def _poll_account(self) -> PollResult:
        account = await self.client.users_info()
        await self._snapshot("account", account, lambda: self._record_reputation(account))
        return PollResult(account=await self._db(self.account_view))

    def _prune_hourly(self) -> None:
        """Apply retention at the first message poll and then about once an hour."""
        now = self.clock()
        if self._pruned_at is None or now - self._pruned_at >= timedelta(hours=1):
            removed = self.store.prune()
            self._pruned_at = now
            if removed:
                log.info("retention: removed %d day files", removed)

    def _record_reputation(self, account: Account) -> None:
        """Keep a point when the value moves, or every 15 minutes: a month stays small."""
        value = account.reputation
        if value is None:
            return
        now = self.clock()
        last = self.store.last_history("reputation")
        if last is None or last[1] != value or now - last[0] >= timedelta(minutes=15):
            self.store.add_history("reputation", now, value)

    async def _poll_ips(self) -> PollResult:
        await self._snapshot("ips", await self.client.ips_list())
        return PollResult(ips=await self._db(self.ip_view))

    async def _poll_subaccounts(self) -> PollResult:
        await self._snapshot("subaccounts", await self.client.subaccounts_list())
        return PollResult(subaccounts=await self._db(self.subaccount_view))

    async def _poll_rejects(self) -> PollResult:
        rejects = await self.client.rejects_list()
        await self._snapshot("rejects", rejects)
        return PollResult(rejects=tuple(rejects))

    async def _poll_domains(self) -> PollResult:
        domains = await self.client.senders_domains()
        await self._snapshot("domains", domains)
        return PollResult(domains=tuple(domains))

    # -- content checks ---------------------------------------------------------------------

    def content_view(self) -> ContentView | None:
        snap = self.store.get_snapshot("content", list[ContentResult])
        if snap is None:
            return None
        since = self.clock() - timedelta(days=30)
        history = {r.name: tuple(self.store.history(f"content:{r.name}", since)) for r in snap[0]}
        return ContentView(tuple(snap[0]), history)

    async def content_message(self, cc: ContentCheckConfig) -> bytes:
        """The message a check scores: its .eml file, or its template rendered by Mandrill."""
        if cc.eml:
            path = Path(cc.eml).expanduser()
            try:
                return await asyncio.to_thread(read_regular, path, EML_FILE_BYTES)
            except FileRefused as exc:
                raise SourceError(f"cannot use {path}: {exc}") from None
        html = await self.client.render_template(cc.template, dict(cc.merge_vars))
        msg = EmailMessage()
        domains = self.config.domains.sending or [
            sd.domain for sd in self.mandrill_domains_view() or ()
        ]
        sender = (
            cc.from_email
            or self.config.seed_test.from_email
            or (f"no-reply@{domains[0]}" if domains else "no-reply@example.com")
        )
        msg["From"] = sender
        msg["To"] = "content-check@example.com"
        msg["Subject"] = cc.subject or cc.template
        msg["Date"] = format_datetime(self.clock())
        msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
        msg.set_content(html, subtype="html")
        return msg.as_bytes()

    async def _poll_content(self) -> PollResult:
        now = self.clock()
        blocklists = self.blocklist_view()
        listed = {
            x.target for x in (blocklists.listings if blocklists else ()) if x.verdict == "listed"
        }
        results = []
        for cc in self.config.content_checks:
            try:
                raw = await self.content_message(cc)
            except SourceError as exc:
                results.append(ContentResult(cc.name, now, error=exc.title))
                continue
            findings, links = lint(raw, bulk=cc.bulk)
            findings += listed_links(links, listed)
            report = await self.scorer.report(raw)  # spamd down: the poll fails, last kept
            results.append(
                ContentResult(cc.name, now, report, tuple(findings), recorded=self.scorer.recorded)
            )

        def save() -> ContentView | None:
            for r in results:
                if r.report is not None:
                    self.store.add_history(f"content:{r.name}", now, r.report.score)
            self.store.put_snapshot("content", results, self.wall())
            self.store.commit()
            return self.content_view()

        return PollResult(content=await self._db(save))

    # -- DMARC aggregate reports ------------------------------------------------------------

    def dmarc_box(self) -> SeedMailbox | None:
        d = self.config.dmarc
        if not d.imap_host:
            return None
        if self._dmarc_password is None:
            try:
                self._dmarc_password = resolve_dmarc_password(d)
            except ConfigError as exc:
                raise SourceError(str(exc), final=True) from None
        return SeedMailbox(
            "dmarc", "other", d.imap_host, d.imap_port, d.username, self._dmarc_password,
            d.imap_security, ca_file=d.ca_file,
        )  # fmt: skip

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

    def dmarc_source_records(
        self, domain: str, ip: str, days: int
    ) -> list[tuple[DmarcReport, DmarcRecord]]:
        """The records behind one row of the DMARC screen, over that screen's window."""
        now = self.clock()
        reports = in_window(self.store.dmarc_reports(now - timedelta(days=days)), now, days)
        return source_records(reports, domain, ip)

    async def _poll_dmarc(self) -> PollResult:
        d = self.config.dmarc
        items = []
        if d.directory:
            directory = Path(d.directory).expanduser()
            items += await asyncio.to_thread(import_directory, directory)
        box = self.dmarc_box()
        if box is not None:
            items += await fetch_reports(box, d.folder, d.after, d.processed_folder, d.max_messages)

        cutoff = self.clock() - timedelta(days=d.retention_days)
        old = [r for i in items for r in i.reports if r.end < cutoff]

        def save() -> tuple[int, list[str]]:
            fresh = (r for i in items for r in i.reports if r.end >= cutoff)
            added, _ = self.store.add_dmarc_reports(fresh)
            self.store.prune_dmarc(d.retention_days)
            return len(added), self._dmarc_rdns_wanted()

        added, wanted = await self._db(save)
        rejected = tuple(f"{i.name}: {i.error}" for i in items if i.error)
        if old:
            rejected += (
                f"{len(old)} report(s) older than the {d.retention_days}-day retention skipped",
            )
        for line in rejected:
            log.warning("DMARC report refused: %s", line)
        if wanted and self.dns is not None:
            # rDNS after the import, a bounded batch per poll: never in the parse's way
            names = await reverse_dns(self.dns, wanted[:64])
            await self._db(self._save_dmarc_rdns, names)
        return PollResult(dmarc=await self._db(self.dmarc_view, added, rejected))

    def _dmarc_rdns_wanted(self) -> list[str]:
        snap = self.store.get_snapshot("dmarc_rdns", dict[str, str])
        known = snap[0] if snap else {}
        since = self.clock() - timedelta(days=30)
        ips = {rec.source_ip for r in self.store.dmarc_reports(since) for rec in r.records}
        return sorted(ip for ip in ips if ip not in known)

    def _save_dmarc_rdns(self, found: list[IpDns]) -> None:
        snap = self.store.get_snapshot("dmarc_rdns", dict[str, str])
        known = dict(snap[0]) if snap else {}
        for r in found:
            known[r.ip] = r.ptr[0] if r.ptr else ""
        self.store.put_snapshot("dmarc_rdns", known, self.wall())
        self.store.commit()

    # -- seed tests ------------------------------------------------------------------------

    def seed_view(self) -> tuple[SeedRun, ...]:
        return tuple(self.store.seed_runs(STRIP_RUNS))

    async def _poll_seeds(self) -> PollResult:
        """One seed test: sends real messages, so only the schedule or the user starts it."""
        if not self.seeds:
            raise SourceError("No seed mailboxes configured ([[seeds]] in the config)")
        if self.seed_running:
            raise SourceError("A seed test is already running")
        self.seed_running = True
        status = self.statuses["seeds"]

        def progress(found: int, total: int, waited: float) -> None:
            self.publish(
                Update(
                    "seeds", status, PollResult(seed_progress=SeedProgress(found, total, waited))
                )
            )

        try:
            progress(0, len(self.seeds), 0.0)
            run = await run_seed_test(
                self.client, self.seeds, self.config.seed_test, clock=self.clock, progress=progress
            )
        finally:
            self.seed_running = False

        def save() -> tuple[SeedRun, ...]:
            self.store.add_seed_run(run)
            self.store.commit()
            return self.seed_view()

        return PollResult(seed_runs=await self._db(save))

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

    def _need_dns(self) -> DnsClient:
        if self.dns is None:
            raise SourceError("DNS checks are not configured")
        return self.dns

    async def _poll_dns(self) -> PollResult:
        client = self._need_dns()
        if not self.config.domains.sending and self.mandrill_domains_view() is None:
            await self._poll_domains()  # the domains come from Mandrill: ask it first
        domains = await self._db(self.sending_domains)
        selectors = self.config.domains.dkim_selectors
        results = tuple([await check_domain(client, d, selectors, client.timeout) for d in domains])
        await self._snapshot("dns", list(results))
        return PollResult(dns=results)

    async def _poll_blocklists(self) -> PollResult:
        client = self._need_dns()
        b = self.config.blocklists
        key = self._dqs_key.reveal() if self._dqs_key else None
        zones = configured_zones(b.ip_zones, b.domain_zones, b.codes, key)
        if self.store.get_snapshot("ips", list[Ip]) is None:
            await self._poll_ips()
        if not self.config.domains.sending and self.mandrill_domains_view() is None:
            await self._poll_domains()
        ips = await self._db(self.sending_ips)
        domains = list(
            dict.fromkeys(
                [*await self._db(self.sending_domains), *self.config.domains.link_domains]
            )
        )
        probes = plan(zones, ips, domains)
        answers, rdns = await asyncio.gather(
            client.lookup_many(p.qname for p in probes), reverse_dns(client, ips)
        )
        listings = judge(probes, answers)
        view = await self._db(self._with_history, listings, rdns, len(zones))
        return PollResult(blocklists=view)

    def _with_history(
        self, listings: list[Listing], rdns: list[IpDns], zones: int
    ) -> BlocklistView:
        """Carry 'since' across polls, and remember delistings, in the store."""
        now = self.clock()
        snap = self.store.get_snapshot("listing_history", dict[str, dict[str, str]])
        history: dict[str, dict[str, str]] = snap[0] if snap else {}
        out = []
        for item in listings:
            key = f"{item.zone}|{item.target}"
            prev = history.get(key)
            if prev and prev.get("verdict") == item.verdict:
                since = datetime.fromisoformat(prev["since"])
            else:
                since = now
                if prev and prev.get("verdict") == "listed" and item.verdict == "not_listed":
                    history[f"delisted|{key}"] = {"verdict": "delisted", "since": now.isoformat()}
                history[key] = {"verdict": item.verdict, "since": now.isoformat()}
            out.append(replace(item, since=since))
        cutoff = now - timedelta(days=self.config.storage.retention_days)
        delisted = []
        for k, v in list(history.items()):
            if k.startswith("delisted|"):
                at = datetime.fromisoformat(v["since"])
                if at < cutoff:
                    del history[k]
                else:
                    _, zone, target = k.split("|", 2)
                    delisted.append((zone, target, at))
        view = BlocklistView(tuple(out), tuple(rdns), zones, tuple(sorted(delisted)))
        self.store.put_snapshot("listing_history", history, self.wall())
        self.store.put_snapshot("blocklists", view, self.wall())
        self.store.commit()
        return view

    async def _poll_messages(self) -> PollResult:
        m = self.config.mandrill
        now = int(self.clock().timestamp())
        floor = now - int(self.backfill_hours * 3600)
        cursor = await self._db(self.store.get_cursor, "messages")
        start = floor if cursor is None else max(floor, cursor + 1 - m.search_overlap)
        # a gap an earlier read left stays worth reading for as long as the store keeps mail
        kept = now - self.config.storage.retention_days * 86400
        return await self._read_window("messages", start, now, "", floor=kept, prior=cursor)

    async def _poll_rescan(self) -> PollResult:
        m = self.config.mandrill
        now = int(self.clock().timestamp())
        # Late states of every message read so far, as far back as rescan_hours allows, but
        # not before the first message read: earlier ones were never in the store.
        first = await self._db(self.store.get_cursor, "messages_floor")
        start = now - int(m.rescan_hours * 3600)
        if first is None:
            start = max(start, now - int(self.backfill_hours * 3600))
        else:
            start = max(start, first)
        # A pass cut short by the call budget resumes where it stopped; -1 means "none open".
        floor, cursor = start, await self._db(self.store.get_cursor, "rescan")
        if cursor is not None and start <= cursor < now:
            start = cursor + 1
        else:
            cursor = None
        return await self._read_window(
            "rescan", start, now, LATE_STATES_QUERY, floor=floor, prior=cursor
        )

    async def _read_window(
        self, name: str, start: int, end: int, query: str, *, floor: int, prior: int | None
    ) -> PollResult:
        """Read [start, end] (after any gap an earlier read left above `floor`) and move
        the cursor: never below `prior`, the cursor this read started from."""
        budget = self.config.mandrill.max_search_calls
        gap = await self._db(self._read_gap, name, floor)
        if gap is not None:  # an earlier read's unread part: it is read first, then the rest
            start = max(start, gap[1] + 1)  # the overlap must not re-open what the gap holds
        result = await self.client.search_range(start, end, query=query, budget=budget, gap=gap)

        def save() -> PollResult:
            self._prune_hourly()
            if name == "messages":
                self._mark_first_read(prior, start)
            ingested = self.store.ingest(result.messages)
            self.store.commit()  # events first: a crash before the cursor only re-reads
            until, left = result.resume(prior)
            covered = until
            if name == "rescan" and result.complete:
                covered = -1  # pass finished: the next one reads the whole window again
            if covered >= result.start or covered == -1:
                self.store.set_cursor(name, covered)
            self.store.set_cursor(f"{name}_gap_from", left[0] if left else -1)
            self.store.set_cursor(f"{name}_gap_to", left[1] if left else -1)
            self.store.commit()
            return PollResult(
                new_events=tuple(ingested.new_events),
                ips=self.ip_view(),
                subaccounts=self.subaccount_view(),
                covered_until=datetime.fromtimestamp(until, UTC),
                unread=None if left is None else _span(left),
                partial=result.shortfall(budget),
            )

        poll: PollResult = await self._db(save)
        return poll

    def _mark_first_read(self, prior: int | None, start: int) -> None:
        """Where the stored mail begins, for the period labels: the first read's start,
        moved up to this read's start when the console was away longer than the
        backfill window (the seconds between were never read)."""
        first = self.store.get_cursor("messages_floor")
        if first is None or (prior is not None and prior + 1 < start):
            self.store.set_cursor("messages_floor", start)

    def _read_gap(self, name: str, floor: int) -> tuple[int, int] | None:
        """The window an earlier read of `name` left unread below its cursor, if any
        (what is older than `floor` is no longer worth reading)."""
        lo = self.store.get_cursor(f"{name}_gap_from")
        hi = self.store.get_cursor(f"{name}_gap_to")
        if lo is None or hi is None or lo < 0 or hi < lo:
            return None
        return (max(lo, floor), hi) if hi >= floor else None


def _span(window: tuple[int, int]) -> tuple[datetime, datetime]:
    return datetime.fromtimestamp(window[0], UTC), datetime.fromtimestamp(window[1], UTC)


class Jobs:
    """The APScheduler side: one interval job per data set, on the running event loop."""

    def __init__(self, pipeline: Pipeline, *, wall: Clock = system_clock) -> None:
        self.pipeline = pipeline
        self.wall = wall
        self.scheduler: AsyncIOScheduler | None = None
        poll = pipeline.config.mandrill.poll
        self.intervals = {name: float(getattr(poll, name)) for name in pipeline.sources}
        self.jitter = poll.jitter
        self.cap = poll.backoff_cap
        self._running: set[asyncio.Task[None]] = set()
        self._seed_task: asyncio.Task[None] | None = None
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
                next_run_time=now
                + timedelta(seconds=DNS_FIRST_DELAY if name in DNS_SOURCES else 0.05 * i),
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
        return self.pipeline.seed_running or (
            self._seed_task is not None and not self._seed_task.done()
        )

    async def _run_seeds(self) -> None:
        if self.seed_busy:
            return  # an on-demand run is under way; this one would only repeat it
        await self._track(self.pipeline.run("seeds"))

    def start_seed_test(self) -> bool:
        """Start a seed test now (the user confirmed); False if one is already running."""
        if self.seed_busy or not self.pipeline.seeds:
            return False
        self._seed_task = asyncio.get_running_loop().create_task(
            self._track(self.pipeline.run("seeds"))
        )
        self._seed_task.add_done_callback(log_task_failure)
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
