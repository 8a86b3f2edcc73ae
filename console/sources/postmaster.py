"""Gmail Postmaster Tools API v2: what Gmail itself sees of a domain's mail, by day.

The v2 reference (gmailpostmastertools.googleapis.com, discovery revision 20260512):
- `GET /v2/domains` lists the domains the credentials may read (paged);
- `POST /v2/domains/{d}/domainStats:query` answers one `DomainStat` per metric and day
  asked for, *only for days where data is available* (a missing day is "not published",
  never 0), values as a `StatisticValue` union (`doubleValue` for rates, 0..1);
- `GET /v2/domains/{d}/complianceStatus` is the bulk-sender compliance now.
Errors come as Google's JSON envelope `{"error": {"code", "message", "status"}}`.

Credentials are google-auth's own (an authorized user's refresh token, or a service
account with domain-wide delegation); they refresh through httpx here, like every other
request mailops makes, so the token endpoint can be pointed at a simulator. No token,
secret or refresh token ever reaches a message.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from console.limits import SECRET_FILE_BYTES
from console.model import GmailCompliance, GmailDay
from console.sources.base import SourceError

#: v2 splits read access in two: the domain list, and the traffic figures.
SCOPES = (
    "https://www.googleapis.com/auth/postmaster.domain",
    "https://www.googleapis.com/auth/postmaster.traffic.readonly",
)
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"

#: The delivery-error breakdowns v2 offers: (error_type, error_reason).
ERROR_REASONS = (
    *(("reject", r) for r in ("bad_attachment", "bad_or_missing_ptr_record", "ip_in_rbls",
                              "low_domain_reputation", "low_ip_reputation", "spammy_content",
                              "stamp_policy_error", "other")),
    ("temp_fail", "anomalous_traffic_pattern"),
    ("temp_fail", "other"),
)  # fmt: skip
#: Our name for each metric asked → (StandardMetric, filter).
METRICS: dict[str, tuple[str, str]] = {
    "spam_rate": ("SPAM_RATE", ""),
    "spf": ("AUTH_SUCCESS_RATE", 'auth_type = "spf"'),
    "dkim": ("AUTH_SUCCESS_RATE", 'auth_type = "dkim"'),
    "dmarc": ("AUTH_SUCCESS_RATE", 'auth_type = "dmarc"'),
    "tls_rate": ("TLS_ENCRYPTION_RATE", 'traffic_direction = "inbound"'),
    "error_rate": ("DELIVERY_ERROR_RATE", ""),
    **{
        f"{t}/{r}": ("DELIVERY_ERROR_RATE", f'error_type = "{t}" AND error_reason = "{r}"')
        for t, r in ERROR_REASONS
    },
}
PAGE_SIZE = 200  # the most v2 returns a page
MAX_PAGES = 50  # 30 days × 16 metrics is 3 pages; a server that never ends is cut off


def metric_definitions() -> list[dict[str, Any]]:
    """The `metricDefinitions` of a query: every metric above, named as we read it back."""
    out = []
    for name, (standard, flt) in METRICS.items():
        d: dict[str, Any] = {"name": name, "baseMetric": {"standardMetric": standard}}
        if flt:
            d["filter"] = flt
        out.append(d)
    return out


def google_date(d: date) -> dict[str, int]:
    return {"year": d.year, "month": d.month, "day": d.day}


def load_credentials(path: Path, token_uri: str = "", subject: str = "") -> Any:
    """google-auth credentials from an authorized-user or service-account JSON file; a
    ValueError names what is wrong with the file, never what it holds."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > SECRET_FILE_BYTES:
        raise ValueError(f"{path} is larger than a credentials file ({SECRET_FILE_BYTES} bytes)")
    try:
        info = json.loads(raw)
    except ValueError:
        raise ValueError(f"{path} is not JSON") from None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind == "authorized_user":
        return _authorized_user(info, token_uri, path)
    if kind == "service_account":
        return _service_account(info, token_uri, subject, path)
    raise ValueError(
        f'{path}: "type" must be "authorized_user" (gcloud auth application-default login) '
        'or "service_account"'
    )


def _authorized_user(info: dict[str, Any], token_uri: str, path: Path) -> Any:
    from google.oauth2.credentials import Credentials

    missing = [k for k in ("refresh_token", "client_id", "client_secret") if not info.get(k)]
    if missing:
        raise ValueError(f"{path}: an authorized-user file needs {', '.join(missing)}")
    return Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=info["refresh_token"],
        token_uri=token_uri or info.get("token_uri") or GOOGLE_TOKEN_URI,
        client_id=info["client_id"],
        client_secret=info["client_secret"],
    )


def _service_account(info: dict[str, Any], token_uri: str, subject: str, path: Path) -> Any:
    from google.oauth2 import service_account

    if token_uri:
        info = {**info, "token_uri": token_uri}
    try:
        return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=list(SCOPES), subject=subject or None
        )
    except (ValueError, KeyError) as exc:
        raise ValueError(
            f"{path}: not a usable service-account key ({type(exc).__name__})"
        ) from None


class _HttpxRequest:
    """google-auth's transport interface, on httpx: the token refresh goes where every
    other request goes (and a failure to reach it is google-auth's TransportError)."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        from google.auth import exceptions

        try:
            r = self.client.request(
                method, url, content=body, headers=dict(headers or {}), timeout=timeout or 30
            )
        except httpx.HTTPError as exc:
            raise exceptions.TransportError(type(exc).__name__) from None  # type: ignore[no-untyped-call]
        return _Response(r)


@dataclass(frozen=True)
class _Response:
    r: httpx.Response

    @property
    def status(self) -> int:
        return self.r.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self.r.headers

    @property
    def data(self) -> bytes:
        return self.r.content


class PostmasterClient:
    """The three v2 reads mailops needs; every failure a SourceError a person can act on."""

    def __init__(self, base_url: str, credentials: Any, *, timeout: float = 30.0,
                 where: str = "the credentials file") -> None:  # fmt: skip
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.where = where
        self.timeout = timeout
        self._http = httpx.AsyncClient(timeout=timeout)
        self._token_http = httpx.Client(timeout=timeout)
        self._refresh_lock = threading.Lock()
        #: how many times a token was fetched (the tests see refreshes happen)
        self.refreshes = 0

    async def aclose(self) -> None:
        await self._http.aclose()
        self._token_http.close()

    # -- the token -------------------------------------------------------------------

    def _refresh(self, force: bool) -> str:
        from google.auth import exceptions

        with self._refresh_lock:
            creds = self.credentials
            if force or not creds.valid:
                try:
                    creds.refresh(_HttpxRequest(self._token_http))
                except exceptions.RefreshError as exc:
                    raise self._refresh_failed(exc) from None
                except exceptions.TransportError:
                    raise SourceError(
                        "Gmail Postmaster Tools: cannot reach Google's token endpoint",
                        retryable=True,
                    ) from None
                self.refreshes += 1
            return str(creds.token)

    def _refresh_failed(self, exc: Exception) -> SourceError:
        """invalid_grant (revoked, expired, password changed) is final: say what to do."""
        details = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
        code = str(details.get("error", "")) if details else ""
        if code in ("invalid_grant", "unauthorized_client", "invalid_client"):
            return SourceError(
                f"Gmail Postmaster Tools: Google refused the credentials in {self.where} "
                f"({code}): they were revoked or expired. Create them again (gcloud auth "
                "application-default login with the postmaster scopes) and restart",
                final=True,
            )
        return SourceError(
            "Gmail Postmaster Tools: the token could not be refreshed; will retry",
            retryable=True,
        )

    # -- requests --------------------------------------------------------------------

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One request with a valid token; a 401 refreshes once and tries again."""
        for attempt in (0, 1):
            token = await asyncio.to_thread(self._refresh, attempt == 1)
            try:
                r = await self._http.request(
                    method, f"{self.base_url}{path}", json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )  # fmt: skip
            except httpx.TimeoutException:
                raise SourceError("Gmail Postmaster Tools timed out", retryable=True) from None
            except httpx.HTTPError as exc:
                raise SourceError(
                    f"Cannot reach Gmail Postmaster Tools ({type(exc).__name__})", retryable=True
                ) from None
            if r.status_code == 401 and attempt == 0:
                continue  # the token expired early, or was revoked: refresh once
            return self._answer(r, path)
        raise AssertionError("unreachable")

    def _answer(self, r: httpx.Response, path: str) -> Any:
        try:
            data = r.json()
        except ValueError:
            data = None
        if r.is_success and isinstance(data, dict):
            return data
        if r.is_success:
            raise SourceError("Gmail Postmaster Tools answered something that is not JSON")
        err = data.get("error") if isinstance(data, dict) else None
        status = str(err.get("status", "")) if isinstance(err, dict) else ""
        return self._raise(r.status_code, status, path)

    def _raise(self, code: int, status: str, path: str) -> Any:
        what = f"Gmail Postmaster Tools {code} {status}".rstrip()
        if code == 429 or status == "RESOURCE_EXHAUSTED":
            raise SourceError(f"{what}: over Google's quota; backing off", retryable=True)
        if code == 401:
            raise SourceError(f"{what}: the credentials in {self.where} are not accepted",
                              final=True)  # fmt: skip
        if code == 403:
            raise SourceError(
                f"{what}: no permission for {_domain_of(path)} (is the domain verified in "
                "Postmaster Tools for this account, and are the postmaster.domain and "
                "postmaster.traffic.readonly scopes granted?)",
                final=True,
            )
        if code == 404:
            raise SourceError(f"{what}: {path} is not registered for these credentials",
                              final=True)  # fmt: skip
        raise SourceError(what, retryable=code >= 500)

    async def domains(self) -> list[str]:
        """The domains these credentials may read (domains.list, every page)."""
        out: list[str] = []
        token = ""
        for _ in range(MAX_PAGES):
            query = f"?pageSize={PAGE_SIZE}" + (f"&pageToken={token}" if token else "")
            data = await self._call("GET", f"/v2/domains{query}")
            for d in data.get("domains") or ():
                name = d.get("name") if isinstance(d, dict) else None
                if isinstance(name, str) and name.startswith("domains/"):
                    out.append(name.removeprefix("domains/"))
            token = str(data.get("nextPageToken") or "")
            if not token:
                break
        return out

    async def days(self, domain: str, start: date, end: date) -> list[GmailDay]:
        """Every published day in [start, end] (inclusive), oldest first."""
        body: dict[str, Any] = {
            "metricDefinitions": metric_definitions(),
            "timeQuery": {"dateRanges": {"dateRanges": [
                {"start": google_date(start), "end": google_date(end)}
            ]}},
            "aggregationGranularity": "DAILY",
            "pageSize": PAGE_SIZE,
        }  # fmt: skip
        stats: list[Any] = []
        for _ in range(MAX_PAGES):
            data = await self._call("POST", f"/v2/domains/{domain}/domainStats:query", body)
            stats += data.get("domainStats") or []
            token = data.get("nextPageToken")
            if not token:
                break
            body = {**body, "pageToken": token}
        return read_days(domain, stats)

    async def compliance(self, domain: str) -> GmailCompliance:
        data = await self._call("GET", f"/v2/domains/{domain}/complianceStatus")
        return read_compliance(domain, data)


def _domain_of(path: str) -> str:
    """The domain a request path is about ("/v2/domains/x.com/…" → "x.com")."""
    parts = path.split("?")[0].split("/")
    return parts[3] if len(parts) > 3 and parts[2] == "domains" else "the domain list"


def _value(v: object) -> float | None:
    """A StatisticValue as a number: doubleValue, floatValue, or intValue (a string)."""
    if not isinstance(v, dict):
        return None
    for key in ("doubleValue", "floatValue", "intValue"):
        if key in v:
            try:
                x = float(v[key])
            except (TypeError, ValueError):
                return None
            return x if x == x and abs(x) != float("inf") else None
    return None


def _date(d: object) -> date | None:
    if not isinstance(d, dict):
        return None
    try:
        return date(int(d["year"]), int(d["month"]), int(d["day"]))
    except (KeyError, TypeError, ValueError):
        return None


def read_days(domain: str, stats: Sequence[object]) -> list[GmailDay]:
    """DomainStats → one GmailDay per day that has any figure; unknown metrics ignored."""
    by_day: dict[date, dict[str, float]] = {}
    for s in stats:
        if not isinstance(s, dict) or s.get("metric") not in METRICS:
            continue
        day, value = _date(s.get("date")), _value(s.get("value"))
        if day is not None and value is not None:
            by_day.setdefault(day, {})[str(s["metric"])] = value
    out = []
    for day in sorted(by_day):
        m = by_day[day]
        errors = {k: v for k, v in m.items() if "/" in k}
        out.append(GmailDay(
            domain, day, spam_rate=m.get("spam_rate"), spf=m.get("spf"), dkim=m.get("dkim"),
            dmarc=m.get("dmarc"), tls_rate=m.get("tls_rate"), error_rate=m.get("error_rate"),
            errors=errors,
        ))  # fmt: skip
    return out


def _state(v: object) -> str:
    """A ComplianceStatus ({"status": "COMPLIANT"}) → its word; "" when absent."""
    if isinstance(v, dict) and isinstance(v.get("status"), str):
        return str(v["status"])
    return ""


def read_compliance(domain: str, data: Mapping[str, Any]) -> GmailCompliance:
    """complianceStatus → requirement → state, and the two unsubscribe verdicts."""
    c = data.get("complianceData") if isinstance(data.get("complianceData"), dict) else {}
    assert isinstance(c, dict)
    rows = {}
    for row in c.get("rowData") or ():
        if isinstance(row, dict) and isinstance(row.get("requirement"), str):
            rows[row["requirement"]] = _state(row.get("status")) or "STATE_UNSPECIFIED"
    one = c.get("oneClickUnsubscribeVerdict") or {}
    honor = c.get("honorUnsubscribeVerdict") or {}
    return GmailCompliance(
        domain,
        requirements=rows,
        one_click_unsubscribe=_state(one.get("status")) if isinstance(one, dict) else "",
        one_click_reason=str(one.get("reason", "")) if isinstance(one, dict) else "",
        honor_unsubscribe=_state(honor.get("status")) if isinstance(honor, dict) else "",
        honor_reason=str(honor.get("reason", "")) if isinstance(honor, dict) else "",
    )
