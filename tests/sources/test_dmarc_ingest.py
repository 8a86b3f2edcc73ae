"""DMARC reports arriving for real: a directory, the rua mailbox on Dovecot, the command line."""

from __future__ import annotations

import gzip
import imaplib
import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from console import cli
from console.cli import demo_config
from console.jobs import Pipeline
from console.secret import Secret
from console.sim import DEMO_KEY, ManualClock, Scenario, SimServer, Simulator
from console.sim.dmarc_reports import SPOOFER, demo_reports
from console.sources.mandrill import MandrillClient
from console.store import Store
from tests.imap_servers import PASSWORD, USER, Dovecot

FIXTURES = Path(__file__).resolve().parent.parent / "dmarc"


def pipeline(server: SimServer, store: Store, clock: ManualClock, **dmarc: Any) -> Pipeline:
    cfg = demo_config(server.base_url, str(store.dir))
    cfg = replace(cfg, dmarc=replace(cfg.dmarc, **dmarc))
    client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=5, retries=0)
    return Pipeline(client, store, cfg, clock=clock)


def drop(directory: Path, sc: Scenario, now: datetime) -> int:
    directory.mkdir(exist_ok=True)
    files = demo_reports(sc, now, days=7)
    for name, data in files:
        (directory / name.replace("!", "_")).write_bytes(data)
    return len(files)


async def test_directory_import_moves_files_dedupes_and_raises_alerts(
    server: SimServer, sim: Simulator, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    n = drop(inbox, sim.scenario, clock())
    (inbox / "bomb.xml.gz").write_bytes(gzip.compress(b"\0" * (60 * 2**20)))
    (inbox / "laughs.xml").write_bytes((FIXTURES / "billion-laughs.xml").read_bytes())
    p = pipeline(server, store, clock, directory=str(inbox))
    await p.run("ips")
    await p.run("messages")  # the shared IPs this account's mail went through
    u = await p.run("dmarc")
    assert u.status.ok, u.status.error
    view = u.result.dmarc
    assert view is not None
    assert view.imported == n and len(view.rejected) == 2
    assert any("bomb.xml.gz: decompresses to more than" in r for r in view.rejected)
    assert any("laughs.xml: refused" in r for r in view.rejected)
    assert sorted(x.name for x in (inbox / "rejected").iterdir()) == ["bomb.xml.gz", "laughs.xml"]
    assert len(list((inbox / "processed").iterdir())) == n
    assert not [x for x in inbox.iterdir() if x.is_file()]
    rows = {r.domain: r for r in view.windows[7]}
    good = rows["notify.northwind.example"]
    assert good.pass_rate is not None and good.pass_rate > 0.95
    assert [s.ip for s in good.unknown_sources if s.spoofing] == [SPOOFER]
    legacy = rows["mail.northwind-legacy.example"]
    assert legacy.mandrill_pass_rate is not None and legacy.mandrill_pass_rate < 0.5
    keys = {a.key for a in p.alerts_view().open}
    assert f"dmarc_unknown_source|notify.northwind.example {SPOOFER}" in keys
    assert "dmarc_pass_rate|mail.northwind-legacy.example" in keys
    # the same reports dropped again are recognised, not counted twice
    drop(inbox, sim.scenario, clock())
    u = await p.run("dmarc")
    assert u.result.dmarc is not None
    assert u.result.dmarc.imported == 0 and u.result.dmarc.reports == n
    await p.client.aclose()


def test_a_missing_directory_is_a_clear_status(tmp_path: Path) -> None:
    from console.sources.base import SourceError
    from console.sources.dmarc_inbox import import_directory

    with pytest.raises(SourceError, match="does not exist"):
        import_directory(tmp_path / "nope")


def _mail(attachments: list[tuple[str, bytes]], subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "noreply-dmarc-support@google.com"
    msg["To"] = "dmarc@northwind.example"
    msg["Subject"] = subject
    msg.set_content("DMARC aggregate report attached.")
    for name, data in attachments:
        # the MIME type is deliberately wrong: the format is sniffed from the bytes
        msg.add_attachment(data, maintype="application", subtype="zip", filename=name)
    return msg.as_bytes()


@pytest.mark.servers
@pytest.mark.parametrize("after", ["move", "flag"])
async def test_rua_mailbox_on_dovecot(
    dovecot_server: Dovecot,
    server: SimServer,
    sim: Simulator,
    store: Store,
    clock: ManualClock,
    after: str,
) -> None:
    folder = f"Dmarc{after.title()}"
    imap = imaplib.IMAP4("127.0.0.1", dovecot_server.plain_port)
    imap.login(USER, PASSWORD)
    imap.create(folder)
    made = {name.split("!")[0]: data for name, data in demo_reports(sim.scenario, clock(), 1)}
    for body in (
        _mail([("google.xml.gz.zip", made["google.com"])], "Report Domain: notify"),
        _mail([("ms.zip", made["Outlook.com"])], "Report Domain: notify (Microsoft)"),
        _mail([("broken.zip", b"PK\x03\x04 not really")], "Report Domain: broken"),
    ):
        imap.append(folder, "", imaplib.Time2Internaldate(time.time()), body)
    imap.logout()
    import os

    os.environ["DMARC_PW"] = PASSWORD
    p = pipeline(
        server,
        store,
        clock,
        imap_host="127.0.0.1",
        imap_port=dovecot_server.plain_port,
        imap_security="none",
        username=USER,
        password_env="DMARC_PW",
        folder=folder,
        after=after,
        processed_folder=f"{folder}-done",
    )
    u = await p.run("dmarc")
    assert u.status.ok, u.status.error
    assert u.result.dmarc is not None
    assert u.result.dmarc.imported == 2
    assert len(u.result.dmarc.rejected) == 1 and "broken zip" in u.result.dmarc.rejected[0]
    stored = {r.org_name for r in store.dmarc_reports()}
    assert stored == {"google.com", "Outlook.com"}
    u = await p.run("dmarc")  # moved or flagged: nothing read twice
    assert u.result.dmarc is not None
    assert u.result.dmarc.imported == 0 and u.result.dmarc.rejected == ()
    imap = imaplib.IMAP4("127.0.0.1", dovecot_server.plain_port)
    imap.login(USER, PASSWORD)
    imap.select(folder)
    _, left = imap.search(None, "ALL")
    if after == "move":
        assert left[0].split() == []
        imap.select(f"{folder}-done")
        _, moved = imap.search(None, "ALL")
        assert len(moved[0].split()) == 3
    else:
        _, flagged = imap.search(None, "FLAGGED")
        assert len(flagged[0].split()) == 3
    imap.logout()
    await p.client.aclose()


async def test_a_missing_rua_password_is_a_final_status(
    server: SimServer, store: Store, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DMARC_PW", raising=False)
    p = pipeline(server, store, clock, imap_host="127.0.0.1", username="u", password_env="DMARC_PW")
    u = await p.run("dmarc")
    assert u.status.ok is False and u.status.final
    assert "No IMAP password for the DMARC mailbox: set $DMARC_PW" in u.status.error
    await p.client.aclose()


def test_dmarc_import_command_and_check(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    server: SimServer,
) -> None:
    state = tmp_path / "state"
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[mandrill]\nbase_url = "{server.base_url}"\n'
        '[dns]\nnameservers = ["127.0.0.1"]\nport = 9\ntimeout = 0.2\ndeadline = 0.4\n'
        f'[storage]\nstate_dir = "{state}"\n'
    )
    files = tmp_path / "reports"
    files.mkdir()
    for name in ("google-7489.xml", "microsoft-9990.xml", "empty.xml", "xxe.xml"):
        (files / name).write_bytes((FIXTURES / name).read_bytes())
    (files / "google.gz").write_bytes(gzip.compress((FIXTURES / "google-7489.xml").read_bytes()))
    code = cli.main(["dmarc", "import", "--config", str(cfg), str(files)])
    out = capsys.readouterr().out
    assert code == 1  # one refused
    assert "5 files: 3 reports imported (5 records), 1 already known, 1 refused" in out
    assert "xxe.xml: refused: the XML uses DTDForbidden" in out
    assert cli.main(["dmarc", "import", "--config", str(cfg), str(files / "nope.xml")]) == 3
    assert "no such file" in capsys.readouterr().err
    # check reports what is stored (the fixtures are from 2025: outside the 7-day window)
    monkeypatch.setenv("MANDRILL_API_KEY", DEMO_KEY)
    cli.main(["check", "--json", "--config", str(cfg)])
    report = json.loads(capsys.readouterr().out)
    assert report["dmarc"] == []
    recent = tmp_path / "recent"
    recent.mkdir()
    now = datetime.now(UTC)
    from console.sim import scenario_named

    for name, data in demo_reports(scenario_named("default"), now, days=3):
        (recent / name.replace("!", "_")).write_bytes(data)
    assert cli.main(["dmarc", "import", "--config", str(cfg), str(recent)]) == 0
    capsys.readouterr()
    cli.main(["check", "--json", "--config", str(cfg)])
    report = json.loads(capsys.readouterr().out)
    rows = {r["domain"]: r for r in report["dmarc"]}
    good = rows["notify.northwind.example"]
    assert good["messages"] > 0 and 0.9 < good["pass_rate"] <= 1
    assert [u["ip"] for u in good["unknown_sources"] if u["spoofing"]] == [SPOOFER]
    assert good["last_report_at"] > (now - timedelta(days=2)).isoformat()[:10]
    assert any(a["rule"] == "dmarc_unknown_source" for a in report["alerts"])


async def test_tls_reports_come_in_with_the_dmarc_ones_stored_once_and_judged(
    server: SimServer, sim: Simulator, store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    """TLS reports dropped beside DMARC's (and in [tlsrpt]'s own directory) are read by
    the same poll, stored once however often they come, alerted on, and in check --json."""
    from console.checkreport import tls_json
    from console.sim.tls_reports import demo_tls_reports

    inbox, own = tmp_path / "inbox", tmp_path / "tls"
    n = drop(inbox, sim.scenario, clock())
    own.mkdir()
    tls = demo_tls_reports(clock(), days=10)
    for i, (name, data) in enumerate(tls):
        folder = inbox if i % 2 else own
        (folder / name.replace("!", "_")).write_bytes(data)
    p = pipeline(server, store, clock, directory=str(inbox))
    p.config = replace(p.config, tlsrpt=replace(p.config.tlsrpt, directory=str(own)))
    u = await p.run("dmarc")
    assert u.status.ok, u.status.error
    assert u.result.dmarc is not None and u.result.dmarc.imported == n
    assert u.result.dmarc.rejected == ()
    assert u.result.tls is not None and u.result.tls.imported == len(tls)
    # the same reports again, from the mailbox's side: nothing new
    for name, data in tls[:4]:
        (inbox / ("again-" + name.replace("!", "_"))).write_bytes(data)
    again = await p.run("dmarc")
    assert again.result.tls is not None and again.result.tls.imported == 0
    assert len(store.tls_reports()) == len(tls)
    [row] = tls_json(p) or []
    assert row["domain"] == "notify.northwind.example" and row["window_days"] == 7
    assert row["failures"] == {"certificate-expired": row["failed_sessions"]}
    assert row["top_failures"][0]["receiving_mx"] == "mx2.notify.northwind.example"
    alerts = {a.key: a for a in p.alerts_view().alerts}
    assert "tls_failures|tlsrpt notify.northwind.example" in alerts
