"""The simulator's API logic (`Simulator`) and its HTTP front (`SimServer`).

It speaks Mandrill's documented wire format: POST `<group>/<method>.json`
with the key in a JSON (or form) body; errors as `{"status":"error",...}` in
the current 4xx style or the legacy all-HTTP-500 style. Faults are injected
from `Knobs` so tests can exercise every failure the client must survive.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from console.sim.query import QueryError, compile_query, ts_bounds
from console.sim.scenario import Outcome, Scenario
from console.timeutil import Clock, to_mandrill_time

DEMO_KEY = "sim-demo-key-7f3a9c"

#: name → (current HTTP status, current code, legacy code)
ERRORS: dict[str, tuple[int, int, int]] = {
    "Invalid_Key": (401, 401, -1),
    "ValidationError": (422, -2, -1),
    "GeneralError": (500, -1, -1),
    "ServiceUnavailable": (503, -2, -1),
    "RequestLimitExceeded": (429, 429, -1),
    "Unknown_Message": (404, 11, 11),
    "Unknown_IP": (404, 13, 13),
    "Unknown_Subaccount": (404, 12, 12),
    "Invalid_Reject": (404, 4, 4),
    "Unknown_Template": (404, 5, 5),
    "PaymentRequired": (402, 10, 10),
}


@dataclass
class Knobs:
    """Fault injection, changed live by tests (all rates are 0..1 per call)."""

    latency: float = 0.0
    error_rate: float = 0.0
    error_rates: dict[str, float] = field(default_factory=dict)
    error_name: str = "GeneralError"
    error_style: str = "current"  # "current" (4xx/5xx by kind) or "legacy" (HTTP 500 for all)
    invalid_key: bool = False
    malformed_rate: float = 0.0
    truncated_rate: float = 0.0
    bare_5xx_rate: float = 0.0
    reset_rate: float = 0.0
    stall_rate: float = 0.0  # answer only after stall_seconds (a client timeout)
    stall_seconds: float = 0.0
    search_per_minute: int = 0  # 0: no rate limit
    #: "newest" (newest first, as Mandrill answers) or "shuffled" (a page in no order)
    search_order: str = "newest"
    fail_next: dict[str, int] = field(default_factory=dict)  # method → calls left to fail
    #: method → how its answer's body misbehaves: "endless" (chunked, never ends),
    #: "huge" (a valid JSON array of huge_bytes, Content-Length announced), "undeclared"
    #: (the same without Content-Length), "trickle" (the real answer, one byte every
    #: trickle_seconds), "deep" (an array nested deeper than any parser follows)
    body_faults: dict[str, str] = field(default_factory=dict)
    huge_bytes: int = 200 * 1024 * 1024
    trickle_seconds: float = 5.0
    seed: int = 1


@dataclass(frozen=True)
class SentMessage:
    """A message accepted by the simulator's messages/send, as a mailbox would receive it."""

    message_id: str
    email: str
    raw: bytes  # RFC 5322 text, with the headers a receiver adds
    folder: str  # where the scenario files it: INBOX or Junk
    source_ip: str
    ts: int


class ApiError(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


class Simulator:
    """Answers API methods from a Scenario at the clock's current scenario time."""

    def __init__(self, scenario: Scenario, clock: Clock, *, key: str = DEMO_KEY) -> None:
        self.scenario = scenario
        self.clock = clock
        self.key = key
        self.knobs = Knobs()
        self.calls: Counter[str] = Counter()
        self._fault_rng = random.Random(1)
        self._lock = threading.Lock()
        self._search_times: list[float] = []
        self._day_cache: dict[str, dict[str, int]] = {}
        self.sent: dict[str, SentMessage] = {}
        #: Where sent messages go: a test appends them to Dovecot, the demo to memory.
        self.deliver: Callable[[SentMessage], None] | None = None
        #: Recipients messages/send rejects (as if on the denylist), e.g. to test rejects.
        self.denylist: set[str] = set()
        #: What the console's actions changed: removed rejects, warm-up, paused customers.
        self.deleted_rejects: set[str] = set()
        self.warmup_window: tuple[datetime, datetime] | None = (
            scenario.warmup_start,
            scenario.warmup_end,
        )
        self.paused: set[str] = set()

    def reset_faults(self, seed: int = 1) -> None:
        self.knobs = Knobs(seed=seed)
        self._fault_rng = random.Random(seed)

    # -- fault decisions ----------------------------------------------------------

    def roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return self._fault_rng.random() < rate

    def injected_error(self, method: str) -> str | None:
        with self._lock:
            left = self.knobs.fail_next.get(method, 0)
            if left > 0:
                self.knobs.fail_next[method] = left - 1
                return self.knobs.error_name
        rate = self.knobs.error_rates.get(method, self.knobs.error_rate)
        return self.knobs.error_name if self.roll(rate) else None

    # -- dispatch ----------------------------------------------------------------

    def handle(self, method: str, params: dict[str, Any]) -> Any:
        self.calls[method] += 1
        if not params.get("key"):
            raise ApiError("ValidationError", "You must specify a key value")
        if self.knobs.invalid_key or params.get("key") != self.key:
            raise ApiError("Invalid_Key", "Invalid API key")
        handler = getattr(self, "m_" + method.replace("/", "_").replace("-", "_"), None)
        if handler is None:
            raise ApiError("ValidationError", f"Unknown method {method}")
        return handler(params)

    # -- users --------------------------------------------------------------------

    def m_users_ping(self, p: dict[str, Any]) -> Any:
        return "PONG!"

    def m_users_ping2(self, p: dict[str, Any]) -> Any:
        return {"PING": "PONG!"}

    def m_users_info(self, p: dict[str, Any]) -> Any:
        now = self.clock()
        sc = self.scenario
        today = self._stats_between(now.replace(hour=0, minute=0, second=0, microsecond=0), now)
        last7 = self._stats_between(now - timedelta(days=7), now)
        last30 = self._stats_between(now - timedelta(days=30), now)
        return {
            "username": sc.username,
            "created_at": "2021-03-04 10:11:12",
            "public_id": "sIm-PuBlIc-Id",
            "reputation": sc.reputation(now),
            "hourly_quota": 2500,
            "backlog": 0,
            "stats": {
                "today": today,
                "last_7_days": last7,
                "last_30_days": last30,
                "last_60_days": last30,
                "last_90_days": last30,
                "all_time": last30,
            },
        }

    def _stats_between(self, a: datetime, b: datetime) -> dict[str, int]:
        """Aggregate outcomes by whole cached UTC days plus a computed partial day."""
        total: Counter[str] = Counter()
        day = a.replace(hour=0, minute=0, second=0, microsecond=0)
        while day <= b:
            lo, hi = max(a, day), min(b, day + timedelta(days=1) - timedelta(seconds=1))
            whole = lo == day and hi == day + timedelta(days=1) - timedelta(seconds=1)
            key = day.date().isoformat()
            settled = b >= day + timedelta(days=1, hours=8)
            if whole and settled and key in self._day_cache:
                total.update(self._day_cache[key])
            else:
                counts = self._count(lo, hi, b)
                if whole and settled:
                    self._day_cache[key] = counts
                total.update(counts)
            day += timedelta(days=1)
        keys = (
            "sent",
            "hard_bounces",
            "soft_bounces",
            "rejects",
            "complaints",
            "unsubs",
            "opens",
            "unique_opens",
            "clicks",
            "unique_clicks",
        )
        return {k: int(total.get(k, 0)) for k in keys}

    def _count(self, a: datetime, b: datetime, now: datetime) -> dict[str, int]:
        sc = self.scenario
        rng = sc.index_range(a.timestamp(), b.timestamp())
        step = max(1, len(rng) // 20000)  # sample huge scenarios instead of walking them all
        c: Counter[str] = Counter()
        for i in rng[::step]:
            o = sc.outcome(i)
            if not (a.timestamp() <= o.ts <= b.timestamp()) or o.ts > now.timestamp():
                continue
            final = now.timestamp() >= o.ts + o.delay
            c["sent"] += step
            if o.path in ("hard", "block"):
                c["hard_bounces"] += step
            elif o.path in ("soft", "tempfail") and final:
                c["soft_bounces"] += step
            elif o.path == "reject":
                c["rejects"] += step
            elif o.path == "spam" and final:
                c["complaints"] += step
            elif o.path == "unsub" and final:
                c["unsubs"] += step
        return dict(c)

    # -- ips -----------------------------------------------------------------------

    def _ip_object(self) -> dict[str, Any]:
        sc = self.scenario
        window = self.warmup_window
        warming = window is not None and self.clock() < window[1]
        start, end = window if window is not None and warming else (None, None)
        return {
            "ip": sc.dedicated_ip,
            "created_at": to_mandrill_time(sc.warmup_start - timedelta(days=2)),
            "pool": sc.dedicated_pool,
            "domain": sc.dedicated_domain,
            "custom_dns": {"enabled": True, "valid": True, "error": None},
            "warmup": {
                "warming_up": warming,
                "start_at": to_mandrill_time(start) if start else None,
                "end_at": to_mandrill_time(end) if end else None,
            },
        }

    def _known_ip(self, p: dict[str, Any]) -> None:
        if not p.get("ip"):
            raise ApiError("ValidationError", "Validation error: ip is required")
        if p.get("ip") != self.scenario.dedicated_ip:
            raise ApiError("Unknown_IP", f"No IP {p.get('ip')!r} exists on this account")

    def m_ips_start_warmup(self, p: dict[str, Any]) -> Any:
        self._known_ip(p)
        now = self.clock()
        self.warmup_window = (now, now + timedelta(days=30))
        return self._ip_object()

    def m_ips_cancel_warmup(self, p: dict[str, Any]) -> Any:
        self._known_ip(p)
        self.warmup_window = None
        return self._ip_object()

    def m_ips_list(self, p: dict[str, Any]) -> Any:
        return [self._ip_object()]

    def m_ips_info(self, p: dict[str, Any]) -> Any:
        if p.get("ip") != self.scenario.dedicated_ip:
            raise ApiError("Unknown_IP", f"No IP {p.get('ip')!r} exists on this account")
        return self._ip_object()

    # -- messages ------------------------------------------------------------------

    def _throttle_search(self) -> None:
        """Mandrill's rate limit on searches, when the knob sets one: so many a minute."""
        if self.knobs.search_per_minute:
            with self._lock:
                t = time.monotonic()
                self._search_times = [x for x in self._search_times if t - x < 60]
                if len(self._search_times) >= self.knobs.search_per_minute:
                    raise ApiError("RequestLimitExceeded", "Too many searches attempted recently")
                self._search_times.append(t)

    @staticmethod
    def _search_limit(p: dict[str, Any]) -> int:
        """The `limit` asked for (100 when none), kept within Mandrill's 1..1000."""
        try:
            limit = int(p.get("limit") or 100)
        except (TypeError, ValueError):
            raise ApiError("ValidationError", "limit must be an integer") from None
        return max(1, min(limit, 1000))

    def _search_window(self, p: dict[str, Any], query: str, now: datetime) -> tuple[float, float]:
        """The timestamps searched: the last 7 days, or the days from date_from to date_to,
        narrowed by the query's own ts bounds, and never past now."""
        lo, hi = (now - timedelta(days=7)).timestamp(), now.timestamp()
        if p.get("date_from") or p.get("date_to"):
            lo = self._date(p.get("date_from"), (now - timedelta(days=7))).timestamp()
            hi = self._date(p.get("date_to"), now).timestamp() + 86399
        bounds = ts_bounds(query)
        if bounds:
            lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
        return lo, min(hi, now.timestamp())

    def m_messages_search(self, p: dict[str, Any]) -> Any:
        self._throttle_search()
        query = str(p.get("query") or "*")
        try:
            pred = compile_query(query)
        except QueryError as exc:
            raise ApiError("ValidationError", f"Validation error: {exc}") from None
        limit = self._search_limit(p)
        now = self.clock()
        lo, hi = self._search_window(p, query, now)
        out: list[dict[str, Any]] = []
        sc = self.scenario
        for i in reversed(sc.index_range(lo, hi)):  # newest first, as Mandrill answers
            o = sc.outcome(i)
            if not (lo <= o.ts <= hi):
                continue
            item = sc.item(o, now)
            if item is not None and pred(item):
                out.append(item)
                if len(out) >= limit:
                    break
        if self.knobs.search_order == "shuffled":
            random.Random(self.knobs.seed).shuffle(out)
        return out

    def _date(self, value: Any, default: datetime) -> datetime:
        if not value:
            return default
        text = str(value)[:10]
        try:
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise ApiError("ValidationError", f"Validation error: bad date {value!r}") from None

    def m_messages_send(self, p: dict[str, Any]) -> Any:
        message = p.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("to"), list):
            raise ApiError("ValidationError", "Validation error: message.to must be an array")
        sub = message.get("subaccount")
        if sub and sub not in {c.id for c in self.scenario.customers}:
            raise ApiError("Unknown_Subaccount", f"No subaccount exists with the id '{sub}'")
        now = self.clock()
        out = []
        for i, rcpt in enumerate(message["to"]):
            email = str(rcpt.get("email", "")) if isinstance(rcpt, dict) else ""
            with self._lock:
                n = len(self.sent) + i
            mid = hashlib.sha1(f"send:{self.scenario.seed}:{n}:{email}".encode()).hexdigest()[:32]
            if "@" not in email:
                out.append({"email": email, "status": "invalid", "_id": mid, "reject_reason": None})
                continue
            if email.lower() in self.denylist:
                out.append(
                    {
                        "email": email,
                        "status": "rejected",
                        "_id": mid,
                        "reject_reason": "hard-bounce",
                    }
                )
                continue
            sent = self._file(mid, email, message, now, n)
            with self._lock:
                self.sent[mid] = sent
            if self.deliver is not None:
                self.deliver(sent)
            out.append({"email": email, "status": "sent", "_id": mid, "reject_reason": None})
        return out

    #: Templates the simulated account has (slug → default subject).
    TEMPLATES: dict[str, str] = {
        "order-receipt": "Your order receipt",
        "password-reset": "Reset your password",
    }

    #: Template bodies (merge tags in *|NAME|* form), for templates/render.
    TEMPLATE_HTML: dict[str, str] = {
        "order-receipt": (
            "<html><body><p>Hi *|CUSTOMER|*,</p><p>Thanks for your order *|ORDER|*. "
            'Total: *|TOTAL|*.</p><p><a href="https://click.northwind.example/o/*|ORDER|*">'
            "View your order</a></p></body></html>"
        ),
        "password-reset": (
            '<html><body><p>Reset your password: <a href="https://notify.northwind.example/r/'
            '*|TOKEN|*">reset</a>. It expires in one hour.</p></body></html>'
        ),
    }

    def m_templates_list(self, p: dict[str, Any]) -> Any:
        return [
            {
                "slug": slug,
                "name": slug.replace("-", " ").title(),
                "subject": subject,
                "from_email": None,
                "from_name": None,
                "text": None,
                "code": self.TEMPLATE_HTML.get(slug, ""),
                "publish_name": slug.replace("-", " ").title(),
                "publish_code": self.TEMPLATE_HTML.get(slug, ""),
                "publish_subject": subject,
                "publish_from_email": None,
                "publish_from_name": None,
                "publish_text": None,
                "labels": [],
                "created_at": "2025-09-01 09:00:00",
                "updated_at": "2026-10-01 09:00:00",
                "draft_updated_at": "2026-10-01 09:00:00",
                "published_at": "2026-10-01 09:00:00",
                "is_broken_template": False,
            }
            for slug, subject in self.TEMPLATES.items()
        ]

    def m_templates_render(self, p: dict[str, Any]) -> Any:
        name = str(p.get("template_name") or "")
        if name not in self.TEMPLATE_HTML:
            raise ApiError("Unknown_Template", f'No such template "{name}"')
        html = self.TEMPLATE_HTML[name]
        for var in p.get("merge_vars") or []:
            if isinstance(var, dict):
                html = html.replace(
                    f"*|{str(var.get('name', '')).upper()}|*", str(var.get("content", ""))
                )
        return {"html": html}

    def m_messages_send_template(self, p: dict[str, Any]) -> Any:
        name = str(p.get("template_name") or "")
        if name not in self.TEMPLATES:
            raise ApiError("Unknown_Template", f'No such template "{name}"')
        message = dict(p.get("message") or {})
        message.setdefault("subject", self.TEMPLATES[name])
        message.setdefault("text", f"(rendered from template {name})")
        return self.m_messages_send({**p, "message": message})

    def _file(
        self, mid: str, email: str, message: dict[str, Any], now: datetime, n: int
    ) -> SentMessage:
        """Pick the sending IP as the scenario would, and the folder a receiver would use:
        Gmail files mail from the noisy shared IP as spam while its trouble lasts."""
        sc = self.scenario
        rng = random.Random(f"{sc.seed}:{n}")
        if rng.random() < sc.warmup_share(now):
            ip = sc.dedicated_ip
        else:
            ip = sc.shared_ips[rng.randrange(len(sc.shared_ips))]
        noisy = ip == sc.noisy_ip and now >= sc.start + sc.noisy_after
        domain = email.rsplit("@", 1)[1].lower()
        folder = "Junk" if noisy and "gmail" in domain else "INBOX"
        sender = str(message.get("from_email") or f"no-reply@{sc.sender_domains[0]}")
        last = ip.rsplit(".", 1)[-1]
        host = sc.dedicated_domain if ip == sc.dedicated_ip else f"mta{last}.shared.mandrillapp.com"
        headers = {str(k): str(v) for k, v in (message.get("headers") or {}).items()}
        lines = [
            f"Authentication-Results: mx.{domain}; dkim=pass header.i=@{sender.split('@')[-1]} "
            f"header.s=mte1; spf=pass smtp.mailfrom={sender}; dmarc=pass header.from="
            f"{sender.split('@')[-1]}",
            f"Received: from {host} ({host}. [{ip}]) by mx.{domain} with ESMTPS id {mid[:12]}",
            f"Received: by 2002:a05:6a10::{mid[:4]} with SMTP id {mid[4:16]}",
            f"From: {sender}",
            f"To: {email}",
            f"Subject: {message.get('subject', '')}",
            f"Message-ID: <{mid}@mandrillapp.com>",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        body = str(message.get("text") or "")
        raw = ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode("utf-8", "replace")
        return SentMessage(mid, email, raw, folder, ip, int(now.timestamp()))

    def m_messages_info(self, p: dict[str, Any]) -> Any:
        mid = str(p.get("id") or "")
        sent = self.sent.get(mid)
        if sent is not None:
            return {
                "ts": sent.ts,
                "_id": mid,
                "email": sent.email,
                "state": "sent",
                "subject": "",
                "sender": "",
                "tags": [],
                "subaccount": "",
                "smtp_events": [
                    {
                        "ts": sent.ts + 2,
                        "type": "sent",
                        "diag": "250 2.0.0 OK",
                        "source_ip": sent.source_ip,
                        "destination_ip": "192.0.2.1",
                        "size": len(sent.raw),
                    }
                ],
            }
        i = self.scenario.index_of(mid)
        item = None
        if i is not None:
            item = self.scenario.item(self.scenario.outcome(i), self.clock())
        if item is None:
            raise ApiError("Unknown_Message", f"No message exists with the id '{mid}'")
        return item

    # -- rejects, subaccounts, senders ---------------------------------------------------

    def m_rejects_delete(self, p: dict[str, Any]) -> Any:
        email = str(p.get("email") or "")
        if not email:
            raise ApiError("ValidationError", "Validation error: email is required")
        sub = p.get("subaccount") or None
        if sub and sub not in {c.id for c in self.scenario.customers}:
            raise ApiError("Unknown_Subaccount", f"No subaccount exists with the id '{sub}'")
        if not self.m_rejects_list({"email": email, "subaccount": sub}):
            raise ApiError("Invalid_Reject", f"Email {email!r} is not in the rejection list")
        with self._lock:
            self.deleted_rejects.add(email.lower())
        out: dict[str, Any] = {"email": email, "deleted": True}
        if sub:  # a string in the spec: absent, not null, when there is none
            out["subaccount"] = sub
        return out

    def _on_reject_list(self, o: Outcome, now: datetime, email: Any, sub: Any) -> bool:
        """Whether the outcome put its recipient on the rejection list by now (a hard bounce
        or block at once, a complaint once made), matches the filters and was not deleted."""
        if o.ts > now.timestamp() or o.path not in ("hard", "block", "spam"):
            return False
        if o.path == "spam" and now.timestamp() < o.ts + o.delay:
            return False
        if (email and o.recipient != email) or (sub and o.customer.id != sub):
            return False
        return o.recipient.lower() not in self.deleted_rejects

    def _reject_entry(self, o: Outcome, now: datetime) -> dict[str, Any]:
        """The rejection list's entry for the outcome's recipient, as rejects/list gives it."""
        at = datetime.fromtimestamp(o.ts + o.delay, UTC)
        item = self.scenario.item(o, now) or {}
        return {
            "email": o.recipient,
            "reason": "spam" if o.path == "spam" else "hard-bounce",
            "detail": str(item.get("diag", "")).removeprefix("smtp;"),
            "created_at": to_mandrill_time(at),
            "last_event_at": to_mandrill_time(at),
            "expires_at": to_mandrill_time(at + timedelta(days=30)),
            "expired": False,
            "subaccount": o.customer.id,
            "sender": None,
        }

    def m_rejects_list(self, p: dict[str, Any]) -> Any:
        now = self.clock()
        sc = self.scenario
        email = p.get("email")
        sub = p.get("subaccount")
        if sub and sub not in {c.id for c in sc.customers}:
            raise ApiError("Unknown_Subaccount", f"No subaccount exists with the id '{sub}'")
        out = []
        for i in reversed(sc.index_range((now - timedelta(days=3)).timestamp(), now.timestamp())):
            o = sc.outcome(i)
            if not self._on_reject_list(o, now, email, sub):
                continue
            out.append(self._reject_entry(o, now))
            if len(out) >= 1000:
                break
        return out

    def m_subaccounts_list(self, p: dict[str, Any]) -> Any:
        now = self.clock()
        sc = self.scenario
        q = str(p.get("q") or "")
        elapsed = max(0.0, (now - sc.start).total_seconds() / 86400)
        week_days = now.weekday() + now.hour / 24
        out = []
        for c in sc.customers:
            if q and not (c.id.startswith(q) or c.name.startswith(q)):
                continue
            rep = c.reputation - (round(min(20.0, 6 * elapsed)) if c.complaint > 0.002 else 0)
            out.append(
                {
                    "id": c.id,
                    "name": c.name,
                    "status": "paused" if c.id in self.paused else "active",
                    "reputation": max(0, rep),
                    "created_at": "2025-08-29 18:48:02.82578",
                    "first_sent_at": "2025-09-01 09:00:00",
                    "sent_weekly": int(sc.per_day * c.share * week_days),
                    "sent_monthly": int(sc.per_day * c.share * (now.day - 1 + now.hour / 24)),
                    "sent_total": int(sc.per_day * c.share * 400),
                }
            )
        return out

    def _pause(self, p: dict[str, Any], paused: bool) -> Any:
        sid = str(p.get("id") or "")
        if sid not in {c.id for c in self.scenario.customers}:
            raise ApiError("Unknown_Subaccount", f"No subaccount exists with the id '{sid}'")
        with self._lock:
            (self.paused.add if paused else self.paused.discard)(sid)
        return next(s for s in self.m_subaccounts_list({}) if s["id"] == sid)

    def m_subaccounts_pause(self, p: dict[str, Any]) -> Any:
        return self._pause(p, True)

    def m_subaccounts_resume(self, p: dict[str, Any]) -> Any:
        return self._pause(p, False)

    def m_senders_domains(self, p: dict[str, Any]) -> Any:
        good, legacy = self.scenario.sender_domains
        return [
            {
                "domain": good,
                "created_at": "2025-04-15 13:22:49",
                "last_tested_at": to_mandrill_time(self.clock()),
                # the spec types error and valid_after as strings: absent when there is none
                "spf": {"valid": True, "valid_after": "2025-04-15 14:00:00"},
                "dkim": {"valid": True, "valid_after": "2025-04-15 13:00:00"},
                "dkim2": {"valid": True, "valid_after": "2025-04-15 13:00:00"},
                "dmarc": {"valid": True},
                "verified_at": "2025-04-20 13:00:00",
                "valid_signing": True,
                "verify_txt_key": "wtwm-d3lEsGLX6yeb24weA",
            },
            {
                "domain": legacy,
                "created_at": "2023-01-10 10:00:00",
                "last_tested_at": to_mandrill_time(self.clock()),
                "spf": {"valid": True},
                "dkim": {
                    "valid": False,
                    "error": "does not match the required CNAME target of dkim1.mandrillapp.com",
                },
                "dkim2": {"valid": False, "error": "no CNAME found"},
                "dmarc": {
                    "valid": False,
                    "error": "The record doesn't begin with a valid version tag.",
                },
                "verified_at": "2023-01-11 09:00:00",
                "valid_signing": False,
                "verify_txt_key": "aBcD-legacy",
            },
        ]


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    # headers and body go out as two writes: with Nagle on, the second waits for the
    # client's delayed ACK, 40 ms a request on loopback
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # request lines would carry nothing useful and clutter the console

    def do_GET(self) -> None:
        sim = self.server.sim
        body = json.dumps(
            {
                "simulator": "mailops Mandrill simulator",
                "scenario": sim.scenario.name,
                "scenario_time": to_mandrill_time(sim.clock()),
            }
        ).encode()
        self._send(200, body)

    def do_POST(self) -> None:
        sim = self.server.sim
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0].strip("/")
        if path.startswith("api/"):
            path = path.split("/", 2)[2] if path.count("/") >= 2 else ""
        method = path.removesuffix(".json")
        knobs = sim.knobs
        if knobs.latency:
            time.sleep(knobs.latency)
        if sim.roll(knobs.stall_rate):
            time.sleep(knobs.stall_seconds)
        if sim.roll(knobs.reset_rate):
            self.close_connection = True
            self.connection.close()
            return
        if sim.roll(knobs.bare_5xx_rate):
            self._send(502, b"<html>502 Bad Gateway</html>", "text/html")
            return
        params = self._params(raw)
        injected = sim.injected_error(method)
        try:
            if injected:
                sim.calls[method] += 1
                raise ApiError(injected, f"Simulated {injected}")
            result = sim.handle(method, params)
        except ApiError as exc:
            self._error(exc)
            return
        except Exception as exc:  # a simulator bug must not look like a hang
            self._error(ApiError("GeneralError", f"simulator failure: {type(exc).__name__}"))
            return
        body = json.dumps(result).encode()
        fault = knobs.body_faults.get(method)
        if fault:
            self._misbehave(fault, body)
            return
        if sim.roll(knobs.malformed_rate):
            body = b"{'this is': not json"
        elif sim.roll(knobs.truncated_rate):
            body = body[: max(1, len(body) // 2)]
        self._send(200, body)

    def _misbehave(self, fault: str, body: bytes) -> None:
        """Answer with a hostile body (see Knobs.body_faults) until done or the client leaves."""
        knobs = self.server.sim.knobs
        chunk = b'"' + b"x" * 65534 + b'",'
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if fault == "endless":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.write(b"1\r\n[\r\n")
                frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
                while True:
                    self.wfile.write(frame)
            elif fault in ("huge", "undeclared"):
                n = max(1, knobs.huge_bytes // len(chunk))
                if fault == "huge":
                    self.send_header("Content-Length", str(1 + n * len(chunk) + 3))
                else:
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(b"[")
                for _ in range(n):
                    self.wfile.write(chunk)
                self.wfile.write(b"1]\n")
            elif fault == "trickle":
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for i in range(len(body)):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(knobs.trickle_seconds)
            elif fault == "deep":
                deep = b"[" * 100_000 + b"]" * 100_000
                self.send_header("Content-Length", str(len(deep)))
                self.end_headers()
                self.wfile.write(deep)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def _params(self, raw: bytes) -> dict[str, Any]:
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype or raw.lstrip().startswith(b"{"):
            try:
                data = json.loads(raw or b"{}")
            except ValueError:
                return {}
            return data if isinstance(data, dict) else {}
        form = parse_qs(raw.decode("utf-8", "replace"))
        return {k: v[0] for k, v in form.items()}

    def _error(self, exc: ApiError) -> None:
        status, code, legacy = ERRORS.get(exc.name, (500, -1, -1))
        if self.server.sim.knobs.error_style == "legacy":
            status, code = 500, legacy
        body = {"status": "error", "code": code, "name": exc.name, "message": exc.message}
        self._send(status, json.dumps(body).encode())

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        self.open_sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        with self._sockets_lock:
            self.open_sockets.add(conn)
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        with self._sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Close kept-alive connections too, so a stopped simulator is really gone."""
        with self._sockets_lock:
            conns = list(self.open_sockets)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class SimServer:
    """Serves a Simulator on 127.0.0.1 in a background thread."""

    def __init__(self, sim: Simulator, port: int = 0, host: str = "127.0.0.1") -> None:
        self.sim = sim
        self._httpd = _HTTPServer((host, port), sim)
        self.port = self._httpd.server_address[1]
        self.host = host
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/api/1.0"

    def start(self) -> SimServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            daemon=True,
            name="mandrill-sim",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.drop_connections()
        if self._thread:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
