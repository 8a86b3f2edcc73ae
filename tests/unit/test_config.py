import os
import stat
from pathlib import Path

import pytest

from console.cli import main
from console.config import (
    CONFIG_TEMPLATE,
    Config,
    ConfigError,
    load_config,
    parse_config,
    resolve_api_key,
)


def test_template_parses_to_the_defaults() -> None:
    assert parse_config(CONFIG_TEMPLATE).mandrill == Config().mandrill
    assert parse_config(CONFIG_TEMPLATE).thresholds == Config().thresholds
    assert parse_config(CONFIG_TEMPLATE) == Config()  # every section, not two of thirteen


def test_the_template_names_every_setting() -> None:
    """The template is written from the dataclasses: none of their keys is left out."""
    import re
    from dataclasses import is_dataclass
    from typing import Any, get_args, get_type_hints

    def keys(cls: Any) -> set[str]:
        out: set[str] = set()
        for name, tp in get_type_hints(cls).items():
            if name in ("path", "warnings"):
                continue
            out.add(name)
            inner = [a for a in (tp, *get_args(tp)) if is_dataclass(a)]
            for sub in inner:
                out |= keys(sub)
        return out

    written = set(re.findall(r"^[#\s]*([a-z_]+)\s*=", CONFIG_TEMPLATE, re.M))
    for header in re.findall(r"^[#\s]*\[+([a-z_.]+)", CONFIG_TEMPLATE, re.M):
        written |= set(header.split("."))
    assert sorted(keys(Config) - written) == []


def test_the_template_examples_are_valid_settings() -> None:
    """Uncommenting every example line gives a config that loads, with the examples in it."""
    import re

    uncommented = re.sub(r'(?m)^# (?=\[|[A-Za-z0-9_"*/.-]+ = )', "", CONFIG_TEMPLATE)
    cfg = parse_config(uncommented)
    assert [s.name for s in cfg.seeds] == ["gmail-1"]
    assert [c.name for c in cfg.content_checks] == ["invoice"]
    assert cfg.mandrill.response_limits_mb["*"] == 4
    assert cfg.blocklists.codes == {"bl.example.org": {"127.0.0.2": "listed"}}
    assert cfg.dmarc.known_senders == ("Google Workspace=209.85.128.0/17",)


def test_template_values_are_toml_that_reads_back() -> None:
    import tomllib

    from console.configtemplate import toml_value

    values: list[object] = [
        True, 0, 2.5, 'a "quoted" \\ back\tslash', ("x", "y"), (), {"a b": 1, "c": "d"},
        tuple(f"zone{i}.example.org" for i in range(20)),
    ]  # fmt: skip
    for value in values:
        read = tomllib.loads(f"v = {toml_value(value)}")["v"]
        expected = list(value) if isinstance(value, tuple) else value
        assert read == expected


def test_a_setting_with_no_default_and_no_example_is_refused() -> None:
    from dataclasses import dataclass

    from console.configtemplate import opt, render

    @dataclass(frozen=True)
    class Part:
        """[part]: a section."""

        home: str | None = opt(None)

    @dataclass(frozen=True)
    class Root:
        part: Part = Part()

    with pytest.raises(ValueError, match="home: a setting without a default needs an example"):
        render(Root, "x")


def test_unknown_key_names_file_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[mandrill]\nbase_url = "http://x"\n\n[mandrill.poll]\nacount = 5\n')
    with pytest.raises(ConfigError) as exc:
        load_config(str(path))
    msg = str(exc.value)
    assert f"{path}:5" in msg and "mandrill.poll.acount" in msg and "unknown key" in msg


def test_unknown_table_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[mandril]\ntimeout = 3\n")
    with pytest.raises(ConfigError, match=r"c.toml:1: mandril: unknown key"):
        load_config(str(path))


def test_wrong_type_names_line_and_expected_type(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[storage]\nretention_days = "thirty"\n')
    with pytest.raises(ConfigError, match=r"c.toml:2: storage.retention_days must be an integer"):
        load_config(str(path))


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[mandrill\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(str(path))


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "nope.toml"))


def test_env_var_selects_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[storage]\nretention_days = 7\n")
    monkeypatch.setenv("MAILOPS_CONFIG", str(path))
    assert load_config().storage.retention_days == 7


def test_missing_api_key_says_which_variable_and_file() -> None:
    cfg = parse_config('[mandrill]\napi_key_env = "MY_MANDRILL"\n', Path("/etc/m.toml"))
    with pytest.raises(ConfigError) as exc:
        resolve_api_key(cfg)
    assert "MY_MANDRILL" in str(exc.value) and "api_key_file" in str(exc.value)
    assert "/etc/m.toml" in str(exc.value)


def test_api_key_file_missing_names_the_file(tmp_path: Path) -> None:
    cfg = parse_config(f'[mandrill]\napi_key_file = "{tmp_path}/key"\n')
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_api_key(cfg)


def test_api_key_from_env_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MANDRILL_API_KEY", "abc-123-secret")
    key, _ = resolve_api_key(Config())
    assert key.reveal() == "abc-123-secret"
    assert "abc-123" not in repr(key) and "abc-123" not in f"{key}"


def test_world_readable_config_with_a_key_warns(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[mandrill]\napi_key = "inline-secret"\n')
    os.chmod(path, 0o644)
    cfg = load_config(str(path))
    assert any("readable by other users" in w for w in cfg.warnings)
    assert not any("inline-secret" in w for w in cfg.warnings)
    assert "inline-secret" not in repr(cfg) and "inline-secret" not in str(cfg)
    os.chmod(path, 0o600)
    assert load_config(str(path)).warnings == ()


def test_config_init_writes_0600_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sub" / "config.toml"
    assert main(["config", "init", "--config", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_config(str(path)).mandrill.base_url == "https://mandrillapp.com/api/1.0"
    assert main(["config", "init", "--config", str(path)]) == 3  # refuses to overwrite
    assert "already exists" in capsys.readouterr().err


def test_values_that_would_spin_or_blank_the_screen_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[mandrill.poll]\nmessages = 0\n")
    with pytest.raises(ConfigError, match=r"c.toml:2: mandrill.poll.messages must be at least 1"):
        load_config(str(path))


@pytest.mark.parametrize("name", ["dns", "blocklists", "dmarc", "content", "backoff_cap"])
def test_every_poll_interval_of_zero_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[mandrill.poll]\njitter = 0\n{name} = 0\n")
    with pytest.raises(ConfigError, match=rf"c.toml:3: mandrill.poll.{name} must be at least 1"):
        load_config(str(path))


def test_every_polled_source_has_an_interval() -> None:
    """A source the pipeline polls without a [mandrill.poll] field would have no interval
    (and no minimum): the two lists are one."""
    from dataclasses import fields

    from console.config import Config, PollConfig
    from console.jobs import Pipeline
    from console.secret import Secret
    from console.sources.mandrill import MandrillClient
    from console.store import Store

    intervals = {f.name for f in fields(PollConfig)}
    with Store(Path("/nonexistent/never-created"), read_only=True) as store:
        client = MandrillClient("http://127.0.0.1:9", Secret("k"))
        pipeline = Pipeline(client, store, Config(), scorer=None)
        polled = set(pipeline.sources) - {"seeds"}  # seed tests follow [seed_test] schedule
    assert polled <= intervals, polled - intervals


def test_a_blocklist_without_a_code_table_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[blocklists]\nip_zones = ["bl.example.org"]\n')
    with pytest.raises(ConfigError, match=r"c.toml:2: blocklists.ip_zones: bl.example.org has no"):
        load_config(str(path))
    path.write_text(
        '[blocklists]\nip_zones = ["bl.example.org"]\n'
        '[blocklists.codes."bl.example.org"]\n"127.0.0.2" = "listed"\n'
    )
    assert load_config(str(path)).blocklists.codes == {"bl.example.org": {"127.0.0.2": "listed"}}


def test_seed_entries_are_checked_with_their_table_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from console.config import resolve_seed_password

    path = tmp_path / "c.toml"
    good = (
        '[seed_test]\nfrom_email = "seeds@example.com"\n'
        '[[seeds]]\nname = "gmail-1"\nprovider = "gmail"\naddress = "s@gmail.com"\n'
        'imap_host = "imap.gmail.com"\nusername = "s@gmail.com"\npassword_env = "SEED_PW"\n'
    )
    path.write_text(good + '[[seeds]]\nname = "y"\nprovider = "hotmail"\n')
    with pytest.raises(ConfigError, match=r"c.toml:10: seeds.1.address: required"):
        load_config(str(path))
    path.write_text(good)
    seed = load_config(str(path)).seeds[0]
    with pytest.raises(ConfigError, match=r"set \$SEED_PW") as exc:
        resolve_seed_password(seed)
    monkeypatch.setenv("SEED_PW", "app-pass-999")
    assert resolve_seed_password(seed).reveal() == "app-pass-999"
    assert "app-pass-999" not in str(exc.value)


SEED = (
    '[[seeds]]\nname = "gmail-1"\nprovider = "gmail"\naddress = "s@gmail.com"\n'
    'imap_host = "imap.gmail.com"\nusername = "s@gmail.com"\npassword_env = "SEED_PW"\n'
)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            '[seed_test]\nfrom_email = "a@b.c"\nschedule = "6am"\n',
            r"c.toml:3: seed_test.schedule: '6am' is not a schedule",
        ),
        ('[seed_test]\nfrom_email = "a@b.c"\nschedule = "every 10s"\n', r"at least a minute"),
        ('[seed_test]\nfrom_email = "a@b.c"\nschedule = "25:00"\n', r"not a schedule"),
        ('[seed_test]\nafter_found = "archive"\n', r"c.toml:2: seed_test.after_found must be keep"),
        ("[seed_test]\nwait_minutes = 0\n", r"seed_test.wait_minutes must be at least"),
        (SEED, r"c.toml: seed_test.from_email: required when \[\[seeds\]\]"),
        (
            '[seed_test]\nfrom_email = "a@b.c"\n' + SEED + SEED,
            r"c.toml:11: seeds.1.name: seed name 'gmail-1' is used twice",
        ),
    ],
)
def test_seed_test_settings_are_checked(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=error):
        load_config(str(path))


def test_schedules_parse() -> None:
    from console.config import SeedSchedule, parse_schedule

    assert parse_schedule("06:00") == SeedSchedule(daily_at=(6, 0))
    assert parse_schedule(" every 6h ") == SeedSchedule(every_seconds=21600)
    assert parse_schedule("every 30m") == SeedSchedule(every_seconds=1800)
    assert parse_schedule("off") is None
