"""The simulator against Mailchimp's own OpenAPI spec: every answer to an endpoint mailops
calls, taken raw over HTTP, validates (required keys, JSON types, null only where the
spec allows it), and so do its documented errors. The spec is read as data, offline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from console.sim import DEMO_KEY, ManualClock, Scenario, SimServer, Simulator, scenario_named
from tests.openapi import response_schema, validate

#: What the spec leaves out that Mandrill's help pages document and the client accepts.
KNOWN_GAPS = re.compile(
    r"\.state: '(soft-bounced|spam|unsub|deferred)' not in"
    r"|\.smtp_events\[\d+\]\.type: 'deferred' not in"
)
World = tuple[SimServer, Simulator, Scenario, ManualClock]


@pytest.fixture
def world() -> Iterator[World]:
    sc = scenario_named("default")
    clock = ManualClock(sc.start + timedelta(hours=6))
    sim = Simulator(sc, clock)
    with SimServer(sim) as srv:
        yield srv, sim, sc, clock


def post(srv: SimServer, method: str, **params: Any) -> httpx.Response:
    return httpx.post(f"{srv.base_url}/{method}.json", json={"key": DEMO_KEY, **params})


def problems(method: str, resp: httpx.Response) -> list[str]:
    found = validate(resp.json(), response_schema(method, str(resp.status_code)))
    return [p for p in found if not KNOWN_GAPS.search(p)]


def test_every_answer_mailops_reads_follows_the_spec(world: World) -> None:
    srv, _, sc, clock = world
    now = int(clock().timestamp())
    send = {"from_email": "a@notify.northwind.example", "to": [{"email": "s1@gmail.com"}],
            "subject": "seed", "text": "hello"}  # fmt: skip
    calls: dict[str, dict[str, Any]] = {
        "users/info": {},
        "users/ping2": {},
        "ips/list": {},
        "subaccounts/list": {},
        "rejects/list": {},
        "senders/domains": {},
        "templates/list": {},
        "templates/render": {"template_name": "password-reset", "template_content": [],
                             "merge_vars": [{"name": "TOKEN", "content": "x"}]},
        # six hours: every state the scenario has, late bounces and complaints too
        "messages/search": {"query": f"ts:[{now - 6 * 3600} TO {now}]", "limit": 1000},
        "ips/start-warmup": {"ip": sc.dedicated_ip},
        "ips/cancel-warmup": {"ip": sc.dedicated_ip},
        "subaccounts/pause": {"id": "acme-shop"},
        "subaccounts/resume": {"id": "acme-shop"},
        "messages/send": {"message": send, "async": False},
        "messages/send-template": {"template_name": "password-reset", "template_content": [],
                                   "message": send},
    }
    for method, params in calls.items():
        resp = post(srv, method, **params)
        assert resp.status_code == 200, (method, resp.text[:300])
        assert problems(method, resp) == [], method
    page = post(srv, "messages/search", **calls["messages/search"]).json()
    assert {m["state"] for m in page} >= {"sent", "bounced", "deferred"}  # the gaps are seen
    info = post(srv, "messages/info", id=page[0]["_id"])
    assert problems("messages/info", info) == []
    email = post(srv, "rejects/list").json()[0]["email"]
    gone = post(srv, "rejects/delete", email=email)
    assert gone.status_code == 200 and problems("rejects/delete", gone) == []


@pytest.mark.parametrize(
    "method, params, status, name",
    [
        ("messages/send", {"message": {"to": [{"email": "a@b.example"}],
                                        "subaccount": "nope"}}, 404, "Unknown_Subaccount"),
        ("rejects/list", {"subaccount": "nope"}, 404, "Unknown_Subaccount"),
        ("subaccounts/pause", {"id": "nope"}, 404, "Unknown_Subaccount"),
        ("messages/info", {"id": "0" * 32}, 404, "Unknown_Message"),
        ("ips/start-warmup", {"ip": "192.0.2.1"}, 404, "Unknown_IP"),
    ],
)  # fmt: skip
def test_documented_errors_come_as_the_spec_says(
    world: World, method: str, params: dict[str, Any], status: int, name: str
) -> None:
    srv, *_ = world
    resp = post(srv, method, **params)
    assert resp.status_code == status and resp.json()["name"] == name
    assert problems(method, resp) == []


def test_a_wrong_key_is_the_spec_s_401(world: World) -> None:
    srv, *_ = world
    resp = httpx.post(f"{srv.base_url}/users/info.json", json={"key": "wrong"})
    assert resp.status_code == 401 and problems("users/info", resp) == []


def test_the_validator_catches_what_breaks_the_spec() -> None:
    schema = response_schema("users/info")
    assert validate({"username": 5}, schema)  # wrong type and required keys missing
    bad = {"email": "a@b.example", "deleted": True, "subaccount": None}
    assert any("subaccount" in p for p in validate(bad, response_schema("rejects/delete")))
