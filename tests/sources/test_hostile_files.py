"""Files named in the config or on the command line, as a hostile or careless user names
them: a FIFO, a device, a directory, a huge file, deep or poisoned TOML. Each is refused
at once with what is wrong; nothing hangs, fills memory or ends in a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console import cli
from console.config import ConfigError, load_config, parse_config, resolve_api_key
from console.files import FileRefused, read_regular
from console.sources.dmarc_inbox import read_file

PY = [sys.executable, "-m", "console"]


def _run(args: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PY, *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "MANDRILL_API_KEY": ""},
    )  # fmt: skip


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_read_regular_refuses_what_is_not_a_small_regular_file(tmp_path: Path, fifo: Path) -> None:
    started = time.monotonic()
    with pytest.raises(FileRefused, match="named pipe"):
        read_regular(fifo, 1024)  # opening a FIFO would wait for a writer for ever
    with pytest.raises(FileRefused, match="character device"):
        read_regular(Path("/dev/zero"), 1024)  # st_size 0, a read that never ends
    with pytest.raises(FileRefused, match="directory"):
        read_regular(tmp_path, 1024)
    big = tmp_path / "big"
    with open(big, "wb") as fh:
        fh.truncate(2048)
    with pytest.raises(FileRefused, match="2,048 bytes, more than the 1 KB"):
        read_regular(big, 1024)
    with pytest.raises(FileRefused, match="does not exist"):
        read_regular(tmp_path / "nope", 1024)
    assert read_regular(big, 4096) == b"\0" * 2048
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("kind", ["fifo", "zero", "huge", "dir"])
def test_the_api_key_file_is_refused_with_its_reason(tmp_path: Path, fifo: Path, kind: str) -> None:
    target = {
        "fifo": fifo,
        "zero": Path("/dev/zero"),
        "dir": tmp_path,
        "huge": tmp_path / "huge.key",
    }[kind]
    if kind == "huge":
        with open(target, "wb") as fh:
            fh.truncate(1 << 30)  # sparse: 1 GB that costs no disk
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[mandrill]\napi_key_file = "{target}"\n')
    cfg.chmod(0o600)
    with pytest.raises(ConfigError) as exc:
        resolve_api_key(load_config(str(cfg)))
    reason = {
        "fifo": "named pipe",
        "zero": "character device",
        "dir": "directory",
        "huge": "more than the 64 KB accepted",
    }[kind]
    assert "Mandrill API key file" in str(exc.value) and reason in str(exc.value)
    res = _run(["check", "--config", str(cfg)])  # as a process: an error, no traceback
    assert res.returncode == 3 and reason in res.stderr and "Traceback" not in res.stderr


def test_secret_and_ca_files_of_seeds_and_dmarc_are_checked_the_same_way(
    tmp_path: Path, fifo: Path
) -> None:
    from console.config import resolve_dmarc_password
    from console.sources.imap import ImapError, SeedMailbox, _ssl_context

    cfg = parse_config(
        f'[dmarc]\nimap_host = "imap.example.com"\nusername = "u"\npassword_file = "{fifo}"\n'
    )
    with pytest.raises(ConfigError, match="named pipe"):
        resolve_dmarc_password(cfg.dmarc)
    from console.secret import Secret

    box = SeedMailbox("s1", "gmail", "imap.example.com", 993, "u", Secret("p"), ca_file=str(fifo))
    with pytest.raises(ImapError, match=r"CA file .* named pipe"):
        _ssl_context(box)


def test_a_key_file_readable_by_others_is_warned_about_by_check_too(tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_text("not-a-real-key")
    key.chmod(0o644)
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[mandrill]\nbase_url = "http://127.0.0.1:9/api/1.0"\napi_key_file = "{key}"\n'
        "timeout = 0.5\nretries = 0\n"
    )
    res = _run(["check", "--config", str(cfg)])
    assert "readable by other users: chmod 600" in res.stderr


def test_a_config_file_that_is_a_fifo_or_device_is_refused(fifo: Path) -> None:
    for path in (fifo, Path("/dev/zero")):
        res = _run(["check", "--config", str(path)])
        assert res.returncode == 3 and "cannot read the config" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr


def test_dmarc_import_refuses_a_device_and_a_fifo_and_goes_on(tmp_path: Path, fifo: Path) -> None:
    item = read_file(Path("/dev/zero"))
    assert "character device" in item.error and not item.reports
    assert "named pipe" in read_file(fifo).error
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    res = _run(["dmarc", "import", "--config", str(cfg), "/dev/zero", str(fifo)])
    assert res.returncode == 3 and "Traceback" not in res.stderr
    assert res.stdout.count("not a regular file") == 2


def test_content_check_refuses_a_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["content-check", "/dev/zero"]) == 3
    assert "character device" in capsys.readouterr().err


@pytest.mark.parametrize("shape", ["table", "array"])
def test_deep_toml_is_a_config_error_not_a_traceback(tmp_path: Path, shape: str) -> None:
    depth = 50_000
    value = "{a = " * depth + "1" + "}" * depth if shape == "table" else "[" * depth + "]" * depth
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[ui]\nx = {value}\n")
    with pytest.raises(ConfigError, match="nested more than 32 levels"):
        load_config(str(cfg))
    res = _run(["check", "--config", str(cfg)])
    assert res.returncode == 3 and "nested more than 32 levels" in res.stderr
    assert "Traceback" not in res.stderr and "RecursionError" not in res.stderr


def test_quoted_and_dotted_keys_are_reported_on_their_own_line() -> None:
    text = '[mandrill]\ntimeout = 3\n"time\\u001bout" = 4\n'
    with pytest.raises(ConfigError) as exc:
        parse_config(text)
    assert str(exc.value).startswith("<config>:3: mandrill.time\\x1bout: unknown key")
    with pytest.raises(ConfigError, match=r"<config>:2: mandrill.poll.acount: unknown key"):
        parse_config("[mandrill]\npoll.acount = 5\n")


@pytest.mark.parametrize(
    "text, where, why",
    [
        ('[mandrill]\nbase_url = "https://m\\u001b.com/api"', "mandrill.base_url", "control"),
        ('[mandrill]\nbase_url = "ftp://mandrillapp.com/api"', "mandrill.base_url", "http"),
        ('[mandrill]\nbase_url = "https://a.example:99999/"', "mandrill.base_url", "port"),
        ('[alerts]\nwebhook_url = "https://hooks example/x"', "alerts.webhook_url", "space"),
        ('[spamd]\nhost = "local host"', "spamd.host", "space"),
        ('[spamd]\nhost = "-bad-.example"', "spamd.host", "not a valid host name"),
        ('[dns]\nnameservers = ["dns.example"]', "dns.nameservers", "not an IP address"),
        ('[blocklists]\nextra_ips = ["198.51.100.300"]', "blocklists.extra_ips", "not an IP"),
        ('[domains]\nsending = ["a b.example"]', "domains.sending", "space"),
        ('[mandrill.response_limits_mb]\n"messages/search" = 0', "response_limits_mb", "positive"),
        ('[mandrill.response_limits_mb]\n"search" = 5', "response_limits_mb", "endpoint"),
    ],
)
def test_urls_hosts_and_addresses_are_checked_when_the_config_is_read(
    text: str, where: str, why: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(text + "\n")
    assert f"<config>:2: mandrill.{where}" in str(exc.value) or f":2: {where}" in str(exc.value)
    assert why in str(exc.value)


def test_good_urls_and_hosts_still_pass() -> None:
    cfg = parse_config(
        '[mandrill]\nbase_url = "http://127.0.0.1:8090/api/1.0"\n'
        '[mandrill.response_limits_mb]\n"messages/search" = 64\n"*" = 8\n'
        '[alerts]\nwebhook_url = "https://hooks.slack.com/services/T0/B0/xyz"\n'
        '[spamd]\nhost = "spamd.internal"\n[dns]\nnameservers = ["::1", "10.0.0.2"]\n'
        '[domains]\nsending = ["notify.example.com", "bücher.example"]\n'
    )
    assert cfg.mandrill.response_limits_mb == {"messages/search": 64.0, "*": 8.0}


def test_a_bad_webhook_url_is_named_by_its_host_only() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config('[alerts]\nwebhook_url = "https://hooks.slack.com/T0/SECRET TOKEN"\n')
    assert "hooks.slack.com" in str(exc.value) and "SECRET" not in str(exc.value)
