"""Content checks against a real spamd on loopback (local rules only)."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest

from console.analysis.content import lint
from console.cli import demo_config
from console.config import ContentCheckConfig
from console.jobs import Pipeline
from console.secret import Secret
from console.sim import DEMO_KEY, ManualClock, SimServer
from console.sources.mandrill import MandrillClient
from console.sources.spamd import Spamd, SpamdError, parse_report
from console.store import Store

pytestmark = pytest.mark.servers
MAILS = Path(__file__).resolve().parent.parent / "content"


def mail(name: str) -> bytes:
    return (MAILS / name).read_bytes()


async def test_gtube_is_spam_with_its_rule(spamd_server: Spamd) -> None:
    rep = await spamd_server.report(mail("gtube.eml"))
    assert rep.is_spam and rep.score >= 1000 and rep.threshold == 5.0
    gtube = next(h for h in rep.rules if h.name == "GTUBE")
    assert gtube.points >= 1000 and "Generic Test for Unsolicited Bulk Email" in gtube.description


async def test_a_clean_invoice_is_ham(spamd_server: Spamd) -> None:
    rep = await spamd_server.report(mail("invoice.eml"))
    assert not rep.is_spam and rep.score < rep.threshold
    assert all(h.name.isupper() for h in rep.rules)


def test_lint_attachment_and_bulk_without_unsubscribe() -> None:
    findings, _ = lint(mail("invoice-pdf.eml"))
    assert [f.code for f in findings] == ["attachment_pdf"]
    assert "INV-2026-1129.pdf" in findings[0].text
    findings, links = lint(mail("newsletter-bulk.eml"), bulk=True)
    assert [f.code for f in findings] == ["no_list_unsubscribe"]
    assert links == ["click.northwind.example"]
    assert lint(mail("invoice.eml"))[0] == []


async def test_spamd_down_and_slow_are_clear_errors() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(SpamdError, match=r"refused the connection \(is spamd running"):
        await Spamd("127.0.0.1", closed, timeout=2).report(b"Subject: x\r\n\r\nhi\r\n")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        slow = Spamd("127.0.0.1", silent.getsockname()[1], timeout=0.5)
        with pytest.raises(SpamdError, match=r"did not answer within 0.5s"):
            await slow.report(b"Subject: x\r\n\r\nhi\r\n")
    finally:
        silent.close()


def test_report_table_parsing_joins_wrapped_descriptions() -> None:
    text = (
        "Content analysis details:   (7.8 points, 5.0 required)\n\n"
        " pts rule name              description\n"
        "---- ---------------------- --------------------------------------------------\n"
        " 1.2 US_DOLLARS_3           BODY: Mentions millions of $ ($NN,NNN,NNN.NN)\n"
        "-0.0 NO_RECEIVED            Informational: message has no Received headers\n"
        " 2.5 ADVANCE_FEE_2_NEW_MONEY Advance Fee fraud and lots of money, this\n"
        "                            description wraps\n"
    )
    hits = parse_report(text)
    assert [(h.name, h.points) for h in hits] == [
        ("US_DOLLARS_3", 1.2),
        ("NO_RECEIVED", -0.0),
        ("ADVANCE_FEE_2_NEW_MONEY", 2.5),
    ]
    assert hits[2].description.endswith("this description wraps")


async def test_the_content_poll_scores_templates_and_files_keeps_last_on_failure(
    spamd_server: Spamd, server: SimServer, store: Store, clock: ManualClock
) -> None:
    cfg = demo_config(server.base_url, str(store.dir))
    checks = (
        ContentCheckConfig(
            name="receipt",
            template="order-receipt",
            merge_vars={"customer": "Ada", "order": "A-1", "total": "42.00"},
        ),
        ContentCheckConfig(name="spammy", eml=str(MAILS / "gtube.eml")),
        ContentCheckConfig(name="ghost", template="no-such-template"),
    )
    cfg = replace(cfg, content_checks=checks)
    client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=5, retries=0)
    p = Pipeline(client, store, cfg, clock=clock, scorer=spamd_server)
    assert "content" in p.sources
    u = await p.run("content")
    assert u.status.ok, u.status.error
    assert u.result.content is not None
    by = {r.name: r for r in u.result.content.results}
    assert by["receipt"].report is not None and by["spammy"].report is not None
    assert not by["receipt"].report.is_spam
    assert [f.code for f in by["receipt"].lint] == ["no_text_part"]  # rendered HTML only
    assert by["spammy"].report.is_spam
    assert "Unknown_Template" in by["ghost"].error and by["ghost"].report is None
    keys = {a.key for a in p.alerts_view().open}
    assert "content_score|spammy" in keys and "content_lint|receipt no_text_part" in keys
    # spamd goes away: the poll fails clearly, the last scores stay
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    p.scorer = Spamd("127.0.0.1", closed, timeout=2)
    u = await p.run("content")
    assert u.status.ok is False and "refused the connection" in u.status.error
    kept = p.content_view()
    assert kept is not None and {r.name for r in kept.results} == {"receipt", "spammy", "ghost"}
    assert kept.history["spammy"] and kept.history["spammy"][-1][1] >= 1000
    await client.aclose()


def test_content_check_command_and_check_key(
    spamd_server: Spamd,
    server: SimServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    from console import cli

    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[mandrill]\nbase_url = "{server.base_url}"\n'
        '[dns]\nnameservers = ["127.0.0.1"]\nport = 9\ntimeout = 0.2\ndeadline = 0.4\n'
        f'[storage]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[spamd]\nhost = "127.0.0.1"\nport = {spamd_server.port}\n'
        f'[[content_checks]]\nname = "spammy"\neml = "{MAILS / "gtube.eml"}"\n'
        f'[[content_checks]]\nname = "invoice"\neml = "{MAILS / "invoice-pdf.eml"}"\n'
    )
    assert cli.main(["content-check", "--config", str(cfg), str(MAILS / "gtube.eml")]) == 2
    out = capsys.readouterr().out
    assert "gtube.eml: 1000" in out and "(SPAM)" in out and "GTUBE" in out
    code = cli.main(
        ["content-check", "--json", "--config", str(cfg), str(MAILS / "invoice-pdf.eml")]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["spam"] is False and report["lint"][0]["code"] == "attachment_pdf"
    assert cli.main(["content-check", "--config", str(cfg), str(MAILS / "invoice.eml")]) == 0
    capsys.readouterr()
    assert cli.main(["content-check", "--config", str(cfg), str(tmp_path / "nope.eml")]) == 3
    assert "cannot read" in capsys.readouterr().err
    monkeypatch.setenv("MANDRILL_API_KEY", DEMO_KEY)
    cli.main(["check", "--json", "--config", str(cfg)])
    report = json.loads(capsys.readouterr().out)
    by = {c["name"]: c for c in report["content"]}
    assert by["spammy"]["score"] >= 1000 and by["spammy"]["threshold"] == 5.0
    assert any(r["name"] == "GTUBE" for r in by["spammy"]["rules"])
    assert by["invoice"]["lint"][0]["code"] == "attachment_pdf"
    assert report["sources"]["content"]["ok"] is True
    assert any(a["rule"] == "content_score" and a["subject"] == "spammy" for a in report["alerts"])
