"""Deterministic scenario data: every message is a pure function of (seed, index).

Message i is sent at about start + i × (86400 / per_day) seconds, so the
messages in any time window are found by arithmetic instead of a stored list,
and a scenario can hold weeks of history or a million messages a day without
memory. What a message looks like *now* (deferred, then soft-bounced; sent,
then complained about) depends on the clock, which is how the simulator
produces the late state changes real Mandrill data has.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

HOSTILE_TEXTS = (
    "[bold red]PWNED[/bold red] [link=https://evil.example]click[/link]",
    "\x1b[31mred\x1b[0m \x1b]0;owned title\x07 \x1b]52;c;ZXZpbA==\x07 tail",
    "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\ \u202eevil\u202c \x00\x07\x9b2J",
    '=HYPERLINK("https://evil.example","invoice") \x85\x9d\u2066rtl\u2069',
    "@SUM(1+1) +cmd|' /C calc'!A0 -2+3 \ud800 lone surrogate",
)

#: A message state no documentation lists, as a hostile server might send it.
HOSTILE_STATE = "unsub\x1b]0;owned by state\x07\u202e"


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    share: float
    reputation: int
    hard: float = 0.006
    soft: float = 0.006
    reject: float = 0.002
    complaint: float = 0.0002
    unsub: float = 0.001
    deferred: float = 0.01


@dataclass(frozen=True)
class Outcome:
    """How message i goes: everything about it except what the clock has revealed."""

    index: int
    ts: int
    customer: Customer
    ip: str
    path: str  # delivered | hard | soft | reject | spam | unsub | deferred | block | tempfail
    delay: int  # seconds from send to the final state
    recipient: str
    subject: str
    rng_seed: int


DEFAULT_CUSTOMERS = (
    Customer("acme-shop", "ACME Shop", 0.35, 93),
    Customer("blue-bank", "Blue Bank", 0.25, 96, hard=0.003, complaint=0.0001),
    Customer("cloudcrm", "CloudCRM", 0.20, 88, hard=0.01),
    Customer("dandelion", "Dandelion Deals", 0.12, 61, hard=0.025, complaint=0.006, unsub=0.01),
    Customer("eagle-travel", "Eagle Travel", 0.08, 90),
)

_SUBJECTS = {
    "acme-shop": ("Your order #{n} has shipped", "Receipt for order #{n}"),
    "blue-bank": ("Your statement is ready", "Sign-in code {n}"),
    "cloudcrm": ("Reset your password", "Weekly pipeline summary"),
    "dandelion": ("Today only: 70% off!", "Deals picked for you"),
    "eagle-travel": ("Your booking {n} is confirmed", "Check in for your flight"),
}
_DOMAINS = ("gmail.com", "gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "corp.example")
_DEST_IP = {
    "gmail.com": "142.250.102.27",
    "outlook.com": "52.101.40.2",
    "hotmail.com": "52.101.40.3",
    "yahoo.com": "67.195.204.72",
    "corp.example": "192.0.2.25",
}


@dataclass(frozen=True)
class Scenario:
    name: str = "default"
    seed: int = 7
    per_day: int = 12_000
    start: datetime = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    history_days: int = 3
    username: str = "northwind-ops"
    customers: tuple[Customer, ...] = DEFAULT_CUSTOMERS
    dedicated_ip: str = "203.0.113.25"
    dedicated_domain: str = "mail25.northwind.mandrillapp.com"
    dedicated_pool: str = "Main Pool"
    warmup_day_at_start: int = 12
    warmup_days: int = 30
    shared_ips: tuple[str, ...] = (
        "198.51.100.10",
        "198.51.100.11",
        "198.51.100.12",
        "198.51.100.13",
        "198.51.100.14",
    )
    noisy_ip: str | None = "198.51.100.13"
    noisy_after: timedelta = timedelta(hours=1)
    noisy_block: float = 0.3
    noisy_tempfail: float = 0.25
    hostile: bool = False
    base_reputation: int = 84
    sender_domains: tuple[str, ...] = ("notify.northwind.example", "mail.northwind-legacy.example")
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def slot(self) -> float:
        return 86400.0 / self.per_day

    @property
    def warmup_start(self) -> datetime:
        return self.start - timedelta(days=self.warmup_day_at_start - 1)

    @property
    def warmup_end(self) -> datetime:
        return self.warmup_start + timedelta(days=self.warmup_days)

    @property
    def first_index(self) -> int:
        return -int(self.history_days * self.per_day)

    def _rng(self, i: int) -> random.Random:
        return random.Random(self.seed * 1_000_003 + i * 7919)

    def ts_of(self, i: int) -> int:
        """Send time of message i (non-decreasing in i)."""
        u = self._rng(i).random()
        return math.floor(self.start.timestamp() + (i + u) * self.slot)

    def index_range(self, a: float, b: float) -> range:
        """Indices whose send time may fall in [a, b] (a superset; callers filter)."""
        s = self.start.timestamp()
        lo = max(self.first_index, math.floor((a - s) / self.slot) - 1)
        hi = math.floor((b + 1 - s) / self.slot) + 1
        return range(lo, max(lo, hi + 1))

    def message_id(self, i: int) -> str:
        digest = hashlib.sha1(f"{self.seed}:{i}".encode()).hexdigest()[:20]
        return f"{digest}{i - self.first_index:012x}"

    def index_of(self, message_id: str) -> int | None:
        if len(message_id) != 32:
            return None
        try:
            i = int(message_id[20:], 16) + self.first_index
        except ValueError:
            return None
        return i if self.message_id(i) == message_id else None

    def warmup_share(self, when: datetime) -> float:
        """Share of traffic on the warming dedicated IP: grows from 10 % to all of it."""
        if when < self.warmup_start:
            return 0.0
        elapsed = (when - self.warmup_start).total_seconds() / 86400
        return min(1.0, 0.1 + 0.9 * elapsed / self.warmup_days)

    def outcome(self, i: int) -> Outcome:
        """Message i's fate: a pure function of the seed and i, so it is computed once and
        kept (seeding a generator per message made a 3-day rejects/list take 0.6 s)."""
        cache: dict[int, Outcome] | None = self.__dict__.get("_outcomes")
        if cache is None:
            cache = {}
            object.__setattr__(self, "_outcomes", cache)  # frozen, but this is memo only
        found = cache.get(i)
        if found is None:
            if len(cache) >= 400_000:
                cache.clear()
            found = cache[i] = self._outcome(i)
        return found

    def _outcome(self, i: int) -> Outcome:
        rng = self._rng(i)
        u_ts = rng.random()
        ts = math.floor(self.start.timestamp() + (i + u_ts) * self.slot)
        when = datetime.fromtimestamp(ts, UTC)
        r = rng.random()
        acc = 0.0
        cust = self.customers[-1]
        for c in self.customers:
            acc += c.share
            if r < acc:
                cust = c
                break
        if rng.random() < self.warmup_share(when):
            ip = self.dedicated_ip
        else:
            ip = self.shared_ips[int(rng.random() * len(self.shared_ips)) % len(self.shared_ips)]
        p = rng.random()
        noisy = ip == self.noisy_ip and when >= self.start + self.noisy_after
        path = "delivered"
        delay = 2 + int(rng.random() * 20)
        if noisy and p < self.noisy_block:
            path = "block"
        elif noisy and p < self.noisy_block + self.noisy_tempfail:
            path, delay = "tempfail", 7200
        else:
            q = rng.random()
            for name, rate in (
                ("hard", cust.hard),
                ("soft", cust.soft),
                ("reject", cust.reject),
                ("spam", cust.complaint),
                ("unsub", cust.unsub),
                ("deferred", cust.deferred),
            ):
                if q < rate:
                    path = name
                    break
                q -= rate
            if path == "soft":
                delay = 3 * 3600
            elif path == "spam":
                delay = 1800 + int(rng.random() * 6 * 3600)
            elif path == "unsub":
                delay = 600 + int(rng.random() * 3600)
            elif path == "deferred":
                delay = 900 + int(rng.random() * 1800)
        n = 1000 + int(rng.random() * 90000)
        local = f"user{int(rng.random() * 50000)}"
        domain = _DOMAINS[int(rng.random() * len(_DOMAINS)) % len(_DOMAINS)]
        subjects = _SUBJECTS.get(cust.id, ("Notification {n}",))
        subject = subjects[int(rng.random() * len(subjects)) % len(subjects)].format(n=n)
        return Outcome(
            i, ts, cust, ip, path, delay, f"{local}@{domain}", subject, rng.randrange(1 << 30)
        )

    def item(self, o: Outcome, now: datetime) -> dict[str, Any] | None:
        """The messages/search item for outcome o as seen at `now` (None: not sent yet)."""
        now_ts = int(now.timestamp())
        if o.ts > now_ts:
            return None
        if o.index % 500 == 0:  # Mandrill mixes SMS items into search results
            return {
                "ts": o.ts,
                "_id": self.message_id(o.index),
                "channel": "sms",
                "to": "+15555550100",
                "from": "+15555550199",
                "text": "Your code is 123456",
                "consent": "onetime",
                "tags": [],
                "opens": 0,
                "clicks": 0,
                "opens_detail": [],
                "clicks_detail": [],
                "state": "sent",
                "sms_events": [{"ts": o.ts + 1, "state": "sent"}],
            }
        final = now_ts >= o.ts + o.delay
        rng = random.Random(o.rng_seed)
        domain = o.recipient.rsplit("@", 1)[1]
        dest = _DEST_IP.get(domain, "192.0.2.25")
        hostile = self.hostile and rng.random() < 0.5
        state, diag, bounce_desc, reject = "sent", "", "", None
        events: list[dict[str, Any]] = []

        def ev(dt: int, typ: str, d: str, ip: str = o.ip, dst: str = dest) -> dict[str, Any]:
            return {
                "ts": o.ts + dt,
                "type": typ,
                "diag": d,
                "source_ip": ip,
                "destination_ip": dst,
                "size": 8000 + rng.randrange(20000),
            }

        ok = f"250 2.0.0 OK {o.ts} {o.index & 0xFFFF:x}.{domain} - gsmtp"
        path = o.path
        if path == "delivered":
            events.append(ev(2, "sent", ok))
        elif path == "hard":
            state = "bounced"
            diag = (
                "smtp;550 5.1.1 The email account that you tried to reach does not exist. "
                "Please try double-checking the recipient's email address for typos."
            )
            bounce_desc = "bad_mailbox"
            events.append(ev(3, "bounced", diag.removeprefix("smtp;")))
        elif path == "block":
            state = "bounced"
            diag = (
                f"smtp;550 5.7.1 Service unavailable, Client host [{o.ip}] blocked using "
                "zen.spamhaus.org; https://www.spamhaus.org/query/ip/" + o.ip
            )
            bounce_desc = "policy"
            events.append(ev(3, "bounced", diag.removeprefix("smtp;")))
        elif path in ("soft", "tempfail"):
            tmp = (
                f"421 4.7.0 [{o.ip}] Our system has detected an unusual rate of unsolicited mail "
                "originating from your IP address. To protect our users from spam, mail sent "
                "from your IP address has been temporarily rate limited."
            )
            if path == "soft":
                tmp = "452 4.2.2 The email account that you tried to reach is over quota."
            events.append(ev(5, "deferred", tmp))
            if final:
                state = "soft-bounced"
                diag = "smtp;552 5.2.2 The email account that you tried to reach is over quota."
                if path == "tempfail":
                    diag = "smtp;" + tmp
                bounce_desc = "mailbox_full" if path == "soft" else "general"
                events.append(ev(o.delay, "bounced", diag.removeprefix("smtp;")))
            else:
                state, diag = "deferred", tmp
        elif path == "reject":
            state = "rejected"
            # the hard bounce that put the address on the denylist, three days before
            earlier = datetime.fromtimestamp(o.ts - 3 * 86400, UTC)
            reject = {"reason": "hard-bounce", "last_event_at": f"{earlier:%Y-%m-%d %H:%M:%S}"}
            events = []
        elif path in ("spam", "unsub"):
            events.append(ev(2, "sent", ok))
            if final:
                state = path
        elif path == "deferred":
            tmp = "451 4.3.0 Mail server temporarily rejected message."
            events.append(ev(4, "deferred", tmp))
            if final:
                events.append(ev(o.delay, "sent", ok))
            else:
                state, diag = "deferred", tmp
        if hostile and state == "unsub" and rng.random() < 0.5:
            state = HOSTILE_STATE  # an unknown state: kept, and shown, as an open enum
        if hostile and state not in ("sent",):
            diag = (diag or "smtp;550 ") + " " + HOSTILE_TEXTS[rng.randrange(len(HOSTILE_TEXTS))]
            if events:
                events[-1]["diag"] = diag
        return {
            "ts": o.ts,
            "_id": self.message_id(o.index),
            "sender": f"no-reply@{self.sender_domains[0]}",
            "template": None,
            # hostile subjects lead with the text, so formula characters start a CSV cell
            "subject": o.subject
            if not hostile
            else HOSTILE_TEXTS[o.index % len(HOSTILE_TEXTS)] + " " + o.subject,
            "email": o.recipient,
            "tags": ["transactional", o.customer.id],
            "opens": 0,
            "opens_detail": [],
            "clicks": 0,
            "clicks_detail": [],
            "state": state,
            "metadata": {"customer": o.customer.id},
            "subaccount": o.customer.id,
            "diag": diag,
            "bounce_description": bounce_desc,
            "reject": reject,
            "resends": [],
            "smtp_events": events[-3:],
        }

    def reputation(self, now: datetime) -> int:
        """The account slides from base_reputation as the complaining customer keeps sending."""
        elapsed = max(0.0, (now - self.start).total_seconds() / 86400)
        return max(0, round(self.base_reputation - min(12.0, 4.0 * elapsed)))


SCENARIOS: dict[str, Scenario] = {
    "default": Scenario(),
    "quiet": Scenario(
        name="quiet",
        per_day=2_000,
        noisy_ip=None,
        customers=(Customer("acme-shop", "ACME Shop", 1.0, 95, hard=0.003, complaint=0.0),),
    ),
    "hostile": Scenario(
        name="hostile",
        hostile=True,
        # every name Mandrill sends back carries hostile text too
        username="northwind " + HOSTILE_TEXTS[1],
        dedicated_pool="Main Pool " + HOSTILE_TEXTS[2],
        customers=tuple(
            replace(c, name=f"{c.name} {HOSTILE_TEXTS[i % len(HOSTILE_TEXTS)]}")
            for i, c in enumerate(Scenario().customers)
        ),
    ),
    "heavy": Scenario(name="heavy", per_day=1_000_000, history_days=1),
}


def scenario_named(name: str, **overrides: Any) -> Scenario:
    try:
        base = SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})") from None
    return replace(base, **overrides) if overrides else base
