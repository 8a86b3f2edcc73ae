from console.analysis.authresults import parse, trusted, verdicts

GMAIL = (
    "mx.google.com;\r\n       dkim=pass header.i=@ex.com header.s=mte1 header.b=Ab1/cd;\r\n"
    "       spf=pass (google.com: domain of b@ex.com designates 198.2.1.1 as permitted sender)"
    " smtp.mailfrom=b@ex.com;\r\n       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=ex.com"
)


def test_gmail_style_field_with_comments_and_folding() -> None:
    ar = parse(GMAIL)
    assert ar is not None and ar.authserv_id == "mx.google.com"
    assert verdicts(ar) == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
    dkim = ar.first("dkim")
    assert (
        dkim is not None
        and dkim.props["header.s"] == "mte1"
        and dkim.props["header.i"] == "@ex.com"
    )
    spf = ar.first("spf")
    assert spf is not None and spf.props == {"smtp.mailfrom": "b@ex.com"}


def test_reason_quoted_strings_versions_and_none() -> None:
    ar = parse('mx.example.net 1; spf/1=fail reason="not; permitted (really)" smtp.mailfrom=x@y')
    assert ar is not None
    spf = ar.first("spf")
    assert spf is not None and spf.result == "fail"
    assert spf.reason == "not; permitted (really)"
    empty = parse("mx.example.net; none")
    assert empty is not None and empty.results == () and verdicts(empty)["dkim"] == "missing"
    assert parse("") is None


def test_only_the_trusted_receivers_topmost_field_counts() -> None:
    forged = "mx.google.com; dmarc=pass header.from=ex.com"  # a sender planted this below
    headers = ["mx.outlook.com; dmarc=fail header.from=ex.com", GMAIL, forged]
    assert verdicts(trusted(headers, "mx.google.com"))["dmarc"] == "pass"
    assert verdicts(trusted(headers))["dmarc"] == "fail"  # no id given: the topmost
    assert trusted(headers, "mx.yahoo.com") is None


def test_nested_comments_and_escapes() -> None:
    ar = parse(r"mx.a; dkim=fail (bad (very bad) \) sig) header.d=ex.com; spf=softfail")
    assert ar is not None and verdicts(ar) == {
        "spf": "softfail",
        "dkim": "fail",
        "dmarc": "missing",
    }
    dkim = ar.first("dkim")
    assert dkim is not None and dkim.props == {"header.d": "ex.com"}
