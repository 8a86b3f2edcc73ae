"""A Gmail Postmaster Tools API v2 simulator, with the OAuth token endpoint beside it.

Built from Google's v2 reference (discovery revision 20260512), strict where the API is:
unknown request fields and malformed filters are 400 INVALID_ARGUMENT, an unknown or
expired token is 401 UNAUTHENTICATED, a domain the caller may not read is 403
PERMISSION_DENIED, and days without data are simply absent from the answer. Errors use
Google's envelope `{"error": {"code", "message", "status"}}`.

Its story (`gmail_story`) is the demo's: Gmail's spam rate for the sending domain climbs
over the last days, with low-IP-reputation rejects, while Mandrill's own complaint rate
stays low; the last two days are not published yet.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

STANDARD_METRICS = (
    "FEEDBACK_LOOP_ID", "FEEDBACK_LOOP_SPAM_RATE", "SPAM_RATE", "AUTH_SUCCESS_RATE",
    "TLS_ENCRYPTION_MESSAGE_COUNT", "TLS_ENCRYPTION_RATE", "DELIVERY_ERROR_COUNT",
    "DELIVERY_ERROR_RATE",
)  # fmt: skip
REJECT_REASONS = ("bad_attachment", "bad_or_missing_ptr_record", "ip_in_rbls",
                  "low_domain_reputation", "low_ip_reputation", "spammy_content",
                  "stamp_policy_error", "other")  # fmt: skip
TEMP_REASONS = ("anomalous_traffic_pattern", "other")
QUERY_FIELDS = {"parent", "metricDefinitions", "timeQuery", "pageSize", "pageToken",
                "aggregationGranularity"}  # fmt: skip
REQUIREMENTS = ("SPF", "DKIM", "SPF_AND_DKIM", "DMARC_POLICY", "DMARC_ALIGNMENT",
                "MESSAGE_FORMATTING", "DNS_RECORDS", "ENCRYPTION", "USER_REPORTED_SPAM_RATE",
                "ONE_CLICK_UNSUBSCRIBE", "HONOR_UNSUBSCRIBE")  # fmt: skip
_FILTER_PART = re.compile(r'^\s*([a-z_]+)\s*=\s*"([^"]*)"\s*$')


class ApiError(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


def gmail_story(day: date, today: date) -> dict[str, float] | None:
    """The demo domain's figures for one day; None when not published (the last two
    days, and anything over 120 days old)."""
    age = (today - day).days
    if age < 2 or age > 120:
        return None
    bad = max(0, 8 - age)  # the shared pool's bad days: the last six published climb
    spam = 0.0004 + 0.0007 * bad
    low_ip = 0.002 + 0.006 * bad
    rbl = 0.004 if bad >= 3 else 0.0
    return {
        "SPAM_RATE": round(spam, 5),
        "AUTH_SUCCESS_RATE/spf": 0.998, "AUTH_SUCCESS_RATE/dkim": 0.999,
        "AUTH_SUCCESS_RATE/dmarc": 0.997, "TLS_ENCRYPTION_RATE/inbound": 1.0,
        "DELIVERY_ERROR_RATE": round(low_ip + rbl + 0.001, 5),
        "DELIVERY_ERROR_RATE/reject/low_ip_reputation": round(low_ip, 5),
        "DELIVERY_ERROR_RATE/reject/ip_in_rbls": rbl,
        "DELIVERY_ERROR_RATE/temp_fail/other": 0.001,
    }  # fmt: skip


@dataclass
class PostmasterKnobs:
    """Faults and state the tests change live."""

    revoked: bool = False  # the token endpoint answers invalid_grant
    token_lifetime: int = 3600
    quota_errors: int = 0  # the next N API calls answer 429 RESOURCE_EXHAUSTED
    forbidden: set[str] = field(default_factory=set)  # domains answered 403


class PostmasterSim:
    """The API's logic: tokens, domains, stats and compliance over a story."""

    def __init__(
        self,
        domains: dict[str, Callable[[date, date], dict[str, float] | None]],
        clock: Callable[[], datetime],
        *,
        client_id: str = "sim-client.apps.googleusercontent.com",
        client_secret: str = "sim-client-secret",
        refresh_token: str = "sim-refresh-token",
    ) -> None:
        self.domains = domains
        self.clock = clock
        self.client_id, self.client_secret = client_id, client_secret
        self.refresh_token = refresh_token
        self.knobs = PostmasterKnobs()
        self.tokens: dict[str, float] = {}  # access token → expiry (monotonic)
        self.calls: Counter[str] = Counter()
        self.assertions: list[dict[str, Any]] = []  # service-account JWT claims seen
        self.compliance_needs_work = {"ONE_CLICK_UNSUBSCRIBE": "NO_UNSUB_PROMO_SPAM_REPORTS"}
        self._lock = threading.Lock()

    # -- OAuth ---------------------------------------------------------------------

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.calls["token"] += 1
        grant = form.get("grant_type", "")
        if self.knobs.revoked:
            return 400, {"error": "invalid_grant",
                         "error_description": "Token has been expired or revoked."}  # fmt: skip
        if grant == "refresh_token":
            if (form.get("client_id"), form.get("client_secret")) != (
                self.client_id, self.client_secret,
            ):  # fmt: skip
                return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
            if form.get("refresh_token") != self.refresh_token:
                return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            claims = _jwt_claims(form.get("assertion", ""))
            if claims is None:
                return 400, {"error": "invalid_grant", "error_description": "Invalid JWT."}
            self.assertions.append(claims)
        else:
            return 400, {"error": "unsupported_grant_type"}
        access = "ya29.sim-" + secrets.token_urlsafe(12)
        with self._lock:
            self.tokens[access] = time.monotonic() + self.knobs.token_lifetime
        return 200, {"access_token": access, "expires_in": self.knobs.token_lifetime,
                     "token_type": "Bearer"}  # fmt: skip

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (as when Google revokes one early)."""
        with self._lock:
            self.tokens.clear()

    def _authorize(self, header: str) -> None:
        token = header.removeprefix("Bearer ").strip()
        with self._lock:
            expiry = self.tokens.get(token)
        if expiry is None or expiry < time.monotonic():
            raise ApiError(401, "UNAUTHENTICATED",
                           "Request had invalid authentication credentials.")  # fmt: skip

    # -- the API -------------------------------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], body: Any,
               auth: str) -> dict[str, Any]:  # fmt: skip
        self._authorize(auth)
        if self.knobs.quota_errors > 0:
            self.knobs.quota_errors -= 1
            raise ApiError(429, "RESOURCE_EXHAUSTED", "Quota exceeded.")
        if method == "GET" and path == "/v2/domains":
            self.calls["domains.list"] += 1
            return self._list(query)
        m = re.fullmatch(r"/v2/domains/([^/]+)/(domainStats:query|complianceStatus)", path)
        if m is None:
            raise ApiError(404, "NOT_FOUND", f"{path} not found")
        domain, what = m.group(1), m.group(2)
        if domain not in self.domains:
            raise ApiError(404, "NOT_FOUND", f"domains/{domain} is not registered by you")
        if domain in self.knobs.forbidden:
            raise ApiError(403, "PERMISSION_DENIED", "The caller does not have permission")
        if what == "complianceStatus" and method == "GET":
            self.calls["complianceStatus"] += 1
            return self._compliance(domain)
        if what == "domainStats:query" and method == "POST":
            self.calls["domainStats.query"] += 1
            return self._query(domain, body)
        raise ApiError(405, "INVALID_ARGUMENT", f"{method} is not allowed on {path}")

    def _list(self, query: dict[str, str]) -> dict[str, Any]:
        size = min(200, int(query.get("pageSize") or 10))
        start = int(_untoken(query.get("pageToken", "")) or 0)
        names = sorted(self.domains)
        page = names[start : start + size]
        out: dict[str, Any] = {"domains": [
            {"name": f"domains/{d}", "permission": "OWNER", "verificationState": "VERIFIED",
             "createTime": "2025-11-03T08:15:30.123456Z"} for d in page
        ]}  # fmt: skip
        if start + size < len(names):
            out["nextPageToken"] = _token(str(start + size))
        return out

    def _compliance(self, domain: str) -> dict[str, Any]:
        def state(s: str) -> dict[str, str]:
            return {"status": s}

        work = self.compliance_needs_work
        rows = [{"requirement": r, "status": state("NEEDS_WORK" if r in work else "COMPLIANT")}
                for r in REQUIREMENTS]  # fmt: skip
        one: dict[str, Any] = {"status": state("COMPLIANT")}
        if "ONE_CLICK_UNSUBSCRIBE" in work:
            one = {"status": state("NEEDS_WORK"), "reason": work["ONE_CLICK_UNSUBSCRIBE"]}
        return {
            "name": f"domains/{domain}/complianceStatus",
            "complianceData": {"domainId": domain, "rowData": rows,
                               "oneClickUnsubscribeVerdict": one,
                               "honorUnsubscribeVerdict": {"status": state("COMPLIANT")}},
        }  # fmt: skip

    def _query(self, domain: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        unknown = sorted(set(body) - QUERY_FIELDS)
        if unknown:
            raise ApiError(400, "INVALID_ARGUMENT",
                           f'Invalid JSON payload received. Unknown name "{unknown[0]}": '
                           "Cannot find field.")  # fmt: skip
        metrics = [_metric(d) for d in body.get("metricDefinitions") or []]
        if not metrics:
            raise ApiError(400, "INVALID_ARGUMENT", "metric_definitions is required")
        days = _days(body.get("timeQuery"))
        if body.get("aggregationGranularity", "DAILY") not in (
            "DAILY", "AGGREGATION_GRANULARITY_UNSPECIFIED",
        ):  # fmt: skip
            raise ApiError(400, "INVALID_ARGUMENT", "only DAILY is simulated")
        size = int(body.get("pageSize") or 10)
        if not 0 < size <= 200:
            raise ApiError(400, "INVALID_ARGUMENT", "page_size must be from 1 to 200")
        stats = self._stats(domain, metrics, days)
        start = int(_untoken(str(body.get("pageToken") or "")) or 0)
        out: dict[str, Any] = {}
        if stats[start : start + size]:
            out["domainStats"] = stats[start : start + size]
        if start + size < len(stats):
            out["nextPageToken"] = _token(str(start + size))
        return out

    def _stats(self, domain: str, metrics: list[tuple[str, str]],
               days: list[date]) -> list[dict[str, Any]]:  # fmt: skip
        today = self.clock().astimezone(UTC).date()
        story = self.domains[domain]
        out = []
        for day in sorted(set(days)):
            figures = story(day, today)
            if figures is None:
                continue  # not published: absent, never zero
            for name, key in metrics:
                value = figures.get(key, 0.0 if key.startswith("DELIVERY_ERROR_RATE/") else None)
                if value is None:
                    continue
                out.append({
                    "name": f"domains/{domain}/domainStats/{day:%Y%m%d}-{name}",
                    "metric": name,
                    "date": {"year": day.year, "month": day.month, "day": day.day},
                    "value": {"doubleValue": value},
                })  # fmt: skip
        return out


def _metric(d: object) -> tuple[str, str]:
    """(the caller's name, the story's key) of one MetricDefinition, checked."""
    if not isinstance(d, dict) or not isinstance(d.get("name"), str) or not d["name"]:
        raise ApiError(400, "INVALID_ARGUMENT", "metric_definitions[].name is required")
    base = d.get("baseMetric")
    standard = base.get("standardMetric") if isinstance(base, dict) else None
    if standard not in STANDARD_METRICS:
        raise ApiError(400, "INVALID_ARGUMENT", f"Invalid value at standard_metric: {standard}")
    parts = _filter(str(d.get("filter", "")))
    key = standard
    if standard == "AUTH_SUCCESS_RATE":
        if set(parts) != {"auth_type"} or parts["auth_type"] not in ("spf", "dkim", "dmarc"):
            raise ApiError(400, "INVALID_ARGUMENT", "AUTH_SUCCESS_RATE needs auth_type")
        key += "/" + parts["auth_type"]
    elif standard == "TLS_ENCRYPTION_RATE":
        if parts.get("traffic_direction") not in ("inbound", "outbound"):
            raise ApiError(400, "INVALID_ARGUMENT", "TLS_ENCRYPTION_RATE needs traffic_direction")
        key += "/" + parts["traffic_direction"]
    elif standard == "DELIVERY_ERROR_RATE" and parts:
        key += "/" + _error_key(parts)
    elif parts:
        raise ApiError(400, "INVALID_ARGUMENT", f"{standard} takes no filter here")
    return str(d["name"]), key


def _error_key(parts: dict[str, str]) -> str:
    t, r = parts.get("error_type"), parts.get("error_reason")
    reasons = {"reject": REJECT_REASONS, "temp_fail": TEMP_REASONS}
    if t not in reasons or (r is not None and r not in reasons[t]) or set(parts) - {
        "error_type", "error_reason",
    }:  # fmt: skip
        raise ApiError(400, "INVALID_ARGUMENT", f"Invalid delivery error filter: {parts}")
    return f"{t}/{r}" if r else str(t)


def _filter(text: str) -> dict[str, str]:
    if not text.strip():
        return {}
    out = {}
    for part in text.split(" AND "):
        m = _FILTER_PART.match(part)
        if m is None:
            raise ApiError(400, "INVALID_ARGUMENT", f"Invalid filter: {text}")
        out[m.group(1)] = m.group(2)
    return out


def _days(tq: object) -> list[date]:
    if not isinstance(tq, dict):
        raise ApiError(400, "INVALID_ARGUMENT", "time_query is required")
    if "dateRanges" in tq:
        ranges = tq["dateRanges"].get("dateRanges") if isinstance(tq["dateRanges"], dict) else None
        out: list[date] = []
        for r in ranges or []:
            start, end = _date(r.get("start")), _date(r.get("end"))
            if end < start or (end - start).days > 400:
                raise ApiError(400, "INVALID_ARGUMENT", "Invalid date range")
            out += [start + timedelta(days=i) for i in range((end - start).days + 1)]
        return out
    if "dateList" in tq and isinstance(tq["dateList"], dict):
        return [_date(d) for d in tq["dateList"].get("dates") or []]
    raise ApiError(400, "INVALID_ARGUMENT", "time_query needs dateRanges or dateList")


def _date(d: object) -> date:
    try:
        assert isinstance(d, dict)
        return date(int(d["year"]), int(d["month"]), int(d["day"]))
    except (AssertionError, KeyError, TypeError, ValueError):
        raise ApiError(400, "INVALID_ARGUMENT", f"Invalid date: {d}") from None


def _token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def _untoken(text: str) -> str:
    try:
        return base64.urlsafe_b64decode(text.encode()).decode() if text else ""
    except ValueError:
        raise ApiError(400, "INVALID_ARGUMENT", "Invalid page token") from None


def _jwt_claims(assertion: str) -> dict[str, Any] | None:
    """A service account's JWT claims (the simulator does not check the signature)."""
    try:
        payload = assertion.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet

    def do_GET(self) -> None:
        self._api("GET", None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        if url.path == "/token":
            form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
            status, answer = self.server.sim.token(form)
            self._send(status, answer)
            return
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = "invalid"
        self._api("POST", body)

    def _api(self, method: str, body: Any) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            answer = self.server.sim.handle(
                method, url.path, query, body, self.headers.get("Authorization", "")
            )
        except ApiError as exc:
            self._send(exc.code, {"error": {"code": exc.code, "message": exc.message,
                                            "status": exc.status}})  # fmt: skip
            return
        self._send(200, answer)

    def _send(self, status: int, answer: dict[str, Any]) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr: tuple[str, int], sim: PostmasterSim) -> None:
        super().__init__(addr, _Handler)
        self.sim = sim


class PostmasterServer:
    """Serves a PostmasterSim on 127.0.0.1 in a thread: `base_url` and `token_uri`."""

    def __init__(self, sim: PostmasterSim, port: int = 0) -> None:
        self.sim = sim
        self._httpd = _Server(("127.0.0.1", port), sim)
        self.port = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    def authorized_user(self) -> dict[str, str]:
        """An authorized-user credentials file's content that this server accepts."""
        s = self.sim
        return {"type": "authorized_user", "client_id": s.client_id,
                "client_secret": s.client_secret, "refresh_token": s.refresh_token}  # fmt: skip

    def start(self) -> PostmasterServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.1})  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)


#: the demo's sending domain, the one Gmail's story is told for
DEMO_DOMAIN = "notify.northwind.example"


def demo_postmaster(clock: Callable[[], datetime], folder: Path) -> tuple[PostmasterServer, Path]:
    """The demo's Postmaster Tools, started, and an authorized-user credentials file for it
    written into `folder` (mode 0600, as a real one should be)."""
    server = PostmasterServer(PostmasterSim({DEMO_DOMAIN: gmail_story}, clock)).start()
    creds = folder / "postmaster-credentials.json"
    creds.touch(mode=0o600)
    creds.write_text(json.dumps(server.authorized_user()))
    return server, creds
