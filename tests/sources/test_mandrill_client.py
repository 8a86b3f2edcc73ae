"""The Mandrill client against the simulator over real HTTP on loopback."""

import json
import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from console.secret import Secret
from console.sim import DEMO_KEY, ManualClock, Scenario, SimServer, Simulator, scenario_named
from console.sources.mandrill import MandrillClient, MandrillError


async def no_sleep(_: float) -> None:
    return None


async def test_every_endpoint(client: MandrillClient, sim: Simulator, clock: ManualClock) -> None:
    assert await client.ping()
    acc = await client.users_info()
    assert acc.username == "northwind-ops" and 0 <= (acc.reputation or -1) <= 100
    assert acc.stats["last_7_days"].sent > 0 and acc.hourly_quota == 2500
    ips = await client.ips_list()
    assert ips[0].ip == "203.0.113.25" and ips[0].warmup.warming_up
    subs = await client.subaccounts_list()
    assert {s.id for s in subs} >= {"acme-shop", "dandelion"}
    rejects = await client.rejects_list()
    assert rejects and {r.reason for r in rejects} <= {"hard-bounce", "spam"}
    domains = await client.senders_domains()
    assert [d.dkim_valid for d in domains] == [True, False]
    now = int(clock().timestamp())
    page = await client.search(f"ts:[{now - 600} TO {now}]", limit=50)
    assert 0 < len(page) <= 50
    email_item = next(i for i in page if "email" in i)
    info = await client.message_info(email_item["_id"])
    assert info is not None and info.message_id == email_item["_id"]
    assert set(sim.calls) >= {
        "users/ping2",
        "users/info",
        "ips/list",
        "subaccounts/list",
        "rejects/list",
        "senders/domains",
        "messages/search",
        "messages/info",
    }


@pytest.mark.parametrize("style,status", [("current", 401), ("legacy", 500)])
async def test_invalid_key_is_final_in_both_error_styles(
    server: SimServer, sim: Simulator, style: str, status: int
) -> None:
    sim.knobs.error_style = style
    c = MandrillClient(server.base_url, Secret("wrong-key-zzz"), retries=3, sleep=no_sleep)
    with pytest.raises(MandrillError) as exc:
        await c.users_info()
    await c.aclose()
    assert exc.value.name == "Invalid_Key" and exc.value.final and not exc.value.retryable
    assert exc.value.status == status
    assert "Invalid_Key" in exc.value.title
    assert sim.calls["users/info"] == 1  # never retried


@pytest.mark.parametrize("style", ["current", "legacy"])
async def test_unknown_message_is_named_not_retried(
    client: MandrillClient, sim: Simulator, style: str
) -> None:
    sim.knobs.error_style = style
    with pytest.raises(MandrillError) as exc:
        await client.message_info("0" * 32)
    assert exc.value.name == "Unknown_Message" and not exc.value.retryable
    assert sim.calls["messages/info"] == 1


@pytest.mark.parametrize("name", ["GeneralError", "ServiceUnavailable", "RequestLimitExceeded"])
@pytest.mark.parametrize("style", ["current", "legacy"])
async def test_retryable_errors_are_retried_then_reported(
    client: MandrillClient, sim: Simulator, name: str, style: str
) -> None:
    sim.knobs.error_style = style
    sim.knobs.error_name = name
    sim.knobs.error_rates = {"ips/list": 1.0}
    with pytest.raises(MandrillError) as exc:
        await client.ips_list()
    assert exc.value.name == name and exc.value.retryable
    assert sim.calls["ips/list"] == 3  # 1 + retries=2


async def test_a_transient_error_is_absorbed_by_a_retry(
    client: MandrillClient, sim: Simulator
) -> None:
    sim.knobs.fail_next = {"ips/list": 2}
    result = await client.ips_list()
    assert result[0].ip == "203.0.113.25"
    assert sim.calls["ips/list"] == 3


async def test_rate_limit_on_search(
    client: MandrillClient, sim: Simulator, clock: ManualClock
) -> None:
    sim.knobs.search_per_minute = 2
    now = int(clock().timestamp())
    await client.search(f"ts:[{now - 60} TO {now}]")
    await client.search(f"ts:[{now - 60} TO {now}]")
    with pytest.raises(MandrillError) as exc:
        await client.search(f"ts:[{now - 60} TO {now}]")
    assert exc.value.name == "RequestLimitExceeded"


async def test_5xx_without_a_body_is_retryable(client: MandrillClient, sim: Simulator) -> None:
    sim.knobs.bare_5xx_rate = 1.0
    with pytest.raises(MandrillError) as exc:
        await client.users_info()
    assert exc.value.retryable and exc.value.name == "" and "HTTP 502" in exc.value.title


async def test_timeout(server: SimServer, sim: Simulator) -> None:
    sim.knobs.latency = 0.6
    c = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=0.2, retries=1, sleep=no_sleep)
    with pytest.raises(MandrillError, match="timeout") as exc:
        await c.users_info()
    await c.aclose()
    assert exc.value.retryable


@pytest.mark.parametrize("knob", ["malformed_rate", "truncated_rate"])
async def test_malformed_and_truncated_json(
    client: MandrillClient, sim: Simulator, knob: str
) -> None:
    setattr(sim.knobs, knob, 1.0)
    with pytest.raises(MandrillError, match="malformed answer"):
        await client.subaccounts_list()


async def test_connection_reset(client: MandrillClient, sim: Simulator) -> None:
    sim.knobs.reset_rate = 1.0
    with pytest.raises(MandrillError, match="failed") as exc:
        await client.users_info()
    assert exc.value.retryable


async def test_nothing_listening() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = MandrillClient(f"http://127.0.0.1:{port}/api/1.0", Secret("k"), retries=0)
    with pytest.raises(MandrillError, match=r"Cannot reach Mandrill at 127\.0\.0\.1"):
        await c.ping()
    await c.aclose()


async def test_wrong_shape_is_reported(
    client: MandrillClient, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sim, "m_ips_list", lambda p: {"not": "a list"})
    with pytest.raises(MandrillError, match="unexpected answer to ips/list"):
        await client.ips_list()


async def test_api_key_never_leaks_into_errors_or_logs(
    server: SimServer, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-SUPER-SECRET-0042"
    caplog.set_level(logging.DEBUG)
    sim.key = secret
    c = MandrillClient(server.base_url, Secret(secret), timeout=0.3, retries=1, sleep=no_sleep)
    errors: list[MandrillError] = []
    for knobs in (
        {"invalid_key": True},
        {"error_rate": 1.0},
        {"bare_5xx_rate": 1.0},
        {"malformed_rate": 1.0},
        {"latency": 0.5},
        {"reset_rate": 1.0},
    ):
        sim.reset_faults()
        for k, v in knobs.items():
            setattr(sim.knobs, k, v)
        try:
            await c.users_info()
        except MandrillError as exc:
            errors.append(exc)
    await c.aclose()
    assert len(errors) == 6
    for err in errors:
        assert secret not in str(err) and secret not in repr(err) and secret not in err.title
        assert err.__cause__ is None
        assert err.__context__ is None or err.__suppress_context__
    assert secret not in caplog.text


async def test_a_server_echoing_the_key_is_scrubbed() -> None:
    secret = "sk-echo-77"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={
                "status": "error",
                "code": -2,
                "name": "ValidationError",
                "message": f"Validation error: bad key {secret}",
            },
        )

    c = MandrillClient(
        "http://m.test/api/1.0", Secret(secret), transport=httpx.MockTransport(handler)
    )
    with pytest.raises(MandrillError) as exc:
        await c.users_info()
    await c.aclose()
    assert secret not in exc.value.title and "***" in exc.value.title


# -- the search window splitter ------------------------------------------------------------


def truth(sc: Scenario, lo: int, hi: int, now: datetime) -> set[str]:
    ids: set[str] = set()
    for i in sc.index_range(lo, hi):
        o = sc.outcome(i)
        item = sc.item(o, now) if lo <= o.ts <= hi else None
        if item is not None and item.get("channel") != "sms":
            ids.add(sc.message_id(i))
    return ids


async def test_pages_newest_first_cost_one_search_per_thousand_and_lose_nothing() -> None:
    sc = scenario_named("heavy")  # a million messages a day: ~700 a minute
    clock = ManualClock(sc.start + timedelta(hours=1))
    with SimServer(Simulator(sc, clock)) as srv:
        c = MandrillClient(srv.base_url, Secret(DEMO_KEY))
        now = int(clock().timestamp())
        lo, hi = now - 300, now - 1  # ~3,500 messages: several pages needed
        result = await c.search_range(lo, hi, budget=100)
        await c.aclose()
    got = [m.message_id for m in result.messages]
    assert len(got) == len(set(got))
    assert set(got) == truth(sc, lo, hi, clock())
    assert len(got) > 3000 and result.complete
    assert result.calls <= len(got) // 1000 + 1  # each full page ends the next window


async def test_pages_out_of_order_are_halved_and_lose_nothing() -> None:
    sc = scenario_named("heavy")
    clock = ManualClock(sc.start + timedelta(hours=1))
    sim = Simulator(sc, clock)
    sim.knobs.search_order = "shuffled"
    with SimServer(sim) as srv:
        c = MandrillClient(srv.base_url, Secret(DEMO_KEY))
        now = int(clock().timestamp())
        lo, hi = now - 300, now - 1
        result = await c.search_range(lo, hi, budget=100)
        await c.aclose()
    got = [m.message_id for m in result.messages]
    assert len(got) == len(set(got)) and set(got) == truth(sc, lo, hi, clock())
    assert result.complete and result.calls > len(got) // 1000 + 1  # blind halving costs more


async def test_a_spent_budget_resumes_without_gaps() -> None:
    sc = scenario_named("heavy")
    clock = ManualClock(sc.start + timedelta(hours=1))
    with SimServer(Simulator(sc, clock)) as srv:
        c = MandrillClient(srv.base_url, Secret(DEMO_KEY))
        now = int(clock().timestamp())
        lo, hi = now - 300, now - 1
        seen: set[str] = set()
        start, rounds, gap = lo, 0, None
        while start <= hi or gap:
            r = await c.search_range(start, hi, budget=2, gap=gap)
            seen |= {m.message_id for m in r.messages}
            cursor, gap = r.resume()
            assert cursor >= start - 1 and (gap is None or gap[1] <= cursor)
            start = cursor + 1
            rounds += 1
            assert rounds < 50
        await c.aclose()
    assert rounds > 1 and seen == truth(sc, lo, hi, clock())


async def test_searches_are_paced_under_the_per_minute_limit(
    server: SimServer, clock: ManualClock
) -> None:
    fake_now = [1000.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        fake_now[0] += seconds

    c = MandrillClient(
        server.base_url,
        Secret(DEMO_KEY),
        sleep=fake_sleep,
        search_per_minute=20,
        monotonic=lambda: fake_now[0],
    )
    now = int(clock().timestamp())
    for _ in range(45):
        await c.search(f"ts:[{now - 5} TO {now}]", limit=1)
        fake_now[0] += 0.1
    await c.aclose()
    assert len(slept) == 2 and all(55 < s <= 60.1 for s in slept)  # two waits for 45 calls


async def test_a_server_ignoring_the_ts_filter_does_not_make_the_splitter_spin() -> None:
    items = [
        {"_id": f"m{i}", "ts": 1_000_000 + i, "state": "sent", "email": "a@b.c"}
        for i in range(1000)
    ]
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=items)  # always the same full page

    c = MandrillClient("http://m.test/api/1.0", Secret("k"), transport=httpx.MockTransport(handler))
    r = await c.search_range(1_000_100, 1_000_199, budget=50)
    await c.aclose()
    assert len(calls) == 2 and r.complete and r.overfull_seconds == [1_000_100]
    assert [m.message_id for m in r.messages] == [f"m{i}" for i in range(100, 200)]
    assert c.ts_filter is False


def _stand_in(items: list[dict[str, Any]], mode: str) -> Callable[[httpx.Request], httpx.Response]:
    """A search endpoint that handles ts:[a TO b] the way some stand-ins might."""

    def day(ts: int) -> str:
        return datetime.fromtimestamp(ts, UTC).date().isoformat()

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        q, limit = body.get("query", "*"), body.get("limit", 100)
        dated = [i for i in items if body["date_from"] <= day(i["ts"]) <= body["date_to"]]
        dated.sort(key=lambda i: -i["ts"])
        if "ts:" in q and mode == "refuse":
            return httpx.Response(
                400,
                json={
                    "status": "error",
                    "code": -2,
                    "name": "ValidationError",
                    "message": "Validation error: unknown field ts",
                },
            )
        if "ts:" in q and mode == "literal":
            return httpx.Response(200, json=[])
        return httpx.Response(200, json=dated[:limit])  # "ignore", or a date-only query

    return handler


@pytest.mark.parametrize("mode", ["refuse", "ignore", "literal"])
async def test_a_server_without_ts_ranges_is_read_by_days(mode: str) -> None:
    t0 = int(datetime(2026, 11, 2, 20, 0, tzinfo=UTC).timestamp())
    items: list[dict[str, Any]] = [
        {"_id": f"m{i}", "ts": t0 + i * 60, "state": "bounced", "email": "a@b.c"}
        for i in range(600)
    ]  # 20:00 on day one to 06:00 on day three
    transport = httpx.MockTransport(_stand_in(items, mode))
    c = MandrillClient("http://m.test/api/1.0", Secret("k"), transport=transport)
    lo, hi = t0 + 30 * 60, t0 + 500 * 60
    r = await c.search_range(lo, hi, budget=20)
    await c.aclose()
    assert c.ts_filter is False and r.complete and not r.overfull_seconds
    want = {i["_id"] for i in items if lo <= i["ts"] <= hi}
    assert {m.message_id for m in r.messages} == want


async def test_sms_items_are_skipped_and_do_not_look_like_an_ignored_filter(
    client: MandrillClient, clock: ManualClock
) -> None:
    now = int(clock().timestamp())
    raw = await client.search(f"ts:[{now - 3600} TO {now}]")
    assert any(i.get("channel") == "sms" for i in raw)
    r = await client.search_range(now - 3600, now)
    assert client.ts_filter is True and len(r.messages) == len(raw) - sum(
        1 for i in raw if i.get("channel") == "sms"
    )


async def test_an_empty_window_on_a_ts_server_costs_one_probe_then_none() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[])

    c = MandrillClient("http://m.test/api/1.0", Secret("k"), transport=httpx.MockTransport(handler))
    r = await c.search_range(1_000, 2_000)
    await c.aclose()
    assert r.calls == 2 and r.messages == [] and c.ts_filter is None


async def test_send_answers_per_recipient(client: MandrillClient, sim: Simulator) -> None:
    sim.denylist = {"blocked@example.test"}
    message = {
        "from_email": "a@b.c",
        "subject": "s",
        "text": "t",
        "to": [
            {"email": "ok@example.test"},
            {"email": "blocked@example.test"},
            {"email": "not-an-address"},
        ],
    }
    answer = await client.send(message)
    assert [(r.email, r.status) for r in answer] == [
        ("ok@example.test", "sent"),
        ("blocked@example.test", "rejected"),
        ("not-an-address", "invalid"),
    ]
    assert answer[1].reject_reason == "hard-bounce" and answer[0].message_id
    with pytest.raises(MandrillError) as exc:
        await client.send({"subject": "no recipients"})
    assert exc.value.name == "ValidationError"


def test_resume_keeps_an_earlier_gaps_rest_and_never_steps_back() -> None:
    from console.sources.mandrill import SearchResult

    # the earlier gap 1000..5000 was read from the top down to 3000; the new window
    # 5001..9000 (its first 600 s an overlap below the prior cursor 5600) was not reached
    r = SearchResult(start=1000, end=9000, fresh_from=5001, unread=[(1000, 3000), (5001, 9000)])
    assert r.resume(prior=5600) == (5600, (1000, 3000))
    # halving read the gap's older half and left its upper half touching the new window
    r = SearchResult(start=1000, end=9000, fresh_from=5001, unread=[(3001, 5000), (5001, 9000)])
    assert r.resume(prior=5600) == (5600, (3001, 5000))
    # a first read (no prior cursor) cut short newest first: the oldest part is the gap
    r = SearchResult(start=1000, end=9000, fresh_from=1000, unread=[(1000, 4000)])
    assert r.resume() == (9000, (1000, 4000))
    # unread windows inside the overlap were read by the poll before: not a gap
    r = SearchResult(start=5001, end=9000, fresh_from=5001, unread=[(5001, 5300)])
    assert r.resume(prior=5600) == (9000, None)
