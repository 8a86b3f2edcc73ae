"""Each alert rule at and around its threshold, and the alert lifecycle."""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypedDict, Unpack

import pytest

from console.analysis.alerts import (
    AlertInputs,
    ContentView,
    acknowledge,
    evaluate,
    reconcile,
    worst,
)
from console.analysis.dmarc import DomainRow
from console.analysis.health import Signal
from console.config import AlertConfig, Thresholds
from console.model import (
    Account,
    BlocklistView,
    DomainDns,
    IpRow,
    Listing,
    Placement,
    ReadSpan,
    SeedResult,
    SeedRun,
    SourceStatus,
    Stats,
    SubaccountRow,
)

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
T = Thresholds()
A = AlertConfig()


class Inputs(TypedDict, total=False):
    """AlertInputs' fields past the time."""

    account: Account | None
    reputation_history: Sequence[tuple[datetime, float]]
    ips: Sequence[IpRow] | None
    ip_states: Mapping[str, Counter[str]]
    ip_span: ReadSpan | None
    subaccounts: Sequence[SubaccountRow] | None
    dns: Sequence[DomainDns] | None
    blocklists: BlocklistView | None
    seed_run: SeedRun | None
    statuses: Mapping[str, SourceStatus] | None
    wall: datetime | None
    dmarc: Sequence[DomainRow] | None
    content: ContentView | None


def fire(**kw: Unpack[Inputs]) -> dict[str, tuple[str, str]]:
    signals, _ = evaluate(AlertInputs(NOW, **kw), T, A)
    return {s.key: (s.severity, s.message) for s in signals}


def account(rep: int = 90, sent: int = 10_000, hard: int = 0, complaints: int = 0) -> Account:
    week = Stats(sent=sent, hard_bounces=hard, complaints=complaints)
    return Account("u", rep, 2500, 0, {"last_7_days": week})


@pytest.mark.parametrize(
    ("rep", "expect"), [(75, None), (74, "warning"), (40, "warning"), (39, "critical")]
)
def test_reputation_below_thresholds(rep: int, expect: str | None) -> None:
    got = fire(account=account(rep)).get("reputation_low|account")
    assert (got[0] if got else None) == expect


def test_reputation_drop_in_24h() -> None:
    hist = [(NOW - timedelta(hours=30), 99.0), (NOW - timedelta(hours=20), 92.0)]
    assert "reputation_drop|account" not in fire(account=account(83), reputation_history=hist)
    sev, msg = fire(account=account(82), reputation_history=hist)["reputation_drop|account"]
    assert sev == "warning" and "fell 10 points in 24 h (92 → 82)" in msg


@pytest.mark.parametrize(
    ("n", "expect"), [(200, None), (201, "warning"), (500, "warning"), (501, "critical")]
)
def test_hard_bounce_rate_2_and_5_percent(n: int, expect: str | None) -> None:
    got = fire(account=account(hard=n)).get("hard_bounce_rate|account")
    assert (got[0] if got else None) == expect


@pytest.mark.parametrize(
    ("n", "expect"), [(10, None), (11, "warning"), (30, "warning"), (31, "critical")]
)
def test_complaint_rate_0_1_and_0_3_percent(n: int, expect: str | None) -> None:
    got = fire(account=account(complaints=n)).get("complaint_rate|account")
    assert (got[0] if got else None) == expect
    if got:
        assert "the mailbox providers' limit" in got[1]


def test_small_volumes_do_not_alert() -> None:
    assert fire(account=account(sent=99, complaints=50, hard=50)) == {}
    assert fire(account=account(sent=1000, complaints=2)) == {}  # 0.2 %, but two is chance
    assert "complaint_rate|account" in fire(account=account(sent=1000, complaints=3))


def sub(
    sid: str, messages: int, complaints: int = 0, hard: int = 0, name: str = ""
) -> SubaccountRow:
    return SubaccountRow(sid, name or sid, "active", 80, messages, complaints, hard, messages)


def test_the_complaining_customer_is_named_and_outliers_found() -> None:
    subs = [
        sub("dandelion", 1450, complaints=10, name="Dandelion Deals"),
        sub("acme", 4000, complaints=1),
        sub("blue", 3000, complaints=0),
        sub("tiny", 50, complaints=5),  # too few messages to judge
    ]
    got = fire(subaccounts=subs)
    sev, msg = got["customer_complaints|customer dandelion"]
    assert sev == "critical" and msg.startswith("Dandelion Deals (dandelion): complaint rate")
    assert "0.690% (10 of 1,450 messages read, 7 d) is above 0.3%" in msg
    assert "customer_complaints|customer acme" not in got
    assert "customer_complaints|customer tiny" not in got
    sev, msg = got["customer_outlier|customer dandelion (complaint)"]
    assert "the other customers'" in msg
    # k× rule at its edge: 3× the others' rate exactly fires, just under does not
    at_edge = [sub("a", 1000, complaints=3), sub("b", 10_000, complaints=10)]
    assert "customer_outlier|customer a (complaint)" in fire(subaccounts=at_edge)
    under = [sub("a", 1000, complaints=3), sub("b", 10_000, complaints=11)]
    assert "customer_outlier|customer a (complaint)" not in fire(subaccounts=under)


def iprow(
    ip: str,
    sent: int,
    delivered: int,
    dedicated: bool = False,
    day: int | None = None,
    noisy: bool = False,
) -> IpRow:
    return IpRow(
        ip, "Main Pool" if dedicated else "shared", "", dedicated, day is not None, day, 30,
        None, sent, delivered, 0, 0, 0, delivered / sent if sent else None, noisy,
        "noisy neighbour: delivers 55%" if noisy else "",
    )  # fmt: skip


def test_ip_rules_noisy_warmup_and_rates() -> None:
    rows = [
        iprow("203.0.113.25", 5000, 4900, dedicated=True, day=12),
        iprow("198.51.100.13", 400, 220, noisy=True),
        iprow("198.51.100.10", 1400, 1380),
    ]
    states = {"198.51.100.10": Counter(sent=1380, spam=5, bounced=15)}
    got = fire(ips=rows, ip_states=states)
    assert got["noisy_neighbour|IP 198.51.100.13"][0] == "warning"
    assert "warmup_overload|IP 203.0.113.25" not in got  # day 12 plan 5,000 (+25 %)
    assert got["ip_complaint_rate|IP 198.51.100.10"][0] == "critical"  # 5/1400 = 0.36 %
    assert "ip_hard_bounce_rate|IP 198.51.100.10" not in got  # 1.07 %
    heavy = [replace(rows[0], sent=6251), rows[2]]
    assert (
        "6,251 messages (mail read, 24 h); the plan allows about 5,000"
        in fire(ips=heavy)["warmup_overload|IP 203.0.113.25"][1]
    )
    assert "warmup_overload|IP 203.0.113.25" not in fire(ips=[replace(rows[0], sent=6250)])
    worse = [replace(rows[0], delivered=4600, delivery_rate=0.92), rows[2]]
    assert "below the shared pool's" in fire(ips=worse)["warmup_underperform|IP 203.0.113.25"][1]


def test_blocklist_and_source_failing() -> None:
    listed = Listing(
        "bl.spamcop.net", "198.51.100.13", "listed", ("127.0.0.2",), "SpamCop", "", True
    )
    view = BlocklistView((listed,), (), 7)
    got = fire(blocklists=view)
    assert got["blocklist|198.51.100.13 on bl.spamcop.net"][0] == "critical"
    failing = {
        "account": SourceStatus("account", False, NOW - timedelta(minutes=16), error="timeout"),
        "ips": SourceStatus("ips", False, NOW - timedelta(minutes=14), error="timeout"),
        "messages": SourceStatus("messages", False, None, error="Invalid_Key", final=True),
    }
    got = fire(statuses=failing)
    assert got["source_failing|source account"] == (
        "warning",
        "account polls failing for 16 min: timeout",
    )
    assert "source_failing|source ips" not in got
    assert got["source_failing|source messages"][0] == "critical"


def seed(name: str, provider: str, placement: Placement, ip: str = "1.1.1.1") -> SeedResult:
    return SeedResult(name, provider, "", "", placement, NOW, source_ip=ip,
                      auth={"spf": "pass", "dkim": "pass", "dmarc": "pass"})  # fmt: skip


def test_seed_inbox_share_per_provider() -> None:
    run = SeedRun("r", NOW, (
        seed("g1", "gmail", "inbox", "203.0.113.25"), seed("g2", "gmail", "inbox", "203.0.113.25"),
        seed("g3", "gmail", "inbox", "203.0.113.25"), seed("g4", "gmail", "spam", "198.51.100.13"),
        seed("o1", "outlook", "inbox"), seed("y1", "yahoo", "rejected"),
    ))  # fmt: skip
    got = fire(seed_run=run)
    sev, msg = got["seed_inbox|seeds gmail"]  # 75 % < 80 %
    assert sev == "warning" and "all through 198.51.100.13" in msg
    assert "seed_inbox|seeds outlook" not in got
    assert got["seed_problem|seed y1"][0] == "critical"
    four_of_five = replace(
        run, results=(*run.results[:3], seed("g5", "gmail", "inbox"), run.results[3])
    )
    # one seed in spam is a warning whatever the share: the finding and the alert agree
    assert fire(seed_run=four_of_five)["seed_inbox|seeds gmail"][0] == "warning"
    other = replace(four_of_five, results=(*four_of_five.results[:4], seed("g4", "gmail", "other")))
    assert "seed_inbox|seeds gmail" not in fire(seed_run=other)  # 80 % is not below


def test_seed_findings_and_alerts_are_one_judgement() -> None:
    from console.analysis.seeds import seed_findings

    run = SeedRun("r", NOW, (
        seed("g1", "gmail", "inbox", "203.0.113.25"), seed("g2", "gmail", "spam", "198.51.100.13"),
        seed("g3", "gmail", "inbox"), seed("g4", "gmail", "inbox"), seed("g5", "gmail", "inbox"),
        seed("y1", "yahoo", "missing"), seed("o1", "outlook", "error"),
    ))  # fmt: skip
    alerts = {(sev, msg) for sev, msg in fire(seed_run=run).values()}
    assert alerts == {(f.severity, f.text) for f in seed_findings(run, NOW, A.seed_inbox_min)}


def test_lifecycle_open_update_escalate_ack_resolve() -> None:
    s1, covered = evaluate(AlertInputs(NOW, account=account(70)), T, A)
    r = reconcile((), s1, covered, NOW)
    [al] = r.alerts
    assert r.opened == (al,) and al.severity == "warning" and al.opened_at == NOW
    acked = acknowledge(al, "  told the customer  ", NOW + timedelta(minutes=1))
    later = NOW + timedelta(minutes=5)
    s2, covered = evaluate(AlertInputs(later, account=account(72)), T, A)
    r = reconcile((acked,), s2, covered, later)
    [al2] = r.alerts
    assert al2.opened_at == NOW and al2.updated_at == later and al2.ack_note == "told the customer"
    assert r.opened == ()  # a changed message is an update, not a new alert
    s3, covered = evaluate(AlertInputs(later, account=account(30)), T, A)
    r = reconcile((al2,), s3, covered, later)
    [al3] = r.alerts
    assert al3.severity == "critical" and al3.peak == "critical" and al3.acked_at is None
    assert r.opened == (al3,)  # escalation to critical notifies again
    # the account source failed: no data, so the alert stays open (unknown is not resolved)
    s4, covered = evaluate(AlertInputs(later), T, A)
    assert reconcile((al3,), s4, covered, later).alerts == (al3,)
    done = later + timedelta(hours=1)
    s5, covered = evaluate(AlertInputs(done, account=account(90)), T, A)
    r = reconcile((al3,), s5, covered, done)
    assert r.resolved[0].resolved_at == done and worst(r.alerts) == "ok"
    # firing again later is a new alert, the old one stays in history
    r2 = reconcile(r.alerts, s3, covered, done + timedelta(hours=1))
    assert len(r2.alerts) == 2 and r2.opened[0].id != al.id


def test_disabled_rules_neither_fire_nor_resolve() -> None:
    cfg = replace(A, disabled=("reputation_low",))
    signals, covered = evaluate(AlertInputs(NOW, account=account(10)), T, cfg)
    assert not any(s.rule == "reputation_low" for s in signals)
    assert "reputation_low" not in covered


def test_missing_seeds_warn_and_spam_is_critical() -> None:
    missing = SeedRun("r", NOW, (seed("y1", "yahoo", "missing"),))
    assert fire(seed_run=missing)["seed_inbox|seeds yahoo"][0] == "warning"
    spam = SeedRun("r", NOW, (seed("y1", "yahoo", "spam"), seed("y2", "yahoo", "inbox")))
    assert fire(seed_run=spam)["seed_inbox|seeds yahoo"][0] == "critical"


def test_each_failing_dns_check_is_its_own_alert() -> None:
    from console.model import DkimCheck, DmarcCheck, DomainDns, SpfCheck

    bad = DomainDns(
        "legacy.example",
        SpfCheck(False, error="too many lookups (11)"),
        (DkimCheck("mte1", False, "missing", error="no record"), DkimCheck("mte2", True, "cname")),
        DmarcCheck(True, policy="none"),
    )
    got = fire(dns=[bad])
    assert got["dns_auth|legacy.example SPF"] == (
        "critical",
        "legacy.example: SPF fails: too many lookups (11)",
    )
    assert got["dns_auth|legacy.example DKIM mte1"][0] == "critical"
    assert "dns_auth|legacy.example DKIM mte2" not in got
    assert got["dns_auth|legacy.example DMARC"][0] == "warning"
    good = replace(bad, spf=SpfCheck(True), dkim=(), dmarc=DmarcCheck(True, policy="reject"))
    assert fire(dns=[good]) == {}


def test_rounding_never_contradicts_the_threshold() -> None:
    from console.analysis.alerts import beside

    assert beside(0.0010004, 0.001) == ("0.10004%", "0.10000%")
    assert beside(0.02003, 0.02) == ("2.003%", "2.000%")
    assert beside(0.025, 0.02) == ("2.5%", "2.0%")


def test_a_rate_just_over_its_limit_prints_the_digits_that_show_it() -> None:
    from console.analysis.alerts import _rate_rules
    from console.config import AlertConfig

    out: list[Signal] = []
    _rate_rules(out, "complaints", "account", "complaint rate", 1_0004, 10_000_000,
                0.001, 0.003, "", AlertConfig())  # fmt: skip
    (sig,) = out
    assert "complaint rate 0.10004% (10,004 of 10,000,000) is above 0.10000%" in sig.message
    out = []
    _rate_rules(out, "complaints", "account", "complaint rate", 5, 1000, 0.001, 0.003, "",
                AlertConfig())  # fmt: skip
    assert "0.500% (5 of 1,000) is above 0.3%" in out[0].message


def test_an_alert_that_fires_again_in_the_same_second_gets_its_own_id() -> None:
    sig, covered = evaluate(AlertInputs(NOW, account=account(70)), T, A)
    first = reconcile((), sig, covered, NOW)
    quiet, _ = evaluate(AlertInputs(NOW, account=account(90)), T, A)
    gone = reconcile(first.alerts, quiet, covered, NOW)
    again = reconcile(gone.alerts, sig, covered, NOW)
    ids = [a.id for a in again.alerts]
    assert len(ids) == 2 and len(set(ids)) == 2


def test_every_rule_a_signal_names_is_declared_by_one_family() -> None:
    """A rule missing from its family would fire but never resolve (it is never 'covered')."""
    import re
    from pathlib import Path

    from console.analysis.alerts import FAMILIES, RULES

    root = Path(__file__).resolve().parents[2] / "console" / "analysis"
    named = set()
    for name in ("alerts.py", "seeds.py", "health.py"):
        text = (root / name).read_text()
        named |= set(re.findall(r'Signal\(\s*"(\w+)"', text))
        named |= set(re.findall(r'_rate_rules\(\s*out,\s*"(\w+)"', text))
    assert named and named <= set(RULES)
    declared = [r for _, rules, _ in FAMILIES for r in rules]
    assert len(declared) == len(set(declared))  # no rule in two families
