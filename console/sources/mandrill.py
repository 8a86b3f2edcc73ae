"""Mandrill (Mailchimp Transactional) API 1.0 client over httpx.

Every call is a POST of JSON holding the key to `<base>/<group>/<method>.json`.
Errors arrive in two eras — legacy HTTP 500 for everything, current 4xx — so
they are told apart by the body's `name`, never by the status alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from console.model import (
    Account,
    Ip,
    MessageEvent,
    Reject,
    SenderDomain,
    SmtpEvent,
    Stats,
    Subaccount,
    Warmup,
)
from console.secret import Secret
from console.sources.base import SourceError
from console.timeutil import from_ts, parse_mandrill_time

log = logging.getLogger(__name__)

#: Mandrill returns at most this many items from search, rejects/list and subaccounts/list.
SEARCH_CAP = 1000

RETRYABLE_NAMES = frozenset({"GeneralError", "ServiceUnavailable", "RequestLimitExceeded"})

_TITLES = {
    "Invalid_Key": "Mandrill rejected the API key (Invalid_Key)",
    "GeneralError": "Mandrill reported an internal error (GeneralError)",
    "ServiceUnavailable": "Mandrill is temporarily unavailable (ServiceUnavailable)",
    "RequestLimitExceeded": "Mandrill's rate limit was hit (RequestLimitExceeded)",
    "PaymentRequired": "Mandrill needs a paid plan or a positive balance (PaymentRequired)",
}


class MandrillError(SourceError):
    """A failed Mandrill call: `name` is Mandrill's error name, or '' for transport errors."""

    def __init__(
        self,
        title: str,
        *,
        name: str = "",
        status: int | None = None,
        retryable: bool = False,
        final: bool = False,
    ) -> None:
        super().__init__(title, retryable=retryable, final=final)
        self.name = name
        self.status = status


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class SearchResult:
    """What one incremental read of messages/search produced.

    `covered_until` is the last second fully read; with the call budget spent
    before `end`, the next poll resumes from there instead of skipping ahead.
    """

    messages: list[MessageEvent] = field(default_factory=list)
    covered_until: int = 0
    calls: int = 0
    complete: bool = True
    overfull_seconds: list[int] = field(default_factory=list)


Sleep = Callable[[float], Awaitable[None]]


class MandrillClient:
    def __init__(
        self,
        base_url: str,
        key: Secret,
        *,
        timeout: float = 20.0,
        retries: int = 2,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), transport=transport, follow_redirects=False
        )
        self.host = urlsplit(self.base_url).netloc or self.base_url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> MandrillClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- transport -----------------------------------------------------------------

    async def call(self, method: str, **params: Any) -> Any:
        """Call one API method, retrying retryable failures with exponential backoff."""
        attempt = 0
        while True:
            try:
                return await self._call_once(method, params)
            except MandrillError as exc:
                if not exc.retryable or attempt >= self.retries:
                    raise
                delay = self.backoff * (2**attempt)
                log.info("retrying %s in %.1fs after: %s", method, delay, exc.title)
                attempt += 1
                await self._sleep(delay)

    async def _call_once(self, method: str, params: dict[str, Any]) -> Any:
        url = f"{self.base_url}/{method}.json"
        body = {"key": self._key.reveal(), **params}
        try:
            resp = await self._http.post(url, json=body)
        except httpx.TimeoutException:
            raise MandrillError(
                f"Mandrill did not answer {method} within {self.timeout:g}s (timeout)",
                retryable=True,
            ) from None
        except httpx.ConnectError:
            raise MandrillError(
                f"Cannot reach Mandrill at {self.host} (connection refused or no route)",
                retryable=True,
            ) from None
        except httpx.HTTPError as exc:
            raise MandrillError(
                f"Connection to Mandrill at {self.host} failed ({type(exc).__name__})",
                retryable=True,
            ) from None
        return self._decode(method, resp)

    def _decode(self, method: str, resp: httpx.Response) -> Any:
        try:
            data = json.loads(resp.content)
        except (ValueError, UnicodeDecodeError):
            data = None
            parsed = False
        else:
            parsed = True
        if resp.status_code == 200:
            if not parsed:
                raise MandrillError(
                    f"Mandrill sent a malformed answer to {method} (not JSON)", retryable=True
                )
            if isinstance(data, dict) and data.get("status") == "error" and "name" in data:
                raise self._named_error(method, data, resp.status_code)
            return data
        if parsed and isinstance(data, dict) and data.get("status") == "error":
            raise self._named_error(method, data, resp.status_code)
        if resp.status_code >= 500 or resp.status_code == 429:
            raise MandrillError(
                f"Mandrill answered {method} with HTTP {resp.status_code} and no error body",
                status=resp.status_code,
                retryable=True,
            )
        raise MandrillError(
            f"Mandrill answered {method} with HTTP {resp.status_code} "
            f"(is base_url right? {self.base_url})",
            status=resp.status_code,
        )

    def _named_error(self, method: str, data: dict[str, Any], status: int) -> MandrillError:
        name = str(data.get("name") or "UnknownError")
        message = self._key.scrub(_short(str(data.get("message") or "")))
        title = _TITLES.get(name) or f"Mandrill error in {method}: {name}: {message}"
        return MandrillError(
            title,
            name=name,
            status=status,
            retryable=name in RETRYABLE_NAMES,
            final=name == "Invalid_Key",
        )

    # -- endpoints -----------------------------------------------------------------

    async def ping(self) -> bool:
        data = await self.call("users/ping2")
        return isinstance(data, dict) and data.get("PING") == "PONG!"

    async def users_info(self) -> Account:
        return parse_account(self._expect(await self.call("users/info"), dict, "users/info"))

    async def ips_list(self) -> list[Ip]:
        data = self._expect(await self.call("ips/list"), list, "ips/list")
        return [ip for ip in (parse_ip(d) for d in data) if ip is not None]

    async def subaccounts_list(self) -> list[Subaccount]:
        data = self._expect(await self.call("subaccounts/list"), list, "subaccounts/list")
        return [s for s in (parse_subaccount(d) for d in data) if s is not None]

    async def rejects_list(self, *, include_expired: bool = False) -> list[Reject]:
        data = self._expect(
            await self.call("rejects/list", include_expired=include_expired), list, "rejects/list"
        )
        return [r for r in (parse_reject(d) for d in data) if r is not None]

    async def senders_domains(self) -> list[SenderDomain]:
        data = self._expect(await self.call("senders/domains"), list, "senders/domains")
        return [d for d in (parse_domain(x) for x in data) if d is not None]

    async def message_info(self, message_id: str) -> MessageEvent | None:
        data = self._expect(await self.call("messages/info", id=message_id), dict, "messages/info")
        return parse_message(data)

    async def search(
        self,
        query: str = "*",
        *,
        date_from: str | None = None,
        date_to: str | None = None,
        limit: int = SEARCH_CAP,
    ) -> list[dict[str, Any]]:
        """One raw messages/search call; items are returned unparsed for the splitter."""
        params: dict[str, Any] = {"query": query, "limit": limit}
        if date_from:
            params["date_from"] = date_from
        if date_to:
            params["date_to"] = date_to
        data = self._expect(await self.call("messages/search", **params), list, "messages/search")
        return [d for d in data if isinstance(d, dict)]

    async def search_range(
        self, start: int, end: int, *, query: str = "", budget: int = 15, limit: int = SEARCH_CAP
    ) -> SearchResult:
        """Read every message with start ≤ ts ≤ end, splitting windows that hit the cap.

        A full page means Mandrill may have dropped messages, so the window is
        halved and both halves read instead (the full page is discarded).
        Windows are read oldest first, so a spent budget leaves a clean
        resume point in `covered_until`.
        """
        result = SearchResult(covered_until=start - 1)
        pending: list[tuple[int, int]] = [(start, end)]
        while pending:
            if result.calls >= budget:
                result.complete = False
                break
            a, b = pending.pop(0)
            window = f"ts:[{a} TO {b}]"
            q = f"({query}) AND {window}" if query else window
            day_a = datetime.fromtimestamp(a, UTC).date()
            # date_to is a date; one day past b keeps the whole last day inside either reading.
            day_b = datetime.fromtimestamp(b, UTC).date() + timedelta(days=1)
            page = await self.search(
                q, date_from=day_a.isoformat(), date_to=day_b.isoformat(), limit=limit
            )
            result.calls += 1
            if len(page) >= limit and b > a:
                mid = (a + b) // 2
                pending[0:0] = [(a, mid), (mid + 1, b)]
                continue
            if len(page) >= limit:
                result.overfull_seconds.append(a)
                log.warning("more than %d messages in the second %d: some are not visible", limit, a)
            for item in page:
                msg = parse_message(item)
                if msg is not None and a <= int(msg.ts.timestamp()) <= b:
                    result.messages.append(msg)
            result.covered_until = b
        return result

    def _expect(self, data: Any, kind: type, method: str) -> Any:
        if not isinstance(data, kind):
            raise MandrillError(
                f"Mandrill sent an unexpected answer to {method} "
                f"(expected a JSON {'object' if kind is dict else 'array'})",
                retryable=True,
            )
        return data


# -- parsing (lenient: unknown fields kept in raw, unknown values kept as strings) ----------


def _int(v: object, default: int | None = 0) -> int | None:
    if isinstance(v, bool):
        return default
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v)
    if isinstance(v, str):
        try:
            return int(float(v))
        except ValueError:
            return default
    return default


def _str(v: object) -> str:
    if v is None:
        return ""
    return v if isinstance(v, str) else str(v)


def parse_stats(d: object) -> Stats:
    if not isinstance(d, dict):
        return Stats()
    return Stats(
        sent=_int(d.get("sent")) or 0,
        hard_bounces=_int(d.get("hard_bounces")) or 0,
        soft_bounces=_int(d.get("soft_bounces")) or 0,
        rejects=_int(d.get("rejects")) or 0,
        complaints=_int(d.get("complaints")) or 0,
        unsubs=_int(d.get("unsubs")) or 0,
        opens=_int(d.get("opens")) or 0,
        clicks=_int(d.get("clicks")) or 0,
    )


def parse_account(d: dict[str, Any]) -> Account:
    stats = d.get("stats") if isinstance(d.get("stats"), dict) else {}
    assert isinstance(stats, dict)
    return Account(
        username=_str(d.get("username")),
        reputation=_int(d.get("reputation"), None),
        hourly_quota=_int(d.get("hourly_quota"), None),
        backlog=_int(d.get("backlog"), None),
        stats={str(k): parse_stats(v) for k, v in stats.items()},
    )


def parse_ip(d: object) -> Ip | None:
    if not isinstance(d, dict) or not d.get("ip"):
        return None
    w = d.get("warmup") if isinstance(d.get("warmup"), dict) else {}
    assert isinstance(w, dict)
    return Ip(
        ip=_str(d.get("ip")),
        pool=_str(d.get("pool")),
        domain=_str(d.get("domain")),
        warmup=Warmup(
            warming_up=bool(w.get("warming_up")),
            start_at=parse_mandrill_time(w.get("start_at")),
            end_at=parse_mandrill_time(w.get("end_at")),
        ),
        created_at=parse_mandrill_time(d.get("created_at")),
    )


def parse_subaccount(d: object) -> Subaccount | None:
    if not isinstance(d, dict) or d.get("id") in (None, ""):
        return None
    return Subaccount(
        id=_str(d.get("id")),
        name=_str(d.get("name")),
        status=_str(d.get("status")),
        reputation=_int(d.get("reputation"), None),
        sent_weekly=_int(d.get("sent_weekly")) or 0,
        sent_monthly=_int(d.get("sent_monthly")) or 0,
        sent_total=_int(d.get("sent_total")) or 0,
    )


def parse_reject(d: object) -> Reject | None:
    if not isinstance(d, dict) or not d.get("email"):
        return None
    return Reject(
        email=_str(d.get("email")),
        reason=_str(d.get("reason")),
        detail=_str(d.get("detail")),
        created_at=parse_mandrill_time(d.get("created_at")),
        last_event_at=parse_mandrill_time(d.get("last_event_at")),
        expires_at=parse_mandrill_time(d.get("expires_at")),
        expired=bool(d.get("expired")),
        subaccount=_str(d.get("subaccount")),
    )


def _valid(section: object) -> bool | None:
    if isinstance(section, dict) and "valid" in section:
        return bool(section.get("valid"))
    return None


def parse_domain(d: object) -> SenderDomain | None:
    if not isinstance(d, dict) or not d.get("domain"):
        return None
    errors = {
        k: _str(d[k].get("error"))
        for k in ("spf", "dkim", "dkim2", "dmarc")
        if isinstance(d.get(k), dict) and d[k].get("error")
    }
    signing = d.get("valid_signing")
    return SenderDomain(
        domain=_str(d.get("domain")),
        spf_valid=_valid(d.get("spf")),
        dkim_valid=_valid(d.get("dkim")),
        dkim2_valid=_valid(d.get("dkim2")),
        dmarc_valid=_valid(d.get("dmarc")),
        valid_signing=None if signing is None else bool(signing),
        verified_at=parse_mandrill_time(d.get("verified_at")),
        errors=errors,
    )


def parse_smtp_events(items: object) -> tuple[SmtpEvent, ...]:
    if not isinstance(items, list):
        return ()
    out = []
    for e in items:
        if not isinstance(e, dict):
            continue
        out.append(
            SmtpEvent(
                ts=from_ts(e.get("ts")),
                type=_str(e.get("type")),
                diag=_str(e.get("diag")),
                source_ip=_str(e.get("source_ip")),
                destination_ip=_str(e.get("destination_ip")),
                size=_int(e.get("size"), None),
            )
        )
    return tuple(out)


def is_sms(d: dict[str, Any]) -> bool:
    return d.get("channel") == "sms" or "sms_events" in d


def parse_message(d: object) -> MessageEvent | None:
    """A search/info item → MessageEvent; None for SMS items and items without id or time."""
    if not isinstance(d, dict) or is_sms(d):
        return None
    ts = from_ts(d.get("ts"))
    mid = _str(d.get("_id"))
    if ts is None or not mid:
        return None
    reject = d.get("reject") if isinstance(d.get("reject"), dict) else {}
    assert isinstance(reject, dict)
    tags = d.get("tags") if isinstance(d.get("tags"), list) else []
    assert isinstance(tags, list)
    return MessageEvent(
        message_id=mid,
        ts=ts,
        state=_str(d.get("state")) or "unknown",
        email=_str(d.get("email")),
        sender=_str(d.get("sender")),
        subject=_str(d.get("subject")),
        subaccount=_str(d.get("subaccount")),
        diag=_str(d.get("diag")),
        bounce_description=_str(d.get("bounce_description")),
        reject_reason=_str(reject.get("reason")),
        template=_str(d.get("template")),
        tags=tuple(_str(t) for t in tags),
        smtp_events=parse_smtp_events(d.get("smtp_events")),
        raw=d,
    )


def messages_from(items: Iterable[object]) -> list[MessageEvent]:
    return [m for m in (parse_message(i) for i in items) if m is not None]
