from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TypedDict, Unpack

from console.analysis.seeds import ip_split, provider_rows, seed_exit, seed_findings, worst
from console.model import Placement, SeedResult, SeedRun

NOW = datetime(2026, 11, 2, 6, 30, tzinfo=UTC)
PASS = {"spf": "pass", "dkim": "pass", "dmarc": "pass"}


class Extra(TypedDict, total=False):
    """SeedResult's fields past the placement and time."""

    folder: str
    delay_s: float | None
    auth: Mapping[str, str]
    source_ip: str
    received_ip: str
    message_id: str
    error: str
    mandrill_status: str


def res(
    seed: str, provider: str, placement: Placement, ip: str = "", **kw: Unpack[Extra]
) -> SeedResult:
    base: Extra = {"auth": PASS if placement in ("inbox", "spam") else {}, "source_ip": ip}
    return SeedResult(seed, provider, f"{seed}@x", f"tok-{seed}", placement, NOW, **(base | kw))


def run(*results: SeedResult, at: datetime = NOW) -> SeedRun:
    return SeedRun("r", at, tuple(results), at + timedelta(minutes=3))


def test_one_ip_at_fault_is_named_and_told_apart_from_the_provider() -> None:
    r = run(
        res("gmail-1", "gmail", "spam", "198.51.100.13"),
        res("gmail-2", "gmail", "inbox", "203.0.113.25"),
        res("gmail-3", "gmail", "inbox", "203.0.113.25"),
        res("outlook-1", "outlook", "inbox", "198.51.100.13"),
    )
    [f] = seed_findings(r, NOW)
    assert f.severity == "warning"
    assert "gmail spam-foldered 1 of 3, all through 198.51.100.13" in f.text
    assert "inbox through 203.0.113.25: the IP, not the content" in f.text
    both = run(
        res("gmail-1", "gmail", "spam", "198.51.100.13"),
        res("gmail-2", "gmail", "spam", "203.0.113.25"),
    )
    [f] = seed_findings(both, NOW)
    assert f.severity == "critical" and "the provider distrusts the mail, not one IP" in f.text
    assert ip_split(both.results)["203.0.113.25"]["spam"] == 1


def test_rejects_missing_errors_and_auth_failures_are_findings() -> None:
    r = run(
        res("y-1", "yahoo", "rejected", error="Mandrill: hard-bounce"),
        res("o-1", "other", "missing"),
        res("o-2", "other", "error", error="IMAP login to h:993 failed for u"),
        res("g-1", "gmail", "inbox", "1.2.3.4", auth={"spf": "pass", "dkim": "fail"}),
    )
    texts = [(f.severity, f.text) for f in seed_findings(r, NOW)]
    assert (
        "critical",
        "seed test 11-02 06:30 UTC: Mandrill rejected y-1 (Mandrill: hard-bounce)",
    ) in texts
    assert any("other never received o-1" in t for _, t in texts)
    assert any("o-2 could not be checked: IMAP login" in t for _, t in texts)
    assert any(t.endswith("g-1 authentication dkim=fail") for _, t in texts)


def test_an_old_run_says_it_is_old() -> None:
    r = run(res("g-1", "gmail", "inbox"), at=NOW - timedelta(days=3))
    [f] = seed_findings(r, NOW)
    assert "72 h old" in f.text
    assert seed_findings(None, NOW) == []


def test_provider_rows_count_strip_and_auth() -> None:
    old = [run(res("g-1", "gmail", "inbox"), res("o-1", "outlook", "inbox")) for _ in range(15)]
    last = run(
        res("g-1", "gmail", "spam", "9.9.9.9", delay_s=40.0),
        res(
            "g-2",
            "gmail",
            "inbox",
            "1.1.1.1",
            delay_s=12.0,
            auth={"spf": "pass", "dkim": "fail", "dmarc": "fail"},
        ),
        res("o-1", "outlook", "missing"),
    )
    rows = provider_rows([*old, last])
    assert [r.provider for r in rows] == ["gmail", "outlook"]
    g, o = rows
    assert g.counts == {"spam": 1, "inbox": 1} and g.total == 2
    assert g.auth == {"spf": "pass", "dkim": "fail 1/2", "dmarc": "fail 1/2"}
    assert g.ips == ("9.9.9.9", "1.1.1.1") and g.spam_ips == ("9.9.9.9",)
    assert g.delay_s == 40.0
    assert len(g.strip) == 14 and g.strip[-1] == "spam" and g.strip[0] == "inbox"
    assert o.strip[-1] == "missing" and o.auth == {}
    assert provider_rows([]) == []


def test_worst_and_exit_codes() -> None:
    assert worst(["inbox", "spam", "missing"]) == "spam"
    assert worst([]) == ""
    assert worst(["weird"]) == "weird"  # an unknown placement is kept, not dropped
    assert seed_exit(run(res("a", "gmail", "inbox"), res("b", "gmail", "inbox"))) == 0
    assert (
        seed_exit(
            run(res("a", "gmail", "inbox"), res("b", "gmail", "inbox"), res("c", "gmail", "spam"))
        )
        == 1
    )
    assert seed_exit(run(res("a", "gmail", "inbox"), res("b", "gmail", "missing"))) == 2
    assert seed_exit(run(res("a", "gmail", "error"))) == 3
    assert seed_exit(run()) == 3
