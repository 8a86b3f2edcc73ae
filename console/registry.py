"""The data sets mailops reads, declared once: every list of them is derived from here.

Before this module the source names lived in seven hand-kept lists (the jobs, the poll
intervals' minimums, what `check` runs, which panels each status feeds, the actions'
re-polls, the test config) and they drifted: a source added to one was missing from
another. Now a source is one `SourceSpec`, and `tests/unit/test_registry.py` fails when
a name appears anywhere that does not come from it.

Pure declarations: importing this pulls in nothing but the standard library, so config,
analysis and the app can all read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

SourceName = Literal[
    "account",
    "ips",
    "messages",
    "rescan",
    "subaccounts",
    "rejects",
    "domains",
    "dns",
    "blocklists",
    "dmarc",
    "content",
    "postmaster",
    "seeds",
]
#: The module of console/polls/ that holds a source's `poll_<name>` function.
Family = Literal["mandrill", "dns", "reports", "content", "postmaster", "seeds"]
#: What must be configured for a source to run at all.
Needs = Literal["nothing", "dns", "content_checks", "postmaster", "seeds"]
#: The main screen's panels that show a source's age and failures.
Panel = Literal["reputation", "warmup", "feed", "dns", "seeds", "content"]
#: The confirmed actions (console/actions.py), each re-polling the source it changes.
ActionKind = Literal[
    "reject.delete",
    "ip.start_warmup",
    "ip.cancel_warmup",
    "subaccount.pause",
    "subaccount.resume",
]


@dataclass(frozen=True)
class SourceSpec:
    """One data set: where its poll lives, how often it may run, and who reads it."""

    name: SourceName
    #: where `poll_<name>` is: console/polls/<family>.py
    family: Family
    #: one line for the docs and the help: what a poll of it reads
    reads: str
    #: least seconds between polls accepted in `[mandrill.poll] <name>`; None: not on an
    #: interval (seed tests send real mail and run on their own schedule)
    minimum: float | None = 1.0
    #: seconds after start of its first poll; None: at once, in declaration order
    first_delay: float | None = None
    #: whether `mailops check` polls it (the rescan is covered by check's own window; the
    #: DMARC reports are read as the console stored them; seed tests send mail)
    in_check: bool = True
    needs: Needs = "nothing"
    #: the panels whose staleness follows this source's status
    panels: tuple[Panel, ...] = ()
    #: the actions after which it is polled again, to show their effect at once
    changed_by: tuple[ActionKind, ...] = ()
    #: a read of messages/search, whose completeness `check` reports
    reads_messages: bool = False


#: DNS sweeps wait a little after start, for Mandrill's IPs, domains and first messages.
DNS_FIRST_DELAY = 8.0

#: Postmaster Tools is daily data: its first read waits for the Mandrill ones.
POSTMASTER_FIRST_DELAY = 10.0

#: In the order the status line lists them.
SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec("account", "mandrill", "users/info: reputation, today's and 7 days' rates",
               panels=("reputation",)),
    SourceSpec("ips", "mandrill", "ips/list: dedicated IPs, pools, warm-up",
               panels=("warmup",), changed_by=("ip.start_warmup", "ip.cancel_warmup")),
    SourceSpec("messages", "mandrill", "messages/search: new messages and their states",
               panels=("warmup", "feed"), reads_messages=True),
    SourceSpec("rescan", "mandrill", "messages/search: late bounces and complaints",
               in_check=False, reads_messages=True),
    SourceSpec("subaccounts", "mandrill", "subaccounts/list: customers and their status",
               panels=("reputation",), changed_by=("subaccount.pause", "subaccount.resume")),
    SourceSpec("rejects", "mandrill", "rejects/list: the denylist",
               changed_by=("reject.delete",)),
    SourceSpec("domains", "mandrill", "senders/domains: sending domains as Mandrill sees them"),
    SourceSpec("dns", "dns", "SPF, DKIM, DMARC and MX of the sending domains",
               first_delay=DNS_FIRST_DELAY, needs="dns", panels=("dns",)),
    SourceSpec("blocklists", "dns", "DNSBL listings and reverse DNS of IPs and domains",
               first_delay=DNS_FIRST_DELAY, needs="dns", panels=("dns",)),
    SourceSpec("dmarc", "reports", "DMARC aggregate reports from a directory or mailbox",
               in_check=False),
    SourceSpec("content", "content", "SpamAssassin scores and lint of the content checks",
               needs="content_checks", panels=("content",)),
    SourceSpec("postmaster", "postmaster",
               "Gmail Postmaster Tools: Gmail's spam rate, auth, TLS, errors, compliance",
               minimum=60.0, first_delay=POSTMASTER_FIRST_DELAY, needs="postmaster"),
    SourceSpec("seeds", "seeds", "seed-inbox placement: sends and finds test messages",
               minimum=None, in_check=False, needs="seeds", panels=("seeds",)),
)  # fmt: skip

BY_NAME: dict[str, SourceSpec] = {s.name: s for s in SOURCES}


def spec(name: str) -> SourceSpec:
    """The declaration of `name`; a KeyError names the unknown source."""
    return BY_NAME[name]


def interval_sources() -> tuple[SourceName, ...]:
    """The sources polled on an interval: the fields of `[mandrill.poll]` named for one."""
    return tuple(s.name for s in SOURCES if s.minimum is not None)


def enabled(have: set[Needs]) -> tuple[SourceName, ...]:
    """The interval sources that run when what `have` names is configured."""
    ok = have | {"nothing"}
    return tuple(s.name for s in SOURCES if s.minimum is not None and s.needs in ok)


def panel_sources() -> dict[Panel, tuple[SourceName, ...]]:
    """Which statuses feed each panel: a panel is stale when one is failing or unpolled."""
    panels: tuple[Panel, ...] = get_args(Panel)
    return {p: tuple(s.name for s in SOURCES if p in s.panels) for p in panels}


def action_sources() -> dict[ActionKind, SourceName]:
    """Action kind → the source to poll again after it."""
    return {kind: s.name for s in SOURCES for kind in s.changed_by}


def message_reads() -> tuple[SourceName, ...]:
    return tuple(s.name for s in SOURCES if s.reads_messages)
