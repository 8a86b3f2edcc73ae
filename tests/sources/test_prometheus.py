"""A real Prometheus (Debian's package) scrapes the service's /metrics and answers a query
for the account's reputation; promtool checks the example rules and their unit tests."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from console.service.run import Service
from tests.conftest import need_binary
from tests.helpers import free_port, stop_process
from tests.sources.test_webhooks import service  # noqa: F401 - the fixture

pytestmark = pytest.mark.servers

RULES = Path(__file__).parents[2] / "docs" / "prometheus"


def test_promtool_accepts_the_example_rules_and_their_tests_pass() -> None:
    promtool = need_binary("promtool")
    check = subprocess.run(
        [promtool, "check", "rules", str(RULES / "mailops.rules.yml")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run(
        [promtool, "test", "rules", "mailops.rules.test.yml"],
        capture_output=True,
        text=True,
        cwd=RULES,
    )
    assert test.returncode == 0, test.stdout + test.stderr


async def test_prometheus_scrapes_the_service_and_returns_the_reputation(
    service: Service,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    binary = need_binary("prometheus")
    assert (await service.pipeline.run("account")).status.ok
    host, port = service.bound["metrics"]
    web = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {RULES / 'mailops.rules.yml'}\n"
        "scrape_configs:\n  - job_name: mailops\n    static_configs:\n"
        f"      - targets: ['{host}:{port}']\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{web}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        value = await _query(web, "mailops_account_reputation", proc, tmp_path)
        assert value == "84"
        up = await _query(web, 'up{job="mailops"}', proc, tmp_path)
        assert up == "1"
    finally:
        stop_process(proc)
        log.close()


async def _query(port: int, query: str, proc: subprocess.Popen[bytes], tmp: Path) -> str:
    """The query's single value, once Prometheus has scraped it (within 60 s)."""
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp / "prometheus.log").read_text()
            try:
                r = await http.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": query})
                result = r.json()["data"]["result"] if r.status_code == 200 else []
            except httpx.TransportError:
                result = []
            if result:
                return str(result[0]["value"][1])
            await asyncio.sleep(0.25)
    raise AssertionError(f"Prometheus had no {query} after 60 s")
