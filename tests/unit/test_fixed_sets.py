"""mailops' fixed sets are Literal types, and a stored record holding a value outside
one is unreadable (skipped and said), never carried on as a value the code never meant."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import pytest

from console.analysis.dnsbl import VERDICTS
from console.codec import decode, encode
from console.model import Alert, Verdict
from console.store import Store

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def alert() -> Alert:
    return Alert("k|x@" + NOW.isoformat(), "k|x", "k", "x", "critical", "m", NOW, NOW)


def test_the_verdicts_are_the_literal() -> None:
    assert VERDICTS == get_args(Verdict)


def test_a_value_outside_its_set_is_refused_on_decode() -> None:
    data = encode(alert())
    assert decode(Alert, data) == alert()
    data["severity"] = "catastrophic"
    with pytest.raises(ValueError, match="catastrophic"):
        decode(Alert, data)


def test_a_stored_alert_with_an_unknown_severity_is_skipped_and_said(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.put_alerts([alert(), Alert("b", "k|y", "k", "y", "warning", "m", NOW, NOW)])
        store.commit()
    state = tmp_path / "state.json"
    text = state.read_text()
    assert text.count('"severity":"warning"') == 1
    state.write_text(text.replace('"severity":"warning"', '"severity":"catastrophic"'))
    with Store(tmp_path, read_only=True) as store:
        assert [a.subject for a in store.alerts()] == ["x"]
        assert any("unreadable" in w for w in store.warnings)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            '[dmarc]\nafter = "archive"\n',
            r"c.toml:2: dmarc.after must be move or flag, not 'archive'",
        ),
        ('[dmarc]\nimap_security = "ssl"\n', r"dmarc.imap_security must be tls, starttls or none"),
        ("[seed_test]\nafter_found = 3\n", r"seed_test.after_found must be a string, not int 3"),
    ],
)
def test_config_choices_come_from_the_literal_types(tmp_path: Path, text: str, error: str) -> None:
    from console.config import ConfigError, load_config

    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=error):
        load_config(str(path))
