"""The hostile corpus through every human-readable output of the commands: `check`,
`seed-test`'s table, `content-check`, `dmarc import`, error messages and the log. What
comes from outside is there, as text; no escape sequence or control reaches a terminal."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from console import cli
from console.model import SeedResult, SeedRun
from console.sim import DEMO_KEY, ScenarioClock, SimServer, Simulator, scenario_named
from console.sim.scenario import HOSTILE_TEXTS
from console.sources.spamd import Spamd
from console.textsafe import SafeFormatter
from tests.helpers import offline_config

#: What must never reach a terminal raw: ESC, BEL, NUL, other C0, C1, bidi controls.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def raw_free(text: str) -> bool:
    return not RAW.search(text.replace("\n", "").replace("\t", ""))


@pytest.fixture
def hostile_server() -> Iterator[SimServer]:
    """The hostile scenario on the wall clock, as `mailops simulate` serves it: `check`
    reads the hours before now."""
    now = datetime.now(UTC).replace(microsecond=0)
    sc = scenario_named("hostile", start=now - timedelta(hours=3))
    with SimServer(Simulator(sc, ScenarioClock(now))) as srv:
        yield srv


def test_check_prints_hostile_names_kinds_and_reasons_as_text(
    hostile_server: SimServer, tmp_path: Path
) -> None:
    cfg = offline_config(tmp_path, hostile_server.base_url)
    env = {"MANDRILL_API_KEY": DEMO_KEY, "PATH": "/usr/bin:/bin"}
    res = subprocess.run(
        [sys.executable, "-m", "console", "check", "--config", str(cfg)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode in (1, 2, 3), res.stderr
    assert raw_free(res.stdout) and raw_free(res.stderr), (res.stdout + res.stderr)[:3000]
    out = res.stdout
    assert "northwind \\x1b[31mred" in out  # the account name, shown escaped
    assert "\\u202e" in out  # the pool's bidi override, visible
    assert "\\x1b]0;owned by state\\x07" in out  # an unknown event kind
    as_json = subprocess.run(
        [sys.executable, "-m", "console", "check", "--json", "--config", str(cfg)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert raw_free(as_json.stdout)  # JSON escapes controls itself (\u001b)
    assert json.loads(as_json.stdout)["account"]["username"] == "northwind " + HOSTILE_TEXTS[1]


def test_config_errors_are_escaped_and_on_the_right_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[ui]\nread_only = true\n"evil\\u001b]0;t\\u0007\\u202e" = 1\n')
    assert cli.main(["check", "--config", str(cfg)]) == 3
    err = capsys.readouterr().err
    assert raw_free(err) and f"{cfg}:3: ui.evil\\x1b]0;t\\x07\\u202e: unknown key" in err
    cfg.write_text('[mandrill]\nbase_url = "https://mandrillapp.com/\\u001b[2J/api"\n')
    assert cli.main(["check", "--config", str(cfg)]) == 3
    err = capsys.readouterr().err
    assert raw_free(err) and f"{cfg}:2: mandrill.base_url" in err and "control character" in err


def test_seed_table_shows_hostile_folders_and_errors_as_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    at = datetime(2026, 11, 28, 6, tzinfo=UTC)
    run = SeedRun(
        "run-1",
        at,
        (
            SeedResult(
                "gmail-1", "gmail", "s1@gmail.com", "tok1", "spam", at, folder=HOSTILE_TEXTS[1],
                auth={"spf": HOSTILE_TEXTS[2]}, source_ip="198.51.100.13",
            ),
            SeedResult(
                "outlook-1", "outlook", "s2@outlook.com", "tok2", "error", at,
                error=HOSTILE_TEXTS[3],
            ),
        ),
    )  # fmt: skip
    cli._out(cli.seed_table(run))
    out = capsys.readouterr().out
    assert raw_free(out) and "\\x1b[31mred" in out and "HYPERLINK" in out


def test_content_check_prints_hostile_file_names_and_lint_as_text(
    spamd_server: Spamd, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg["To"] = "b@example.com"
    msg["Subject"] = HOSTILE_TEXTS[1]
    msg.set_content("<p>hello</p>", subtype="html")
    msg.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf",
                       filename="inv\x1b]0;t\x07\u202e.pdf")  # fmt: skip
    path = tmp_path / "evil\x1b[2J.eml"
    path.write_bytes(msg.as_bytes())
    spamd = f"[spamd]\nport = {spamd_server.port}\n"
    cfg = offline_config(tmp_path, "http://127.0.0.1:9/api/1.0", spamd)
    assert cli.main(["content-check", "--config", str(cfg), str(path)]) == 1
    out = capsys.readouterr().out
    assert raw_free(out) and "evil\\x1b[2J.eml" in out and "PDF attachment" in out


def test_dmarc_import_prints_hostile_paths_and_reasons_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "report\x1b]52;c;ZXZpbA==\x07.xml"
    bad.write_bytes(b"<feedback><report_metadata>\x1b]0;t\x07")
    cfg = offline_config(tmp_path, "http://127.0.0.1:9/api/1.0")
    assert cli.main(["dmarc", "import", "--config", str(cfg), str(bad)]) == 3
    out = capsys.readouterr().out
    assert raw_free(out) and "refused" in out and "\\x1b]52;c;ZXZpbA==\\x07" in out


def test_log_lines_show_outside_text_escaped() -> None:
    record = logging.LogRecord(
        "console.jobs", logging.WARNING, __file__, 1, "poll failed: %s", (HOSTILE_TEXTS[2],), None
    )
    line = SafeFormatter("%(levelname)s %(message)s").format(record)
    assert raw_free(line) and "\\x1b]8;;https://evil.example" in line
