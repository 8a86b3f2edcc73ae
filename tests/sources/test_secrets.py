"""Known secrets through every command and every screen: none may show anywhere.

The API key, the seed and rua mailbox passwords and the DQS key are set to
recognisable values; every command runs as a real process (good and bad
paths: a rejected key, mailboxes that cannot be reached), every screen is
captured, and then stdout, stderr, logs, state files and exports are searched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from textual.widgets import DataTable

from console.sim import ManualClock, SimServer, Simulator
from console.store import Store
from tests.helpers import free_port, wait_for
from tests.ui.conftest import make_app, settled

PY = [sys.executable, "-m", "console"]
KEY = "sk-KEY-NEVER-SHOW-0451"
SEED_PW = "pw-SEED-NEVER-SHOW-0452"
DMARC_PW = "pw-DMARC-NEVER-SHOW-0453"
DQS = "dqs-NEVER-SHOW-0454"
HOOK = "hook-NEVER-SHOW-0455"
SECRETS = (KEY, SEED_PW, DMARC_PW, DQS, HOOK)


def test_no_command_shows_a_secret(server: SimServer, sim: Simulator, tmp_path: Path) -> None:
    sim.key = KEY
    imap, hook_port, metrics_port = free_port(), free_port(), free_port()
    state = tmp_path / "state"
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[mandrill]\nbase_url = "{server.base_url}"\napi_key_env = "MY_KEY"\ntimeout = 5.0\n'
        '[dns]\nnameservers = ["127.0.0.1"]\nport = 9\ntimeout = 0.2\ndeadline = 0.4\n'
        f'[blocklists]\ndqs_key_env = "MY_DQS"\n'
        f'[storage]\nstate_dir = "{state}"\nexport_dir = "{tmp_path / "exports"}"\n'
        f'[dmarc]\nimap_host = "127.0.0.1"\nimap_port = {imap}\nimap_security = "none"\n'
        'username = "dmarc"\npassword_env = "MY_DMARC"\n'
        '[seed_test]\nfrom_email = "seeds@notify.northwind.example"\nwait_minutes = 0.5\n'
        "poll_seconds = 1\n"
        '[[seeds]]\nname = "gmail-1"\nprovider = "gmail"\naddress = "s@gmail.test"\n'
        f'imap_host = "127.0.0.1"\nimap_port = {imap}\nimap_security = "none"\n'
        'username = "seed"\npassword_env = "MY_SEED"\n'
        f'[webhooks]\nlisten = "127.0.0.1:{hook_port}"\nkey_env = "MY_HOOK"\n'
        f'url = "http://127.0.0.1:{hook_port}/hook"\n'
        f'[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n'
    )
    env = {**os.environ, "MY_KEY": KEY, "MY_SEED": SEED_PW, "MY_DMARC": DMARC_PW, "MY_DQS": DQS,
           "MY_HOOK": HOOK}  # fmt: skip
    bad_env = {**env, "MY_KEY": "sk-wrong-" + KEY[::-1]}
    outputs: list[str] = []
    for args, e in (
        (["check", "--json"], env),
        (["check"], env),
        (["check", "--format", "openmetrics"], env),
        (["check", "--json"], bad_env),  # Mandrill rejects the key
        (["seed-test", "--json"], env),  # the mailbox cannot be reached
        (["seed-test"], bad_env),
        (["dmarc", "import", str(Path(__file__).parent.parent / "dmarc")], env),
        (["content-check", str(Path(__file__).parent.parent / "content" / "gtube.eml")], env),
    ):
        res = subprocess.run(
            [*PY, *args, "--config", str(cfg)]
            if args[0] != "dmarc"
            else [*PY, "dmarc", "import", "--config", str(cfg), args[2]],
            capture_output=True,
            text=True,
            env=e,
            timeout=120,
        )
        outputs.append(res.stdout + res.stderr)
    outputs.append(_serve_briefly(cfg, env, hook_port, metrics_port))
    for out in outputs:
        for secret in SECRETS:
            assert secret not in out
    assert any("Invalid_Key" in o for o in outputs)  # the bad paths really ran
    assert any("mailops_source_up" in o for o in outputs)
    assert any("webhook request refused (403)" in o for o in outputs)
    assert any("Cannot reach IMAP server" in o for o in outputs)
    for path in tmp_path.rglob("*"):
        if path.is_file() and path != cfg:
            data = path.read_bytes()
            for secret in SECRETS:
                assert secret.encode() not in data, path


def _serve_briefly(cfg: Path, env: dict[str, str], hook: int, metrics: int) -> str:
    """`serve` with its webhook and metrics: a signed-wrong batch, a scrape, SIGTERM; what
    it logged and what /metrics said."""
    import httpx

    proc = subprocess.Popen(
        [*PY, "serve", "--config", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=env, text=True,
    )  # fmt: skip
    scraped = ""
    try:
        for _ in range(300):
            try:
                httpx.head(f"http://127.0.0.1:{hook}/hook", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        httpx.post(
            f"http://127.0.0.1:{hook}/hook",
            data={"mandrill_events": "[]"},
            headers={"X-Mandrill-Signature": "d3Jvbmc="},
        )
        scraped = httpx.get(f"http://127.0.0.1:{metrics}/metrics").text
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
    return scraped + out + err


async def test_no_screen_shows_a_secret(
    server: SimServer, store: Store, clock: ManualClock, sim: Simulator
) -> None:
    sim.key = KEY
    app = make_app(server, store, clock, key=KEY)
    seen: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(app, pilot)
        for keys in (("d",), ("a",), ("l",), ("p",), ("m",), ("o",), ("question_mark",)):
            await pilot.press(*keys)
            await pilot.pause()
            seen.append(app.export_screenshot())
            await pilot.press("escape")
            await pilot.pause()
        subs = app.query_one("#subaccounts", DataTable)
        subs.focus()
        await pilot.press("enter")  # a customer
        await pilot.pause()
        await pilot.press("e")  # its report
        await wait_for(lambda: app.last_export is not None)  # written, then searched below
        await pilot.pause()
        seen.append(app.export_screenshot())
        await pilot.press("escape")
        sim.key = "rotated"  # Mandrill now rejects the key: the error paths
        await pilot.press("r")
        await wait_for(lambda: app.pipeline.statuses["account"].final)
        await pilot.pause()
        seen.append(app.export_screenshot())
    for text in seen:
        assert KEY not in text
    for path in store.dir.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
