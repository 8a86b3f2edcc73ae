"""Mandrill (Mailchimp Transactional) API 1.0 client over httpx.

Every call is a POST of JSON holding the key to `<base>/<group>/<method>.json`.
Errors arrive in two eras — legacy HTTP 500 for everything, current 4xx — so
they are told apart by the body's `name`, never by the status alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from urllib.parse import urlsplit

import httpx

from console.limits import MANDRILL_RESPONSE_MB, MB, size_text
from console.model import (
    Account,
    Ip,
    MessageEvent,
    Reject,
    SenderDomain,
    SendResult,
    Subaccount,
)
from console.secret import Secret
from console.sources.base import SourceError
from console.sources.httpbody import BodyTooLarge, read_capped
from console.wire import (
    messages_from,
    parse_account,
    parse_domain,
    parse_ip,
    parse_message,
    parse_reject,
    parse_send_result,
    parse_subaccount,
)

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

    A read goes newest first, so a budget spent midway leaves its oldest part
    unread. `unread` lists those windows; `resume()` turns them into the two
    things the next poll needs: a cursor and one gap below it to read first.
    """

    messages: list[MessageEvent] = field(default_factory=list)
    start: int = 0
    end: int = -1
    fresh_from: int = 0  # where the new part of the read begins (below it: an earlier gap)
    calls: int = 0
    unread: list[tuple[int, int]] = field(default_factory=list)
    overfull_seconds: list[int] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.unread

    def resume(self, prior: int | None = None) -> tuple[int, tuple[int, int] | None]:
        """(cursor, gap): every second up to the cursor was read except those in the gap.

        `prior` is the cursor this read started from: what lay at or below it was read
        before, except an earlier gap (below `fresh_from`), so unread windows there are
        either that gap's rest (kept) or the overlap re-read (dropped). Unread windows
        that reach the end are beyond the cursor; the rest fold into one gap (over-wide
        when windows between were read, which only costs a re-read)."""
        low = self.fresh_from if prior is None else max(self.fresh_from, prior + 1)
        old = [w for w in self.unread if w[1] < self.fresh_from]
        new = sorted((max(a, low), b) for a, b in self.unread if b >= low)
        tail = self.end
        while new and new[-1][1] >= tail:
            tail = new.pop()[0] - 1
        windows = old + new
        cursor = tail if prior is None else max(tail, prior)
        if not windows:
            return cursor, None
        return cursor, (min(a for a, _ in windows), max(b for _, b in windows))

    def shortfall(self, budget: int) -> str:
        """Why this read did not see every message of its window, in words ('' when it
        did): a spent budget, or seconds (or days, reading by days) over the cap."""
        if self.unread:
            lo = min(a for a, _ in self.unread)
            hi = max(b for _, b in self.unread)
            return (
                f"{_utc(lo)} to {_utc(hi)} UTC not read yet: the budget of {budget} "
                "searches was spent ([mandrill] max_search_calls); the next poll reads it first"
            )
        if self.overfull_seconds:
            n = len(self.overfull_seconds)
            return (
                f"{n} window(s) held more than Mandrill's {SEARCH_CAP:,}-message page "
                "and could not be split further: some messages were not read"
            )
        return ""


def _utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


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
        search_per_minute: int = 0,
        monotonic: Callable[[], float] = time.monotonic,
        response_limits_mb: dict[str, float] | None = None,
        shared_budget: Callable[[], float | None] | None = None,
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
        self.search_per_minute = search_per_minute
        #: Whether the server applies ts:[a TO b]: None until seen, False after it did not.
        self.ts_filter: bool | None = None
        self._monotonic = monotonic
        self._search_times: deque[float] = deque()
        self.response_limits_mb = MANDRILL_RESPONSE_MB | (response_limits_mb or {})
        #: reserves one search from the allowance every mailops on this key shares: 0, or
        #: the seconds to wait (see console/searchbudget.py)
        self._shared_budget = shared_budget

    def response_limit(self, method: str) -> int:
        """The cap, in bytes, on one answer of `method`."""
        mb = self.response_limits_mb.get(method, self.response_limits_mb["*"])
        return int(mb * MB)

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
        """One request under one deadline (connect, send and the whole body: httpx's own
        timeout is per read, so a trickling server could hold it for ever), its body read
        with the endpoint's size cap."""
        url = f"{self.base_url}/{method}.json"
        body = {"key": self._key.reveal(), **params}
        limit = self.response_limit(method)
        try:
            async with asyncio.timeout(self.timeout):
                async with self._http.stream("POST", url, json=body) as resp:
                    content = await read_capped(resp, limit)
        except (TimeoutError, httpx.TimeoutException):
            raise MandrillError(
                f"Mandrill did not answer {method} within {self.timeout:g}s (timeout)",
                retryable=True,
            ) from None
        except BodyTooLarge as exc:
            said = "said it would send" if exc.declared else "sent"
            raise MandrillError(
                f"Mandrill {said} more than {size_text(limit)} for {method}; not read "
                f'(raise [mandrill.response_limits_mb] "{method}" if this is real)',
            ) from None
        except httpx.DecodingError:
            raise MandrillError(
                f"Mandrill's answer to {method} could not be decompressed (bad Content-Encoding)",
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
        return self._decode(method, resp.status_code, content)

    def _decode(self, method: str, status: int, content: bytes) -> Any:
        try:
            data = json.loads(content)
        except (ValueError, UnicodeDecodeError, RecursionError):
            data = None
            parsed = False
        else:
            parsed = True
        if status == 200:
            if not parsed:
                raise MandrillError(
                    f"Mandrill sent a malformed answer to {method} (not JSON)", retryable=True
                )
            if isinstance(data, dict) and data.get("status") == "error" and "name" in data:
                raise self._named_error(method, data, status)
            return data
        if parsed and isinstance(data, dict) and data.get("status") == "error":
            raise self._named_error(method, data, status)
        if status >= 500 or status == 429:
            raise MandrillError(
                f"Mandrill answered {method} with HTTP {status} and no error body",
                status=status,
                retryable=True,
            )
        raise MandrillError(
            f"Mandrill answered {method} with HTTP {status} (is base_url right? {self.base_url})",
            status=status,
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

    async def render_template(self, name: str, merge_vars: dict[str, str]) -> str:
        """templates/render: the template's HTML with these sample merge values."""
        data = self._expect(
            await self.call(
                "templates/render",
                template_name=name,
                template_content=[],
                merge_vars=[{"name": k, "content": v} for k, v in merge_vars.items()],
            ),
            dict,
            "templates/render",
        )
        html = data.get("html")
        if not isinstance(html, str):
            raise MandrillError("Mandrill answered templates/render without html")
        return html

    async def template_names(self) -> list[str]:
        """templates/list: the slugs of the account's templates."""
        data = self._expect(await self.call("templates/list"), list, "templates/list")
        return [str(t.get("slug") or t.get("name")) for t in data if isinstance(t, dict)]

    # -- actions (each changes the account; the console confirms before calling) ---------

    async def reject_delete(self, email: str, subaccount: str | None = None) -> bool:
        """rejects/delete; True if Mandrill says it deleted the entry. Costs reputation."""
        params: dict[str, Any] = {"email": email}
        if subaccount:
            params["subaccount"] = subaccount
        data = self._expect(await self.call("rejects/delete", **params), dict, "rejects/delete")
        return bool(data.get("deleted"))

    async def ip_warmup(self, ip: str, *, start: bool) -> Ip:
        """ips/start-warmup or ips/cancel-warmup; the IP as Mandrill now describes it."""
        method = "ips/start-warmup" if start else "ips/cancel-warmup"
        found = parse_ip(self._expect(await self.call(method, ip=ip), dict, method))
        if found is None:
            raise MandrillError(f"Mandrill answered {method} with an unreadable IP object")
        return found

    async def subaccount_pause(self, sub_id: str, *, pause: bool) -> Subaccount:
        """subaccounts/pause (mail queued, for at most 3 days) or subaccounts/resume."""
        method = "subaccounts/pause" if pause else "subaccounts/resume"
        found = parse_subaccount(self._expect(await self.call(method, id=sub_id), dict, method))
        if found is None:
            raise MandrillError(f"Mandrill answered {method} with an unreadable subaccount")
        return found

    async def senders_domains(self) -> list[SenderDomain]:
        data = self._expect(await self.call("senders/domains"), list, "senders/domains")
        return [d for d in (parse_domain(x) for x in data) if d is not None]

    async def message_info(self, message_id: str) -> MessageEvent | None:
        data = self._expect(await self.call("messages/info", id=message_id), dict, "messages/info")
        return parse_message(data)

    async def send(
        self, message: dict[str, Any], *, ip_pool: str | None = None, template: str = ""
    ) -> list[SendResult]:
        """messages/send (or send-template with `template`), synchronously (async=false) so
        rejections come back at once."""
        params: dict[str, Any] = {"message": message, "async": False}
        if ip_pool:
            params["ip_pool"] = ip_pool
        method = "messages/send"
        if template:
            method = "messages/send-template"
            params |= {"template_name": template, "template_content": []}
        data = self._expect(await self.call(method, **params), list, method)
        return [r for r in (parse_send_result(d) for d in data) if r is not None]

    async def search(
        self,
        query: str = "*",
        *,
        date_from: str | None = None,
        date_to: str | None = None,
        limit: int = SEARCH_CAP,
    ) -> list[dict[str, Any]]:
        """One raw messages/search call; items are returned unparsed for the splitter."""
        await self._search_slot()
        params: dict[str, Any] = {"query": query, "limit": limit}
        if date_from:
            params["date_from"] = date_from
        if date_to:
            params["date_to"] = date_to
        data = self._expect(await self.call("messages/search", **params), list, "messages/search")
        return [d for d in data if isinstance(d, dict)]

    async def _search_slot(self) -> None:
        """Wait for room under Mandrill's documented ~20 searches a minute (0: no limit):
        the allowance shared with other mailops processes when there is one, else this
        process's own count."""
        if self.search_per_minute <= 0:
            return
        while self._shared_budget is not None:
            wait = self._shared_budget()
            if wait is None:
                break  # the shared count cannot be kept: this process counts for itself
            if wait <= 0:
                return
            log.info("search allowance spent; waiting %.1fs", wait)
            await self._sleep(wait)
        while True:
            now = self._monotonic()
            while self._search_times and now - self._search_times[0] >= 60:
                self._search_times.popleft()
            if len(self._search_times) < self.search_per_minute:
                self._search_times.append(now)
                return
            await self._sleep(60 - (now - self._search_times[0]) + 0.05)

    async def search_range(
        self,
        start: int,
        end: int,
        *,
        query: str = "",
        budget: int = 15,
        limit: int = SEARCH_CAP,
        gap: tuple[int, int] | None = None,
    ) -> SearchResult:
        """Read every message with start ≤ ts ≤ end (and first those of `gap`, a window
        an earlier read left unread), with at most `budget` searches.

        Mandrill answers newest first. A full page in that order holds every message
        newer than its oldest second, so the next window ends at that second: N
        messages cost about N/1000 + 1 searches. A full page out of order is halved
        blindly instead (the page is discarded). Either way the unread windows are
        kept in the result, so a spent budget leaves a clean resume point.

        `ts:[a TO b]` is documented only in passing. A server that refuses it,
        ignores it or matches nothing with it is detected, and reading falls
        back to whole UTC days (date_from/date_to), which can see at most
        `limit` messages a day — said in the log, never silently.
        """
        spans = [w for w in (gap, (start, end)) if w is not None and w[0] <= w[1]]
        first = min((w[0] for w in spans), default=start)
        result = SearchResult(start=first, end=end, fresh_from=start)
        plan = _days if self.ts_filter is False else (lambda a, b: [(a, b)])
        pending = [w for a, b in spans for w in plan(a, b)]
        while pending:
            if result.calls >= budget:
                result.unread = pending
                break
            a, b = pending.pop(0)
            pending[0:0] = await self._read_one(a, b, query, limit, result)
        return result

    async def _read_one(
        self, a: int, b: int, query: str, limit: int, result: SearchResult
    ) -> list[tuple[int, int]]:
        """Read one window into `result`; returns the windows still to read in its place."""
        by_ts = self.ts_filter is not False
        page = await self._search_window(a, b, query, limit, result)
        if page is None or (by_ts and self.ts_filter is False):  # mode changed: re-plan
            return _days(a, b)
        parsed = messages_from(page)  # SMS and malformed items are dropped here
        in_window = [m for m in parsed if a <= int(m.ts.timestamp()) <= b]
        if by_ts and len(in_window) < len(parsed):
            self._by_days("the server ignored ts:[a TO b] (it answered outside the window)")
            return _days(a, b)
        if by_ts and page:
            self.ts_filter = True
        if len(page) < limit:
            result.messages.extend(in_window)
            return []
        return _after_full_page(a, b, in_window, limit, by_ts, result)

    async def _search_window(
        self, a: int, b: int, query: str, limit: int, result: SearchResult
    ) -> list[dict[str, Any]] | None:
        """One window's page; None when the server refused the ts filter (mode switched)."""
        day_a = datetime.fromtimestamp(a, UTC).date()
        # date_to is a date; one day past b keeps the whole last day inside either reading.
        day_b = datetime.fromtimestamp(b, UTC).date() + timedelta(days=1)

        async def ask(q: str) -> list[dict[str, Any]]:
            result.calls += 1
            return await self.search(
                q, date_from=day_a.isoformat(), date_to=day_b.isoformat(), limit=limit
            )

        if self.ts_filter is False:
            return await ask(query or "*")
        window = f"ts:[{a} TO {b}]"
        try:
            page = await ask(f"({query}) AND {window}" if query else window)
        except MandrillError as exc:
            if exc.name != "ValidationError":
                raise
            self._by_days(f"messages/search refused ts:[a TO b] ({exc.title})")
            return None
        if page or self.ts_filter is True:
            return page
        # Nothing, from a server not yet seen to apply ts: is the window empty, or is the
        # filter matching nothing? One date-only look tells.
        probe = await ask(query or "*")
        if any(a <= int(m.ts.timestamp()) <= b for m in messages_from(probe)):
            self._by_days("messages/search found nothing with ts:[a TO b] where mail exists")
        return page

    def _by_days(self, why: str) -> None:
        if self.ts_filter is not False:
            log.warning("%s: reading messages by whole UTC days from now on", why)
        self.ts_filter = False

    def _expect(self, data: Any, kind: type, method: str) -> Any:
        if not isinstance(data, kind):
            raise MandrillError(
                f"Mandrill sent an unexpected answer to {method} "
                f"(expected a JSON {'object' if kind is dict else 'array'})",
                retryable=True,
            )
        return data


def _after_full_page(
    a: int, b: int, in_window: list[MessageEvent], limit: int, by_ts: bool, result: SearchResult
) -> list[tuple[int, int]]:
    """A page at the cap holds only part of window a..b: keep what is surely whole and
    return the windows still to read in its place."""
    stamps = [int(m.ts.timestamp()) for m in in_window]
    dated = list(zip(in_window, stamps, strict=True))
    if by_ts and stamps and all(x >= y for x, y in pairwise(stamps)):
        oldest = stamps[-1]
        if oldest < b:  # everything newer than the oldest second is here
            result.messages.extend(m for m, t in dated if t > oldest)
            return [(a, oldest)]
    elif by_ts and b > a:
        mid = (a + b) // 2
        return [(a, mid), (mid + 1, b)]
    return _keep_overfull(a, b, dated, limit, by_ts, result)


def _keep_overfull(
    a: int,
    b: int,
    dated: list[tuple[MessageEvent, int]],
    limit: int,
    by_ts: bool,
    result: SearchResult,
) -> list[tuple[int, int]]:
    """Splitting cannot help: one second (or, reading by days, one day) holds more than
    the cap. Keep what came and say so; never spin."""
    last = b if by_ts else a
    result.overfull_seconds.append(last)
    log.warning(
        "messages/search returned its cap of %d for ts %d..%d; some are unread", limit, a, b
    )
    result.messages.extend(m for m, t in dated if t >= last)
    return [(a, b - 1)] if by_ts and a < b else []


def _days(start: int, end: int) -> list[tuple[int, int]]:
    """[start, end] cut at UTC midnights, oldest first."""
    out = []
    a = start
    while a <= end:
        day = datetime.fromtimestamp(a, UTC).date() + timedelta(days=1)
        next_midnight = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        b = min(end, next_midnight - 1)
        out.append((a, b))
        a = b + 1
    return out
