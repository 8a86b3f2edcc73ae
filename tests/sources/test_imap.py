"""Seed mailboxes against Dovecot on loopback: where a token landed, and clear errors."""

from __future__ import annotations

import asyncio
import imaplib
import socket
from dataclasses import replace
from typing import Any

import pytest

from console.secret import Secret
from console.sim import ManualClock, SimServer, Simulator
from console.sim.server import SentMessage
from console.sources.imap import ImapError, SeedMailbox, find_token
from tests.imap_servers import PASSWORD, USER, Dovecot, append, deliver_to

pytestmark = pytest.mark.servers


def deliver(
    server: Dovecot, folder: str, token: str, subject: str = "Your receipt", auth: str = ""
) -> None:
    msg = (
        f"From: no-reply@notify.northwind.example\r\nTo: {USER}@seed.test\r\n"
        f"Subject: {subject}\r\nX-Mailops-Seed: {token}\r\n"
        + (f"Authentication-Results: {auth}\r\n" if auth else "")
        + "Received: from mail25.northwind.mandrillapp.com (203.0.113.25) by mx.seed.test\r\n"
        "\r\nHello\r\n"
    ).encode()
    append(server, folder, msg)


def box(server: Dovecot, **kw: Any) -> SeedMailbox:
    base: dict[str, Any] = dict(
        name="gmail-1",
        provider="other",
        host="127.0.0.1",
        port=server.plain_port,
        username=USER,
        password=Secret(PASSWORD),
        security="none",
        timeout=10.0,
    )
    return SeedMailbox(**{**base, **kw})


async def test_inbox_spam_and_missing(dovecot_server: Dovecot) -> None:
    deliver(dovecot_server, "INBOX", "tok-inbox-1", auth="mx.seed.test; spf=pass smtp.mailfrom=x")
    deliver(dovecot_server, "Junk", "tok-spam-1")
    found = await find_token(box(dovecot_server), "tok-inbox-1")
    assert found is not None and found.folder == "INBOX" and found.placement == "inbox"
    assert found.headers["authentication-results"] == ("mx.seed.test; spf=pass smtp.mailfrom=x",)
    spam = await find_token(box(dovecot_server), "tok-spam-1")
    assert spam is not None and spam.folder == "Junk" and spam.placement == "spam"  # \Junk flag
    assert await find_token(box(dovecot_server), "tok-never-sent") is None


async def test_tls_is_verified(dovecot_server: Dovecot) -> None:
    deliver(dovecot_server, "INBOX", "tok-tls-1")
    trusted = box(
        dovecot_server,
        security="tls",
        port=dovecot_server.tls_port,
        host="localhost",
        ca_file=dovecot_server.ca_file,
    )
    found = await find_token(trusted, "tok-tls-1")
    assert found is not None and found.placement == "inbox"
    untrusted = box(dovecot_server, security="tls", port=dovecot_server.tls_port, host="localhost")
    with pytest.raises(ImapError, match="certificate not trusted"):
        await find_token(untrusted, "tok-tls-1")


async def test_a_missing_folder_is_named(dovecot_server: Dovecot) -> None:
    with pytest.raises(ImapError, match="folder 'Bulk Mail' does not exist"):
        await find_token(box(dovecot_server, folders=("INBOX", "Bulk Mail")), "x")


async def test_hostile_headers_do_not_break_the_search(dovecot_server: Dovecot) -> None:
    subject = "=?utf-8?b?W2JvbGRdUFdORURbL2JvbGRd?= \x1b]0;owned\x07"
    deliver(dovecot_server, "INBOX", "tok-hostile-1", subject=subject)
    found = await find_token(box(dovecot_server), "tok-hostile-1")
    assert found is not None and found.placement == "inbox"


async def test_wrong_password_is_a_clear_error_without_the_password(
    dovecot_server: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Dovecot delays logins from an address after failures: fail from another loopback address.
    real = socket.create_connection

    def from_other_address(
        address: tuple[str, int],
        timeout: float | None = None,
        source_address: tuple[str, int] | None = None,
        **kw: Any,
    ) -> socket.socket:
        return real(address, timeout, source_address=("127.0.0.99", 0), **kw)

    monkeypatch.setattr(socket, "create_connection", from_other_address)
    with pytest.raises(ImapError) as exc:
        await find_token(box(dovecot_server, password=Secret("wrong-pw-123")), "x")
    assert "login" in exc.value.title and USER in exc.value.title
    assert "wrong-pw-123" not in exc.value.title


async def test_nothing_listening_and_timeout() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    closed = SeedMailbox("x", "other", "127.0.0.1", port, USER, Secret("p"), "none", timeout=1)
    with pytest.raises(ImapError, match="Cannot reach IMAP server"):
        await find_token(closed, "t")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        port = silent.getsockname()[1]
        hang = SeedMailbox("x", "other", "127.0.0.1", port, USER, Secret("p"), "none", timeout=0.5)
        with pytest.raises(ImapError, match="did not answer"):
            await find_token(hang, "t")
    finally:
        silent.close()


async def test_send_through_the_simulator_append_and_find(
    dovecot_server: Dovecot, server: SimServer, sim: Simulator, clock: ManualClock
) -> None:
    """End to end: messages/send → the simulator files it (APPEND) → IMAP finds the token."""
    from datetime import timedelta

    from console.analysis.authresults import trusted, verdicts
    from console.sim import DEMO_KEY
    from console.sources.mandrill import MandrillClient

    sim.deliver = deliver_to(dovecot_server)
    sim.denylist = {"gone@outlook.test"}
    clock.set(sim.scenario.start + timedelta(hours=3))  # the noisy IP is in trouble
    client = MandrillClient(server.base_url, Secret(DEMO_KEY))
    results: list[tuple[str, str]] = []
    for n in range(12):  # enough sends that one goes out over the noisy shared IP
        token = f"seed-run-{n}"
        message = {
            "from_email": "no-reply@notify.northwind.example",
            "subject": "Seed test",
            "text": f"mailops seed {token}",
            "headers": {"X-Mailops-Seed": token},
            "to": [
                {"email": f"{USER}@gmail.test", "type": "to"},
                {"email": "gone@outlook.test", "type": "to"},
            ],
        }
        answer = await client.send(message)
        assert [r.status for r in answer] == ["sent", "rejected"]
        assert answer[1].reject_reason == "hard-bounce"
        info = await client.message_info(answer[0].message_id)
        found = await find_token(box(dovecot_server, provider="gmail"), token)
        assert found is not None and info is not None
        results.append((info.source_ip, found.placement))
        ar = trusted(found.headers["authentication-results"], "mx.gmail.test")
        assert verdicts(ar) == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
    await client.aclose()
    noisy = sim.scenario.noisy_ip
    assert all((p == "spam") == (ip == noisy) for ip, p in results)
    assert any(ip == noisy for ip, _ in results), results


async def test_a_whole_seed_run(
    dovecot_server: Dovecot, server: SimServer, sim: Simulator, clock: ManualClock
) -> None:
    """Four seeds: inbox, Gmail spam via the noisy IP, a Mandrill reject, one never delivered."""
    from datetime import timedelta

    from console.config import SeedTestConfig
    from console.seeding import Seed, run_seed_test
    from console.sim import DEMO_KEY
    from console.sources.mandrill import MandrillClient

    def deliver(sent: SentMessage) -> None:
        if not sent.email.startswith("lost@"):  # lost@ is swallowed on the way: "missing"
            append(dovecot_server, sent.folder, sent.raw)

    sim.deliver = deliver
    sim.denylist = {"gone@yahoo.test"}
    clock.set(sim.scenario.start + timedelta(hours=3))
    # force the Gmail seed over the noisy IP, the Outlook one over the dedicated IP
    sim.scenario = replace(
        sim.scenario, noisy_ip=sim.scenario.shared_ips[0], shared_ips=(sim.scenario.shared_ips[0],)
    )
    client = MandrillClient(server.base_url, Secret(DEMO_KEY))
    seeds = [
        Seed("gmail-1", f"{USER}@gmail.test", box(dovecot_server, provider="gmail")),
        Seed("outlook-1", f"{USER}@outlook.test", box(dovecot_server, provider="outlook")),
        Seed("yahoo-1", "gone@yahoo.test", box(dovecot_server, provider="yahoo")),
        Seed("other-1", "lost@other.test", box(dovecot_server)),
    ]
    cfg = SeedTestConfig(
        from_email="no-reply@notify.northwind.example", wait_minutes=0.02, poll_seconds=0.2
    )
    seen: list[tuple[int, int]] = []

    async def tick(seconds: float) -> None:  # the run's clock is the scenario's manual one
        clock.advance(seconds=seconds)
        await asyncio.sleep(0.01)

    run = await run_seed_test(
        client, seeds, cfg, clock=clock, sleep=tick, progress=lambda f, t, w: seen.append((f, t))
    )
    await client.aclose()
    by = {r.seed: r for r in run.results}
    assert run.finished_at is not None and run.finished_at >= run.run_at
    assert by["yahoo-1"].placement == "rejected" and "hard-bounce" in by["yahoo-1"].error
    assert by["other-1"].placement == "missing"
    for name in ("gmail-1", "outlook-1"):
        r = by[name]
        assert r.placement in ("inbox", "spam") and r.auth == {
            "spf": "pass",
            "dkim": "pass",
            "dmarc": "pass",
        }
        assert r.source_ip and r.received_ip == r.source_ip and r.delay_s is not None
        spam_expected = name == "gmail-1" and r.source_ip == sim.scenario.noisy_ip
        assert (r.placement == "spam") == spam_expected  # Gmail files the noisy IP as spam
    assert seen[-1] == (3, 4)


@pytest.mark.parametrize("action", ["flag", "delete"])
async def test_found_messages_are_flagged_or_deleted(dovecot_server: Dovecot, action: str) -> None:
    token = f"tok-tidy-{action}"
    deliver(dovecot_server, "INBOX", token)
    found = await find_token(box(dovecot_server, after_found=action), token)
    assert found is not None and found.placement == "inbox" and not found.note
    imap = imaplib.IMAP4("127.0.0.1", dovecot_server.plain_port)
    imap.login(USER, PASSWORD)
    imap.select("INBOX")
    _, data = imap.search(None, "HEADER", "X-Mailops-Seed", token)
    uids = data[0].split()
    if action == "delete":
        assert uids == []  # expunged
    else:
        assert len(uids) == 1
        _, flags = imap.fetch(uids[0], "(FLAGS)")
        assert isinstance(flags[0], bytes)
        assert b"\\Seen" in flags[0] and b"\\Flagged" in flags[0]
    imap.logout()
