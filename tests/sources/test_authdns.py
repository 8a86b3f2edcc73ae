"""SPF, DKIM and DMARC read through checkdmarc and our client, against NSD and in-process."""

from __future__ import annotations

import pytest

from console.sources.authdns import check_domain
from console.sources.dns import DnsClient

SELECTORS = ("mte1", "mte2", "mandrill")


@pytest.fixture
def client(dns_port: int) -> DnsClient:
    return DnsClient(["127.0.0.1"], port=dns_port, timeout=0.5, deadline=2.0)


async def test_a_healthy_mandrill_domain(client: DnsClient) -> None:
    d = await check_domain(client, "good.test", SELECTORS, timeout=1.0)
    assert d.spf.valid and d.spf.mandrill_include and d.spf.lookups == 1 and not d.spf.error
    kinds = {k.selector: (k.kind, k.valid, k.target) for k in d.dkim}
    assert kinds == {
        "mte1": ("cname", True, "dkim1.mandrillapp.com"),
        "mte2": ("cname", True, "dkim2.mandrillapp.com"),
    }  # no legacy key: nothing reported for it
    assert d.dmarc.valid and d.dmarc.policy == "reject" and d.dmarc.subdomain_policy == "quarantine"
    assert d.dmarc.authorized == {"mailto:reports@collector.test": True}
    assert d.dmarc.adkim == "s" and d.dmarc.aspf == "r"
    assert d.mx == ("10 mx.good.test",)


async def test_eleven_lookups_through_nested_includes(client: DnsClient) -> None:
    d = await check_domain(client, "toomany.test", ("mte1",), timeout=1.0)
    assert not d.spf.valid and d.spf.lookups == 11 and "11/10" in d.spf.error
    assert d.spf.void_lookups == 2


async def test_two_spf_records(client: DnsClient) -> None:
    d = await check_domain(client, "twospf.test", (), timeout=1.0)
    assert not d.spf.valid and "multiple SPF" in d.spf.error


async def test_spf_without_mandrill_include(client: DnsClient) -> None:
    d = await check_domain(client, "splitdkim.test", (), timeout=1.0)
    assert not d.spf.valid and not d.spf.mandrill_include and "spf.mandrillapp.com" in d.spf.error


async def test_dkim_split_txt_legacy_and_broken_keys(client: DnsClient) -> None:
    d = await check_domain(client, "splitdkim.test", SELECTORS, timeout=1.0)
    by = {k.selector: k for k in d.dkim}
    assert by["mte1"].kind == "txt" and by["mte1"].valid  # key split over two strings, joined
    assert by["mte2"].valid is False and "base64" in by["mte2"].error
    assert (
        by["mandrill"].kind == "legacy"
        and by["mandrill"].valid
        and "legacy" in by["mandrill"].error
    )


async def test_dmarc_external_destination_without_authorization(client: DnsClient) -> None:
    d = await check_domain(client, "toomany.test", (), timeout=1.0)
    assert d.dmarc.policy == "none"
    assert d.dmarc.authorized == {"mailto:reports@nowhere.test": False}
    # the record is applied all the same: valid, only those reports will not arrive
    from console.analysis.authdns import auth_judgements

    assert d.dmarc.valid
    said = {subject: text for subject, _, text in auth_judgements(d)}
    assert "no aggregate reports will arrive at mailto:reports@nowhere.test" in said[
        "toomany.test DMARC reports"
    ]


async def test_missing_dkim_is_reported(client: DnsClient) -> None:
    d = await check_domain(client, "twospf.test", ("mte1",), timeout=1.0)
    (k,) = d.dkim
    assert k.kind == "missing" and not k.valid and "no DKIM record" in k.error


async def test_lookups_without_an_answer_are_unknown_never_a_failure(client: DnsClient) -> None:
    """REFUSED behind an include is a temperror (RFC 7208 §4.4, §5.2), not a permerror or
    "no SPF record"; an authorization lookup that got no answer is unknown, not "not
    authorized"; a DKIM key that could not be fetched is unknown, not missing."""
    from console.analysis.authdns import auth_judgements

    d = await check_domain(client, "refused.test", ("mte1",), timeout=1.0)
    assert d.spf.temperror and "REFUSED" in d.spf.error and "temperror" in d.spf.error
    (k,) = d.dkim
    assert k.temperror and "refused" in k.error.lower()
    assert d.dmarc.valid and not d.dmarc.temperror and d.dmarc.policy == "quarantine"
    assert d.dmarc.authorized == {"mailto:reports@unserved.example": None}
    said = {subject: (sev, text) for subject, sev, text in auth_judgements(d)}
    assert said["refused.test SPF"][0] == "warning" and "SPF unknown" in said["refused.test SPF"][1]
    assert said["refused.test DKIM mte1"][0] == "warning"
    assert "refused.test DMARC" not in said  # valid, p=quarantine: nothing wrong with it
    assert "is unknown" in said["refused.test DMARC reports"][1]
    assert not any(sev == "critical" for sev, _ in said.values())


async def test_a_server_that_never_answers_makes_everything_unknown() -> None:
    from console.analysis.authdns import auth_judgements

    silent = DnsClient(["127.0.0.1"], port=9, timeout=0.2, deadline=0.5)
    d = await check_domain(silent, "good.test", ("mte1",), timeout=0.3)
    assert d.spf.temperror and d.dmarc.temperror and d.dkim[0].temperror
    assert {sev for _, sev, _ in auth_judgements(d)} == {"warning"}
