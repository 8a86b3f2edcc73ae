"""The state as Prometheus metrics, read fresh on every scrape.

Each family is built from the same pipeline views the console and `check` show, so a
figure agrees with the screen. What is not known is left out, never written as 0: a
blocklist never asked, an IP's ratio with no mail read, a source not polled yet. The
exposition (label escaping included) is prometheus_client's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from console.analysis.gmail import latest
from console.analysis.seeds import inbox_shares
from console.model import Severity
from console.webhook import ENGAGEMENT, STATE_OF_EVENT

if TYPE_CHECKING:
    from console.jobs import Pipeline

SEVERITIES: tuple[Severity, ...] = ("warning", "critical")
#: webhook event types counted by name; any other is counted as "other", so a sender of
#: odd types cannot grow the label set without bound
EVENT_TYPES = (*STATE_OF_EVENT, *ENGAGEMENT, "blacklist", "whitelist", "unknown")
REJECT_REASONS = ("missing_signature", "bad_signature", "too_large", "bad_form", "bad_json",
                  "too_many", "not_stored")  # fmt: skip


class WebhookCounters:
    """Counts since the service started: events taken in by type, batches refused by why."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "mailops_webhook_events",
            "Webhook events taken in and stored since the service started, by event type",
            ["event"],
            registry=registry,
        )
        self.rejected = Counter(
            "mailops_webhook_rejected",
            "Webhook requests refused since the service started, by reason",
            ["reason"],
            registry=registry,
        )
        for event in EVENT_TYPES:
            self.events.labels(event)
        for reason in REJECT_REASONS:
            self.rejected.labels(reason)

    def taken(self, by_type: dict[str, int]) -> None:
        for event, n in by_type.items():
            self.events.labels(event if event in EVENT_TYPES else "other").inc(n)

    def refused(self, reason: str) -> None:
        self.rejected.labels(reason).inc()


class StateCollector(Collector):
    """Every scrape reads the pipeline's views anew."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def collect(self) -> Iterator[Metric]:
        p = self.pipeline
        yield from _reputation(p)
        yield from _ips(p)
        yield from _blocklists(p)
        yield from _dns(p)
        yield from _seeds(p)
        yield from _alerts(p)
        yield from _sources(p)
        yield from _gmail(p)


def state_registry(pipeline: Pipeline) -> CollectorRegistry:
    """A registry holding the state's metrics (`check --format openmetrics` prints it)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(pipeline))
    return registry


def _reputation(p: Pipeline) -> Iterator[Metric]:
    account = p.account_view()
    g = GaugeMetricFamily(
        "mailops_account_reputation", "Mandrill's reputation of the account, 0 to 100"
    )
    if account is not None and account.account.reputation is not None:
        g.add_metric([], account.account.reputation)
    yield g
    subs = GaugeMetricFamily(
        "mailops_subaccount_reputation",
        "Mandrill's reputation of each subaccount (customer), 0 to 100",
        labels=["subaccount"],
    )
    for row in p.subaccount_view():
        if row.reputation is not None:
            subs.add_metric([row.id], row.reputation)
    yield subs


def _ips(p: Pipeline) -> Iterator[Metric]:
    view = p.ip_view()
    window = f"the last {view.window_hours:g} h ([thresholds] ip_window_hours)"
    ratio = GaugeMetricFamily(
        "mailops_ip_delivery_ratio",
        f"Delivered / sent of the messages each sending IP carried over {window}",
        labels=["ip", "pool"],
    )
    messages = GaugeMetricFamily(
        "mailops_ip_messages",
        f"Messages each sending IP carried over {window}, as read from messages/search",
        labels=["ip", "pool"],
    )
    status = p.statuses.get("messages")
    if status is not None and status.last_ok_at is not None:  # else: unknown, left out
        for row in view.rows:
            messages.add_metric([row.ip, row.pool], row.sent)
            if row.delivery_rate is not None:
                ratio.add_metric([row.ip, row.pool], row.delivery_rate)
    yield ratio
    yield messages


def _blocklists(p: Pipeline) -> Iterator[Metric]:
    g = GaugeMetricFamily(
        "mailops_blocklist_listed",
        "1 listed, 0 not listed, by the last sweep; absent when the list did not answer",
        labels=["target", "zone"],
    )
    view = p.blocklist_view()
    for listing in view.listings if view else ():
        if listing.verdict in ("listed", "not_listed"):
            g.add_metric([listing.target, listing.zone], 1 if listing.verdict == "listed" else 0)
    yield g


def _dns(p: Pipeline) -> Iterator[Metric]:
    g = GaugeMetricFamily(
        "mailops_dns_check_ok",
        "1 when the sending domain's record is valid, 0 when it fails; absent when the "
        "lookup got no answer (check: spf, dmarc, dkim:<selector>)",
        labels=["domain", "check"],
    )
    for d in p.dns_view() or ():
        if not d.spf.temperror:
            g.add_metric([d.domain, "spf"], 1 if d.spf.valid else 0)
        if not d.dmarc.temperror:
            g.add_metric([d.domain, "dmarc"], 1 if d.dmarc.valid else 0)
        for k in d.dkim:
            if not k.temperror:
                g.add_metric([d.domain, f"dkim:{k.selector}"], 1 if k.valid else 0)
    yield g


def _seeds(p: Pipeline) -> Iterator[Metric]:
    g = GaugeMetricFamily(
        "mailops_seed_inbox_ratio",
        "Share of a provider's seed messages found in the inbox, in the latest seed test "
        "(seeds that errored or were rejected left out)",
        labels=["provider"],
    )
    runs = p.seed_view()
    if runs:
        for provider, share in inbox_shares(runs[-1]).items():
            g.add_metric([provider], share)
    yield g


def _alerts(p: Pipeline) -> Iterator[Metric]:
    g = GaugeMetricFamily(
        "mailops_alerts_open", "Alerts open now, by current severity", labels=["severity"]
    )
    open_ = [a for a in p.alerts_view().alerts if a.resolved_at is None]
    for severity in SEVERITIES:
        g.add_metric([severity], sum(1 for a in open_ if a.severity == severity))
    yield g


def _sources(p: Pipeline) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "mailops_source_up",
        "1 when the source's last poll worked, 0 when it failed; absent before its first",
        labels=["source"],
    )
    last = GaugeMetricFamily(
        "mailops_source_last_success_timestamp_seconds",
        "When the source last worked (Unix time); absent if it never has",
        labels=["source"],
    )
    for name, status in p.statuses.items():
        if status.ok is not None:
            up.add_metric([name], 1 if status.ok else 0)
        if status.last_ok_at is not None:
            last.add_metric([name], status.last_ok_at.timestamp())
    yield up
    yield last


def _gmail(p: Pipeline) -> Iterator[Metric]:
    g = GaugeMetricFamily(
        "mailops_gmail_spam_ratio",
        "Gmail's user-reported spam rate of the domain's mail, on the latest day Gmail "
        "Postmaster Tools published (absent: none published)",
        labels=["domain"],
    )
    view = p.gmail_view()
    for domain in view.domains if view else ():
        day = latest(view, domain) if view else None
        if day is not None and day.spam_rate is not None:
            g.add_metric([domain], day.spam_rate)
    yield g
