"""Global options before and after every subcommand: the same effect both ways, and an
error, never silence, where an option does not apply."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from console import cli

#: each command's argv and the runner main() hands it to
COMMANDS = {
    "check": (["check"], "run_check"),
    "seed-test": (["seed-test"], "run_seed_command"),
    "content-check": (["content-check", "m.eml"], "run_content_check"),
    "dmarc import": (["dmarc", "import", "r.xml"], "run_dmarc_import"),
    "config init": (["config", "init"], "run_config_init"),
}


#: a runner called: its name, positional and keyword arguments
Call = tuple[str, tuple[object, ...], dict[str, object]]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    seen: list[Call] = []
    for _, runner in COMMANDS.values():

        def record(*a: object, _name: str = runner, **kw: object) -> int:
            seen.append((_name, a, kw))
            return 0

        monkeypatch.setattr(cli, runner, record)

    def run_console(*a: object, **kw: object) -> int:
        seen.append(("console", a, kw))
        return 0

    monkeypatch.setattr(cli, "run_console", run_console)
    return seen


@pytest.mark.parametrize("command", COMMANDS)
def test_config_works_before_and_after_every_command_it_applies_to(
    command: str, calls: list[Call]
) -> None:
    argv, _ = COMMANDS[command]
    before = ["--config", "x.toml", *argv]
    after = [*argv[: 2 if command in ("dmarc import", "config init") else 1], "--config", "x.toml",
             *argv[2 if command in ("dmarc import", "config init") else 1 :]]  # fmt: skip
    assert cli.main(before) == 0 and cli.main(after) == 0
    assert calls[0][1][0] == "x.toml" and calls[1][1][0] == "x.toml"


@pytest.mark.parametrize("command", ["check", "seed-test", "dmarc import"])
def test_state_dir_works_before_and_after(command: str, calls: list[Call]) -> None:
    argv, _ = COMMANDS[command]
    split = 2 if command == "dmarc import" else 1
    cli.main(["--state-dir", "/s", *argv])
    cli.main([*argv[:split], "--state-dir", "/s", *argv[split:]])
    assert [c[2]["state_dir"] for c in calls] == ["/s", "/s"]


def test_the_console_takes_every_global_option(calls: list[Call]) -> None:
    cli.main(["--config", "x.toml", "--state-dir", "/s", "--read-only"])
    assert calls == [("console", ("x.toml", "/s"), {"read_only": True})]


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--state-dir", "/s", "content-check", "m.eml"], "--state-dir"),
        (["content-check", "m.eml", "--state-dir", "/s"], "--state-dir"),
        (["--state-dir", "/s", "config", "init"], "--state-dir"),
        (["--read-only", "check"], "--read-only"),
        (["check", "--read-only"], "--read-only"),
        (["--config", "x.toml", "simulate"], "--config"),
        (["simulate", "--config", "x.toml"], "--config"),
        (["--demo", "check"], "--demo"),
    ],
)
def test_an_option_where_it_does_not_apply_is_an_error(
    argv: list[str], flag: str, calls: list[Call], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2 and calls == []
    assert flag in capsys.readouterr().err


def test_config_before_check_is_the_config_used(tmp_path: Path) -> None:
    """The probe's case, as a process: `mailops --config X check` ran the default config."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('[mandrill]\nbase_url = "http://127.0.0.1:9/api/1.0"\napi_key = "k"\n'
                   "timeout = 0.5\nretries = 0\n")  # fmt: skip
    cfg.chmod(0o600)
    for argv in (["--config", str(cfg), "check"], ["check", "--config", str(cfg)]):
        res = subprocess.run([sys.executable, "-m", "console", *argv], capture_output=True,
                             text=True, timeout=60)  # fmt: skip
        assert res.returncode == 3 and "127.0.0.1:9" in res.stderr, res.stderr
