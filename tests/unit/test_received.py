"""Received headers as Gmail, Outlook and Yahoo write them (addresses made up)."""

from console.analysis.received import hops, sending_ip

GMAIL = (
    "by 2002:a05:6a10:8c0e:b0:5f1:3c2e:1b1b with SMTP id tu14csp1462093pxb;"
    "        Fri, 27 Nov 2026 06:00:04 -0800 (PST)",
    "from mail25.northwind.mandrillapp.com (mail25.northwind.mandrillapp.com. [198.2.128.25])\r\n"
    "        by mx.google.com with ESMTPS id a1si123 for <seed@gmail.com>\r\n"
    "        (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256);"
    "        Fri, 27 Nov 2026 06:00:03 -0800 (PST)",
)
OUTLOOK = (
    "from BN8PR12MB3361.namprd12.prod.outlook.com (2603:10b6:408:60::14) by "
    "SN6PR12MB2718.namprd12.prod.outlook.com with HTTPS; Fri, 27 Nov 2026 14:00:05 +0000",
    "from BN6PR11CA0012.namprd11.prod.outlook.com (2603:10b6:405:2::22) by "
    "BN8PR12MB3361.namprd12.prod.outlook.com (2603:10b6:408:60::14) with Microsoft SMTP Server",
    "from mail25.northwind.mandrillapp.com (198.2.128.25) by "
    "BN1NAM02FT058.mail.protection.outlook.com (10.13.2.167) with Microsoft SMTP Server",
)
YAHOO = (
    "from 10.217.135.144 by atlas112.free.mail.ne1.yahoo.com with HTTPS; Fri, 27 Nov 2026",
    "from mail1-25.suw91.mcdlv.net (EHLO mail1-25.suw91.mcdlv.net) ([205.201.139.25]) "
    "by 10.217.135.144 (VZM Hermes SMTP Server) with ESMTPS ID abc",
)


def test_the_hop_from_mandrill_wins_over_the_receivers_own() -> None:
    assert sending_ip(GMAIL) == "198.2.128.25"
    assert sending_ip(OUTLOOK) == "198.2.128.25"  # bare in parentheses, under two internal hops
    assert sending_ip(YAHOO) == "205.201.139.25"


def test_mandrills_own_record_confirms_a_hop_and_otherwise_the_first_public_ip() -> None:
    assert sending_ip(OUTLOOK, expect="2603:10b6:405:2::22") == "2603:10b6:405:2::22"
    other = (
        "from relay.example.net (relay.example.net [10.0.0.5]) by mx",
        "from out.example.org (out.example.org [8.8.4.4]) by relay.example.net",
    )
    assert sending_ip(other) == "8.8.4.4"  # private hop skipped
    assert sending_ip(()) == ""
    assert sending_ip(("by mx.example with LMTP", "garbage [[[ (")) == ""


def test_hops_read_ipv6_literals_and_hostile_text() -> None:
    [h] = hops(["from x.example ([IPv6:2001:db8::25]) by mx"])
    assert h.ip == "2001:db8::25"
    evil = "from \x1b]0;pwn\x07 ([1.2.3.4]) by mx"
    assert hops([evil])[0].ip == "1.2.3.4"
