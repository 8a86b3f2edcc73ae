"""SPF, DKIM and DMARC read through checkdmarc and our client, against NSD and in-process."""

from __future__ import annotations

import pytest

from console.sources.authdns import check_domain
from console.sources.dns import DnsClient

SELECTORS = ("mte1", "mte2", "mandrill")


@pytest.fixture
def client(dns_port: int) -> DnsClient:
    return DnsClient(["127.0.0.1"], port=dns_port, timeout=0.5, deadline=2.0)


async def test_a_healthy_mandrill_domain(client):
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


async def test_eleven_lookups_through_nested_includes(client):
    d = await check_domain(client, "toomany.test", ("mte1",), timeout=1.0)
    assert not d.spf.valid and d.spf.lookups == 11 and "11/10" in d.spf.error
    assert d.spf.void_lookups == 2


async def test_two_spf_records(client):
    d = await check_domain(client, "twospf.test", (), timeout=1.0)
    assert not d.spf.valid and "multiple SPF" in d.spf.error


async def test_spf_without_mandrill_include(client):
    d = await check_domain(client, "splitdkim.test", (), timeout=1.0)
    assert not d.spf.valid and not d.spf.mandrill_include and "spf.mandrillapp.com" in d.spf.error


async def test_dkim_split_txt_legacy_and_broken_keys(client):
    d = await check_domain(client, "splitdkim.test", SELECTORS, timeout=1.0)
    by = {k.selector: k for k in d.dkim}
    assert by["mte1"].kind == "txt" and by["mte1"].valid  # key split over two strings, joined
    assert by["mte2"].valid is False and "base64" in by["mte2"].error
    assert (
        by["mandrill"].kind == "legacy"
        and by["mandrill"].valid
        and "legacy" in by["mandrill"].error
    )


async def test_dmarc_external_destination_without_authorization(client):
    d = await check_domain(client, "toomany.test", (), timeout=1.0)
    assert d.dmarc.policy == "none"
    assert d.dmarc.authorized == {"mailto:reports@nowhere.test": False}
    assert not d.dmarc.valid and "not authorized" in d.dmarc.error


async def test_missing_dkim_is_reported(client):
    d = await check_domain(client, "twospf.test", ("mte1",), timeout=1.0)
    (k,) = d.dkim
    assert k.kind == "missing" and not k.valid and "no DKIM record" in k.error
