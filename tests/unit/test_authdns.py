from console.analysis.authdns import (
    authorization_name,
    dkim_check,
    external_destinations,
    spf_check,
)

KEY = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "A" * 302 + "IDAQAB"


def test_dkim_cname_must_point_where_mandrill_says() -> None:
    k = dkim_check("mte1", "dkim2.mandrillapp.com", (f"v=DKIM1; k=rsa; p={KEY}",))
    assert not k.valid and "Mandrill expects dkim1.mandrillapp.com" in k.error


def test_dkim_revoked_short_and_missing_keys() -> None:
    assert "revoked" in dkim_check("mte1", "", ("v=DKIM1; p=",)).error
    assert "too short" in dkim_check("mte1", "", ("v=DKIM1; p=QUJD",)).error
    assert "no p=" in dkim_check("mte1", "", ("v=DKIM1; k=rsa",)).error
    ok = dkim_check("mte1", "dkim1.mandrillapp.com", (f"v=DKIM1; k=rsa; p={KEY}",))
    assert ok.valid and ok.kind == "cname"


def test_spf_include_found_in_nested_records() -> None:
    nested = {
        "valid": True,
        "record": "v=spf1 include:_spf.example -all",
        "parsed": {
            "mechanisms": [
                {
                    "mechanism": "include",
                    "value": "_spf.example",
                    "parsed": {
                        "mechanisms": [{"mechanism": "include", "value": "spf.mandrillapp.com"}]
                    },
                }
            ]
        },
    }
    assert spf_check(nested).mandrill_include and spf_check(nested).valid


def test_external_report_destinations_and_their_authorization_name() -> None:
    uris = ("mailto:dmarc@example.com", "mailto:r@sub.example.com", "mailto:x@vendor.net!10m")
    assert external_destinations("example.com", uris, ()) == ["mailto:x@vendor.net!10m"]
    assert authorization_name("example.com", "mailto:x@vendor.net!10m") == (
        "example.com._report._dmarc.vendor.net"
    )


def test_dqs_key_switches_spamhaus_zones_and_stays_off_screen() -> None:
    from console.analysis.dnsbl import configured_zones

    zones = configured_zones(
        ("zen.spamhaus.org", "bl.spamcop.net"), ("dbl.spamhaus.org",), {}, "SECRETKEY123"
    )
    names = {z.display: z.name for z in zones}
    assert names["zen.spamhaus.org (DQS)"] == "SECRETKEY123.zen.dq.spamhaus.net"
    assert names["dbl.spamhaus.org (DQS)"] == "SECRETKEY123.dbl.dq.spamhaus.net"
    assert names["bl.spamcop.net"] == "bl.spamcop.net"
    assert all("SECRETKEY" not in d for d in names)


def test_unknown_zone_needs_a_code_table() -> None:
    import pytest

    from console.analysis.dnsbl import configured_zones

    with pytest.raises(ValueError, match="no code table"):
        configured_zones(("bl.example.org",), (), {})
    assert configured_zones(("bl.example.org",), (), {"bl.example.org": {"127.0.0.2": "x"}})
    with pytest.raises(ValueError, match="lists domains"):
        configured_zones(("dbl.spamhaus.org",), (), {})
