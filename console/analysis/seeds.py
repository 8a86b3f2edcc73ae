"""What seed runs say: placement per provider, the run-by-run strip, and who is at fault.

The point of seed testing is telling "Gmail spam-folders us" from "one shared
IP drags us down": `ip_split` and `seed_signals` compare, per provider, the
IPs that carried inbox messages with those that carried spam ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from console.analysis.health import Finding, Signal
from console.config import AlertConfig

if TYPE_CHECKING:
    from console.model import Placement, SeedResult, SeedRun, Severity

#: Placements, best first; a strip cell shows the worst placement of its run.
PLACEMENTS = ("inbox", "other", "missing", "spam", "rejected", "error")
PROVIDERS = ("gmail", "outlook", "yahoo", "other")
STRIP_RUNS = 14
#: the configured default, for callers without a config (the alerts pass theirs)
SEED_INBOX_MIN = AlertConfig.seed_inbox_min


@dataclass(frozen=True)
class ProviderRow:
    """One provider's line in the seed panel, for the latest run."""

    provider: str
    counts: dict[Placement, int] = field(default_factory=dict)  # placement → seeds
    total: int = 0
    auth: dict[str, str] = field(default_factory=dict)  # method → "pass" or "fail 1/2"…
    ips: tuple[str, ...] = ()
    spam_ips: tuple[str, ...] = ()
    strip: tuple[str, ...] = ()  # worst placement per run, oldest first ("" = not in that run)
    delay_s: float | None = None  # slowest arrival among found seeds


def sending_ip(r: SeedResult) -> str:
    """Mandrill's own record of the IP, else what the receiver's Received header says."""
    return r.source_ip or r.received_ip


def worst(placements: Sequence[str]) -> str:
    known = [p for p in placements if p in PLACEMENTS]
    if not known:
        return placements[0] if placements else ""
    return max(known, key=PLACEMENTS.index)


def _auth(results: Sequence[SeedResult]) -> dict[str, str]:
    out: dict[str, str] = {}
    found = [r for r in results if r.placement in ("inbox", "spam", "other")]
    for method in ("spf", "dkim", "dmarc"):
        values = [r.auth.get(method, "none") for r in found]
        if not values:
            continue
        bad = [v for v in values if v != "pass"]
        if not bad:
            out[method] = "pass"
        else:
            out[method] = f"{Counter(bad).most_common(1)[0][0]} {len(bad)}/{len(values)}"
    return out


def provider_rows(runs: Sequence[SeedRun]) -> list[ProviderRow]:
    """Rows for the providers in the latest run, each with the strip of recent runs."""
    if not runs:
        return []
    last = runs[-1]
    recent = list(runs)[-STRIP_RUNS:]
    seen = list(dict.fromkeys(r.provider for r in last.results))
    order = sorted(seen, key=lambda p: (PROVIDERS.index(p) if p in PROVIDERS else 99, p))
    return [_provider_row(provider, last, recent) for provider in order]


def _provider_row(provider: str, last: SeedRun, recent: Sequence[SeedRun]) -> ProviderRow:
    """One provider's placements, authentication and IPs in the last run, and its strip."""
    mine = [r for r in last.results if r.provider == provider]
    counts = Counter(r.placement for r in mine)
    strip = tuple(
        worst([r.placement for r in run.results if r.provider == provider]) for run in recent
    )
    delays = [r.delay_s for r in mine if r.delay_s is not None]
    return ProviderRow(
        provider,
        dict(counts),
        len(mine),
        _auth(mine),
        _sending_ips(mine),
        _sending_ips([r for r in mine if r.placement == "spam"]),
        strip,
        max(delays) if delays else None,
    )


def _sending_ips(results: Sequence[SeedResult]) -> tuple[str, ...]:
    """The IPs that carried these results, each once, in their order."""
    return tuple(dict.fromkeys(sending_ip(r) for r in results if sending_ip(r)))


def ip_split(results: Sequence[SeedResult]) -> dict[str, Counter[str]]:
    """Sending IP → placements of the found messages it carried."""
    out: dict[str, Counter[str]] = {}
    for r in results:
        ip = sending_ip(r)
        if ip and r.placement in ("inbox", "spam", "other"):
            out.setdefault(ip, Counter())[r.placement] += 1
    return out


def seed_signals(
    run: SeedRun, now: datetime, inbox_min: float, max_age_hours: float = 48
) -> list[Signal]:
    """The one judgement of a seed run: the alert rules, the IP panel, the placement
    screen, `seed-test` and `check` all show these. Any seed in spam is at least a
    warning (critical at half a provider's seeds); so is an inbox share below
    `inbox_min`. A run older than `max_age_hours` says only that."""
    when = f"seed test {run.run_at:%m-%d %H:%M} UTC"
    age_h = (now - run.run_at).total_seconds() / 3600
    if seed_run_stale(run, now, max_age_hours):
        text = f"the last {when} is {age_h:.0f} h old; is the schedule running?"
        return [Signal("seed_problem", "seeds", "warning", text)]
    out: list[Signal] = []
    for provider in dict.fromkeys(r.provider for r in run.results):
        mine = [r for r in run.results if r.provider == provider]
        out += _provider_signals(when, provider, mine, inbox_min)
    for r in run.results:
        out += _seed_problems(when, r)
    return out


def seed_run_stale(run: SeedRun, now: datetime, max_age_hours: float = 48) -> bool:
    """Too old to say anything about today's placement."""
    return (now - run.run_at).total_seconds() / 3600 > max_age_hours


def _provider_signals(
    when: str, provider: str, mine: Sequence[SeedResult], inbox_min: float
) -> list[Signal]:
    judged = [r for r in mine if r.placement not in ("error", "rejected")]
    if not judged:
        return []
    spam = [r for r in judged if r.placement == "spam"]
    missing = [r.seed for r in judged if r.placement == "missing"]
    inbox = sum(1 for r in judged if r.placement == "inbox") / len(judged)
    subject = f"seeds {provider}"
    low_inbox = not spam and inbox < inbox_min
    out = []
    if spam:
        out.append(_spam_signal(when, provider, spam, judged, inbox))
    if missing:
        out.append(_missing_signal(when, provider, missing, inbox, inbox_min, low_inbox=low_inbox))
    elif low_inbox:
        text = f"{when}: {provider} inbox {inbox:.0%} (below {inbox_min:.0%})"
        out.append(Signal("seed_inbox", subject, "warning", text))
    return out


def _spam_signal(
    when: str,
    provider: str,
    spam: Sequence[SeedResult],
    judged: Sequence[SeedResult],
    inbox: float,
) -> Signal:
    """Any seed in spam: a warning, critical at half the provider's seeds, with who is to
    blame (one IP or the provider)."""
    sev: Severity = "critical" if len(spam) * 2 >= len(judged) else "warning"
    text = f"{when}: {provider} {blame(spam, judged)} (inbox {inbox:.0%})"
    return Signal("seed_inbox", f"seeds {provider}", sev, text, "seed-spam")


def _missing_signal(
    when: str,
    provider: str,
    missing: Sequence[str],
    inbox: float,
    inbox_min: float,
    *,
    low_inbox: bool,
) -> Signal:
    """Mail that never came is a warning (a slow provider, a full box) until it is spam;
    with no spam and too little in the inbox (`low_inbox`) it is the inbox rule's."""
    subject = f"seeds {provider}"
    text = f"{when}: {provider} never received {', '.join(missing)}"
    if low_inbox:
        return Signal("seed_inbox", subject, "warning", f"{text}; inbox {inbox:.0%}, "
                      f"below {inbox_min:.0%}")  # fmt: skip
    return Signal("seed_problem", f"{subject} missing", "warning", text)


def _seed_problems(when: str, r: SeedResult) -> list[Signal]:
    subject = f"seed {r.seed}"
    out = []
    if r.placement == "rejected":
        text = f"{when}: Mandrill rejected {r.seed} ({r.error})"
        out.append(Signal("seed_problem", subject, "critical", text))
    elif r.placement == "error":
        text = f"{when}: {r.seed} could not be checked: {r.error}"
        out.append(Signal("seed_problem", subject, "warning", text))
    fails = [f"{m}={v}" for m, v in sorted(r.auth.items()) if v not in ("pass", "none")]
    if fails and r.placement in ("inbox", "spam", "other"):
        text = f"{when}: {r.seed} authentication {' '.join(fails)}"
        out.append(Signal("seed_problem", f"{subject} (auth)", "warning", text))
    return out


def seed_findings(
    run: SeedRun | None, now: datetime, inbox_min: float = SEED_INBOX_MIN
) -> list[Finding]:
    """`seed_signals` as findings (none without a run)."""
    if run is None or not run.results:
        return []
    return [Finding(s.severity, s.message, s.topic) for s in seed_signals(run, now, inbox_min)]


def blame(spam: Sequence[SeedResult], results: Sequence[SeedResult]) -> str:
    """'spam-foldered 2 of 3, all through 198.51.100.13; inbox through 203.0.113.25' and the
    like: one IP at fault, or the provider whatever the IP."""
    head = f"spam-foldered {len(spam)} of {len(results)}"
    split = ip_split(results)
    spam_ips = sorted(ip for ip, c in split.items() if c["spam"])
    clean_ips = sorted(ip for ip, c in split.items() if c["inbox"] and not c["spam"])
    if not spam_ips:
        return head
    if clean_ips:
        return (
            f"{head}, all through {', '.join(spam_ips)}; inbox through "
            f"{', '.join(clean_ips)}: the IP, not the content"
        )
    if len(spam_ips) > 1:
        return f"{head} across {', '.join(spam_ips)}: the provider distrusts the mail, not one IP"
    return f"{head}, through {spam_ips[0]}"


def seed_exit(run: SeedRun) -> int:
    """0 all in the inbox, 1 some not, 2 half or more in spam / missing / rejected,
    3 nothing could be checked at all."""
    results = run.results
    if not results or all(r.placement == "error" for r in results):
        return 3
    bad = sum(1 for r in results if r.placement in ("spam", "missing", "rejected"))
    if bad * 2 >= len(results):
        return 2
    if any(r.placement != "inbox" for r in results):
        return 1
    return 0


def inbox_shares(run: SeedRun) -> dict[str, float]:
    """Each provider's inbox share in one run, over its seeds that were judged (not errored
    or rejected), as the placement rules count it; providers with none judged left out."""
    out: dict[str, float] = {}
    for provider in dict.fromkeys(r.provider for r in run.results):
        judged = [
            r for r in run.results
            if r.provider == provider and r.placement not in ("error", "rejected")
        ]  # fmt: skip
        if judged:
            out[provider] = sum(1 for r in judged if r.placement == "inbox") / len(judged)
    return out
