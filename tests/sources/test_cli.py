"""The `mailops` command end to end: `simulate` and `check` as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.sim import DEMO_KEY

PY = [sys.executable, "-m", "console"]
Simulated = tuple[subprocess.Popen[str], str, int]  # the process, its URL, its DNS port


def run(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    return subprocess.run(PY + args, capture_output=True, text=True, env=full, timeout=timeout)


@pytest.fixture
def simulator() -> Iterator[Simulated]:
    proc = subprocess.Popen(
        [*PY, "simulate", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert "Mandrill simulator" in first, proc.stderr.read() if proc.stderr else first
    url = first.split(" on ", 1)[1].strip()
    second = proc.stdout.readline()
    assert second.startswith("DNS zones on 127.0.0.1 port ")
    dns_port = int(second.rsplit(" ", 1)[1])
    yield proc, url, dns_port
    proc.terminate()
    proc.wait(timeout=10)


def config(tmp_path: Path, url: str, dns_port: int = 9) -> Path:
    """Mandrill at the simulator; DNS only ever on loopback (port 9 answers nothing)."""
    path = tmp_path / "mailops.toml"
    path.write_text(
        f'[mandrill]\nbase_url = "{url}"\ntimeout = 10.0\n'
        f'[dns]\nnameservers = ["127.0.0.1"]\nport = {dns_port}\ntimeout = 0.5\ndeadline = 1.0\n'
        '[domains]\nlink_domains = ["click.northwind.example"]\n'
    )
    path.chmod(0o600)
    return path


def test_check_json_against_the_simulator(simulator: Simulated, tmp_path: Path) -> None:
    _, url, dns_port = simulator
    cfg = config(tmp_path, url, dns_port)
    res = run(["check", "--json", "--config", str(cfg)], env={"MANDRILL_API_KEY": DEMO_KEY})
    assert res.returncode in (0, 1, 2), res.stderr
    report = json.loads(res.stdout)
    assert report["status"] in ("ok", "warning", "critical")
    assert res.returncode == {"ok": 0, "warning": 1, "critical": 2}[report["status"]]
    for name in ("account", "ips", "messages", "subaccounts", "rejects", "domains"):
        src = report["sources"][name]
        assert src["ok"] is True and src["error"] is None and src["polled_at"]
    acc = report["account"]
    assert 70 < acc["reputation"] <= 84 and acc["hourly_quota"] == 2500 and acc["backlog"] == 0
    ips = {ip["ip"]: ip for ip in report["ips"]}
    d = ips["203.0.113.25"]
    assert d["pool"] == "Main Pool" and d["warming_up"] is True
    assert (d["warmup_day"], d["warmup_days"]) == (12, 30)
    assert d["sent"] > 0 and d["delivered"] <= d["sent"] and 0 < d["delivery_rate"] <= 1
    assert ips["198.51.100.13"]["noisy_neighbour"] is True
    assert report["status"] != "ok"  # the noisy neighbour is a warning at least
    alerts = {(a["rule"], a["subject"]): a for a in report["alerts"]}
    noisy = alerts[("noisy_neighbour", "IP 198.51.100.13")]
    assert (
        noisy["severity"] == "warning" and noisy["since"] and "noisy neighbour" in noisy["message"]
    )
    # the same engine decides the status; the worst alert comes first
    assert report["alerts"][0]["severity"] == report["status"]
    subs = {s["id"]: s for s in report["subaccounts"]}
    assert subs["dandelion"]["reputation"] < subs["blue-bank"]["reputation"]
    assert {"id", "reputation", "complaints"} <= set(subs["dandelion"])
    assert set(report["events"]) >= {"hard", "soft", "reject", "spam", "unsub", "deferred"}
    assert report["events"]["hard"] > 0
    assert report["messages_without_ip"] == 0
    domains = {d["domain"]: d for d in report["domains"]}
    good, legacy = domains["notify.northwind.example"], domains["mail.northwind-legacy.example"]
    assert good["mandrill"]["dkim"] is True and legacy["mandrill"]["dmarc"] is False
    assert good["spf"] == {
        "valid": True, "temperror": False, "lookups": 1, "void_lookups": 0, "error": None
    }
    assert good["dkim"]["mte1"] == {"valid": True, "kind": "cname", "error": None}
    assert good["dmarc"]["valid"] and good["dmarc"]["policy"] == "reject"
    assert legacy["dkim"]["mandrill"]["kind"] == "legacy" and not legacy["dkim"]["mte1"]["valid"]
    assert legacy["dmarc"]["valid"] is False and legacy["spf"]["valid"] is False
    assert {x["verdict"] for x in good["listings"]} == {"not_listed"}
    assert "click.northwind.example" in domains
    noisy = ips["198.51.100.13"]
    spamcop = next(x for x in noisy["listings"] if x["zone"] == "bl.spamcop.net")
    assert spamcop["verdict"] == "listed" and spamcop["codes"] == ["127.0.0.2"]
    assert d["ptr"] == ["mail25.northwind.mandrillapp.com"] and d["fcrdns"] is True
    verdicts = {x["verdict"] for ip in report["ips"] for x in ip["listings"]}
    assert verdicts <= {"listed", "not_listed", "error", "broken", "timeout"}
    assert report["status"] == "critical" and res.returncode == 2  # failing SPF/DKIM/DMARC
    assert report["rejects"]["total"] > 0 and "hard-bounce" in report["rejects"]["by_reason"]
    assert DEMO_KEY not in res.stdout + res.stderr


def test_check_human_summary(simulator: Simulated, tmp_path: Path) -> None:
    _, url, dns_port = simulator
    res = run(
        ["check", "--config", str(config(tmp_path, url, dns_port))],
        env={"MANDRILL_API_KEY": DEMO_KEY},
    )
    assert res.stdout.startswith("mailops check: WARNING") or res.stdout.startswith(
        "mailops check: CRITICAL"
    )
    assert "noisy neighbour" in res.stdout and "203.0.113.25" in res.stdout


def test_check_with_the_simulator_stopped_exits_3_in_one_line(
    simulator: Simulated, tmp_path: Path
) -> None:
    proc, url, _ = simulator
    proc.terminate()
    proc.wait(timeout=10)
    res = run(
        ["check", "--json", "--config", str(config(tmp_path, url))],
        env={"MANDRILL_API_KEY": DEMO_KEY},
    )
    assert res.returncode == 3
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Cannot reach Mandrill" in lines[0]
    assert json.loads(res.stdout)["status"] == "unknown"


def test_check_with_an_invalid_key_exits_3(simulator: Simulated, tmp_path: Path) -> None:
    _, url, _ = simulator
    res = run(
        ["check", "--config", str(config(tmp_path, url))],
        env={"MANDRILL_API_KEY": "not-the-key-999"},
    )
    assert res.returncode == 3
    assert "Invalid_Key" in res.stderr and "not-the-key-999" not in res.stderr + res.stdout


def test_missing_key_and_bad_config_exit_3_with_the_reason(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[mandrill]\napi_key_env = "NO_SUCH_VAR_X"\n')
    res = run(["check", "--config", str(cfg)])
    assert res.returncode == 3 and "NO_SUCH_VAR_X" in res.stderr and "Traceback" not in res.stderr
    cfg.write_text("[mandrill]\ntimeout = -3\n")
    res = run(["check", "--config", str(cfg)], env={"MANDRILL_API_KEY": "x"})
    assert res.returncode == 3 and "c.toml:2: mandrill.timeout" in res.stderr
    res = run(["--config", str(cfg)], env={"MANDRILL_API_KEY": "x"})  # the console itself
    assert res.returncode == 3 and "mandrill.timeout" in res.stderr


def test_help_and_version() -> None:
    assert run(["--version"]).stdout.startswith("mailops ")
    for args in ([], ["check"], ["simulate"], ["config"], ["config", "init"]):
        res = run([*args, "--help"])
        assert res.returncode == 0 and "usage: mailops" in res.stdout
