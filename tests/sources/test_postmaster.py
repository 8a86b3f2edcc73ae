"""Gmail Postmaster Tools v2 against the simulator over real HTTP: google-auth's tokens
(refreshed when they expire, a revoked one final), the days Gmail published (and those it
has not, absent), compliance, quota errors, and the rules, `check` and metrics built on it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from console.analysis.gmail import disagreement, gmail_board, gmail_signals
from console.cli import demo_config
from console.config import PostmasterConfig
from console.jobs import Pipeline
from console.model import GmailView
from console.secret import Secret
from console.sim import DEMO_KEY, ManualClock, SimServer
from console.sim.postmaster import PostmasterServer, PostmasterSim, gmail_story
from console.sources.base import SourceError
from console.sources.mandrill import MandrillClient
from console.sources.postmaster import PostmasterClient, load_credentials
from console.store import Store

DOMAIN = "notify.northwind.example"


@pytest.fixture
def gmail(clock: ManualClock) -> Iterator[PostmasterServer]:
    sim = PostmasterSim({DOMAIN: gmail_story, "other.example": gmail_story}, clock)
    srv = PostmasterServer(sim).start()
    yield srv
    srv.stop()


def creds_file(tmp_path: Path, info: dict[str, str]) -> Path:
    path = tmp_path / "postmaster.json"
    path.write_text(json.dumps(info))
    path.chmod(0o600)
    return path


@pytest.fixture
async def client(gmail: PostmasterServer, tmp_path: Path) -> AsyncIterator[PostmasterClient]:
    creds = load_credentials(creds_file(tmp_path, gmail.authorized_user()), gmail.token_uri)
    c = PostmasterClient(gmail.base_url, creds, timeout=5, where="postmaster.json")
    yield c
    await c.aclose()


async def test_published_days_are_read_and_unpublished_ones_are_absent(
    client: PostmasterClient, gmail: PostmasterServer, clock: ManualClock
) -> None:
    assert sorted(await client.domains()) == [DOMAIN, "other.example"]
    today = clock().date()
    days = await client.days(DOMAIN, today - timedelta(days=29), today)
    assert [d.day for d in days] == [today - timedelta(days=i) for i in range(29, 1, -1)]
    last = days[-1]
    assert last.spam_rate == gmail_story(last.day, today)["SPAM_RATE"]  # type: ignore[index]
    assert last.spam_rate is not None and last.spam_rate > 0.003  # the bad shared-pool days
    assert (last.spf, last.dkim, last.dmarc, last.tls_rate) == (0.998, 0.999, 0.997, 1.0)
    assert last.errors["reject/low_ip_reputation"] > 0.03
    assert last.errors["reject/spammy_content"] == 0.0  # published, and zero
    assert gmail.sim.calls["domainStats.query"] >= 3  # 28 days × 16 metrics: paged by 200
    assert gmail.sim.calls["token"] == 1  # one token for all of it


async def test_compliance_says_what_needs_work(client: PostmasterClient) -> None:
    c = await client.compliance(DOMAIN)
    assert c.requirements["SPF"] == "COMPLIANT"
    assert c.requirements["ONE_CLICK_UNSUBSCRIBE"] == "NEEDS_WORK"
    assert (c.one_click_unsubscribe, c.one_click_reason) == (
        "NEEDS_WORK", "NO_UNSUB_PROMO_SPAM_REPORTS",
    )  # fmt: skip


async def test_an_expired_token_is_refreshed_and_a_revoked_one_is_final(
    client: PostmasterClient, gmail: PostmasterServer
) -> None:
    await client.domains()
    gmail.sim.expire_tokens()  # Google stops taking the token before its expiry
    assert await client.domains()
    assert gmail.sim.calls["token"] == 2 and client.refreshes == 2
    gmail.sim.expire_tokens()
    gmail.sim.knobs.revoked = True
    with pytest.raises(SourceError) as exc:
        await client.domains()
    assert exc.value.final and "revoked or expired" in exc.value.title
    assert "postmaster.json" in exc.value.title
    for secret in ("sim-refresh-token", "sim-client-secret", "ya29."):
        assert secret not in exc.value.title


async def test_quota_errors_back_off_and_forbidden_domains_are_final(
    client: PostmasterClient, gmail: PostmasterServer
) -> None:
    gmail.sim.knobs.quota_errors = 1
    with pytest.raises(SourceError) as exc:
        await client.domains()
    assert exc.value.retryable and not exc.value.final and "quota" in exc.value.title
    gmail.sim.knobs.forbidden = {DOMAIN}
    with pytest.raises(SourceError) as exc:
        await client.compliance(DOMAIN)
    assert exc.value.final and DOMAIN in exc.value.title


async def test_a_service_account_with_delegation_gets_its_token(
    gmail: PostmasterServer, tmp_path: Path, clock: ManualClock
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip
    info = {"type": "service_account", "client_email": "pm@proj.iam.gserviceaccount.com",
            "private_key": pem, "private_key_id": "k1", "token_uri": "https://unused.example/t",
            "project_id": "proj"}  # fmt: skip
    creds = load_credentials(creds_file(tmp_path, info), gmail.token_uri, "ops@corp.example")
    c = PostmasterClient(gmail.base_url, creds, timeout=5)
    try:
        assert await c.domains()
    finally:
        await c.aclose()
    [claims] = gmail.sim.assertions
    assert claims["sub"] == "ops@corp.example"  # sent to our token_uri, as Google's JWT
    assert claims["iss"] == "pm@proj.iam.gserviceaccount.com"
    assert "postmaster.traffic.readonly" in claims["scope"]


def test_bad_credentials_files_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not JSON"):
        load_credentials(_bad(tmp_path))
    path = creds_file(tmp_path, {"type": "authorized_user", "client_id": "x"})
    with pytest.raises(ValueError, match="needs refresh_token, client_secret"):
        load_credentials(path)
    path = creds_file(tmp_path, {"type": "oauth2"})
    with pytest.raises(ValueError, match='"type" must be'):
        load_credentials(path)


def _bad(tmp_path: Path) -> Path:
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    return p


@pytest.fixture
async def pipeline(
    server: SimServer, store: Store, clock: ManualClock, client: PostmasterClient
) -> AsyncIterator[Pipeline]:
    cfg = demo_config(server.base_url, str(store.dir))
    cfg = replace(cfg, postmaster=PostmasterConfig(credentials_file="set", days=30))
    mandrill = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=2, retries=0)
    p = Pipeline(mandrill, store, cfg, clock=clock, postmaster=client)
    yield p
    await mandrill.aclose()


async def test_the_poll_keeps_gmail_days_and_the_rules_say_what_gmail_sees(
    pipeline: Pipeline, clock: ManualClock
) -> None:
    assert "postmaster" in pipeline.sources
    u = await pipeline.run("postmaster")
    assert u.status.ok, u.status.error
    view = pipeline.gmail_view()
    assert view is not None and set(view.domains) == {DOMAIN, "other.example"}
    alerts = {a.key: a for a in pipeline.alerts_view().alerts}
    spam = alerts[f"gmail_spam|gmail {DOMAIN}"]
    assert spam.severity == "critical" and "Gmail users marked" in spam.message
    assert f"gmail_compliance|gmail {DOMAIN}" in alerts
    assert any(k.startswith(f"gmail_delivery_errors|gmail {DOMAIN} reject/low_ip") for k in alerts)
    # check --json and the metrics say the same figure, for the same day
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from console.checkreport import gmail_json
    from console.service.metrics import state_registry

    [mine] = [d for d in gmail_json(pipeline) or [] if d["domain"] == DOMAIN]
    newest = [d for d in view.days if d.domain == DOMAIN][-1]
    assert mine["date"] == newest.day.isoformat() and mine["spam_rate"] == newest.spam_rate
    assert mine["auth"] == {"spf": 0.998, "dkim": 0.999, "dmarc": 0.997}
    assert mine["compliance"]["ONE_CLICK_UNSUBSCRIBE"] == "NEEDS_WORK"
    text = generate_latest(state_registry(pipeline)).decode()
    [family] = [f for f in text_string_to_metric_families(text)
                if f.name == "mailops_gmail_spam_ratio"]  # fmt: skip
    ratio = {s.labels["domain"]: s.value for s in family.samples}
    assert ratio[DOMAIN] == newest.spam_rate
    # a day later: the window moves on, the day that fell out of it is kept
    first = min(d.day for d in view.days)
    clock.advance(hours=24)
    assert (await pipeline.run("postmaster")).status.ok
    again = pipeline.gmail_view()
    assert again is not None and min(d.day for d in again.days) == first
    days = [d.day for d in again.days if d.domain == DOMAIN]
    assert len(days) == len(set(days))  # each day once


def test_the_sentence_when_gmail_and_mandrill_disagree() -> None:
    text = disagreement(0.0042, 0.0002)
    assert text == ("Gmail users marked 0.42% as spam; Mandrill saw 0.02% complaints — "
                    "Gmail's feedback does not reach Mandrill")  # fmt: skip
    assert disagreement(0.0042, 0.004) == ""
    assert disagreement(None, 0.0) == "" and disagreement(0.005, None) == ""


def test_unpublished_is_never_judged_as_zero() -> None:
    view = GmailView(days=(), compliance=(), domains=(DOMAIN,))
    assert gmail_signals(gmail_board(view, {}, {}, date.today(), 30), 0.001, 0.003, 0.02) == []
    today = datetime.now(UTC).date()
    assert gmail_story(today, today) is None and gmail_story(today - timedelta(1), today) is None
    assert gmail_story(date(2020, 1, 1), today) is None


async def test_gmail_stands_beside_mandrills_complaints_for_the_same_domain_and_day(
    pipeline: Pipeline, store: Store, clock: ManualClock
) -> None:
    """Mandrill's side is the mail read from the domain that UTC day; the sentence names
    the day, and the low-IP-reputation alert names the IPs that carried the mail."""
    from console.checkreport import gmail_json
    from console.wire import parse_message

    day = clock().date() - timedelta(days=2)  # the newest day the story publishes
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    msgs = []
    for i in range(2000):
        at = start + timedelta(seconds=40 * i)
        ip = "198.51.100.13" if i % 4 == 0 else "203.0.113.25"
        state = "spam" if i == 0 else "sent"
        sender = "news@" + DOMAIN if i % 2 else "billing@other.example"
        m = parse_message({"_id": f"m{i}", "ts": int(at.timestamp()), "state": state,
                           "email": f"u{i}@gmail.com", "sender": sender,
                           "smtp_events": [{"ts": int(at.timestamp()), "type": "sent",
                                            "source_ip": ip}]})  # fmt: skip
        assert m is not None
        msgs.append(m)
    store.ingest(msgs)
    store.set_cursor("messages_floor", int(start.timestamp()) - 3600)
    store.commit()
    assert (await pipeline.run("postmaster")).status.ok
    [mine] = [d for d in gmail_json(pipeline) or [] if d["domain"] == DOMAIN]
    assert mine["date"] == day.isoformat()
    # i == 0 (the one complaint) is other.example's: this domain's 1,000 had none
    assert mine["mandrill"] == {"messages": 1000, "complaints": 0, "complaint_rate": 0.0,
                                "whole_day": True}  # fmt: skip
    assert mine["disagreement"] == (
        f"{day:%m-%d}: Gmail users marked {mine['spam_rate']:.2%} as spam; Mandrill saw "
        "0.00% complaints — Gmail's feedback does not reach Mandrill"
    )
    alerts = {a.key: a for a in pipeline.alerts_view().alerts}
    low_ip = alerts[f"gmail_delivery_errors|gmail {DOMAIN} reject/low_ip_reputation"]
    assert "203.0.113.25 (75%), 198.51.100.13 (25%)" in low_ip.message
    # a gap left inside that day makes Mandrill's side partial, and says so
    store.set_cursor("messages_gap_from", int(start.timestamp()) + 600)
    store.set_cursor("messages_gap_to", int(start.timestamp()) + 1200)
    [mine] = [d for d in gmail_json(pipeline) or [] if d["domain"] == DOMAIN]
    assert mine["mandrill"]["whole_day"] is False
    assert mine["disagreement"].endswith("(Mandrill's side: part of that day read)")
