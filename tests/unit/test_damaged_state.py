"""Damaged state files, each shape reproduced: the store opens with the rest, sets the
damage aside and says so; `check` reports it; nothing needs repairing by hand first."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import pytest

from console.model import Alert
from console.store import Store, StoreError, read_dmarc_reports

T0 = datetime(2026, 11, 28, 6, tzinfo=UTC)


def _good_state(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        s.add_history("reputation", T0, 80)
        s.set_cursor("messages", 1234)
        s.commit()


#: valid JSON of the wrong shape, each as found in the probe or its kin
WRONG_SHAPES: dict[str, list[object] | dict[str, object]] = {
    "an array": [],
    "a table that is a list": {"meta": [], "cursors": {"1": {"name": "other", "value": 1}}},
    "a record that is a string": {"cursors": {"1": "x"}, "history": {}},
    "a schema that is text": {"meta": {"1": {"schema": "two"}}},
    "a history point that is text": {"history": {"1": {"s": "reputation", "t": "x", "v": 1}}},
    "a cursor that is not a number": {"cursors": {"1": {"name": "messages", "value": "a"}}},
    "a record id that is not a number": {"history": {"x": {"s": "r", "t": 1, "v": 2}}},
}


@pytest.mark.parametrize("name", WRONG_SHAPES)
def test_state_json_of_the_wrong_shape_keeps_the_rest_and_says_so(
    tmp_path: Path, name: str
) -> None:
    _good_state(tmp_path)
    good = json.loads((tmp_path / "state.json").read_text())
    bad = WRONG_SHAPES[name]
    mixed = bad if isinstance(bad, list) else {**good, **bad}
    (tmp_path / "state.json").write_text(json.dumps(mixed))
    with Store(tmp_path) as s:  # opens: no AttributeError, no ValueError
        assert any("state.json" in w for w in s.warnings), s.warnings
        assert s.history("reputation") in ([(T0, 80.0)], [])  # what was readable is there
        s.add_history("reputation", T0, 81)  # and the store works
        s.commit()
    assert list(tmp_path.glob("state.json.corrupt-*"))  # the original kept for a look
    with Store(tmp_path) as s:
        assert s.warnings == []  # set right once; the next start is quiet


def test_a_record_of_the_wrong_shape_drops_only_that_record(tmp_path: Path) -> None:
    _good_state(tmp_path)
    data = json.loads((tmp_path / "state.json").read_text())
    data["history"]["99"] = {"s": "reputation", "t": "noon", "v": 1}
    (tmp_path / "state.json").write_text(json.dumps(data))
    with Store(tmp_path) as s:
        assert s.history("reputation") == [(T0, 80.0)]
        assert s.get_cursor("messages") == 1234
        assert "1 record(s) of table 'history' had the wrong shape" in " ".join(s.warnings)


@pytest.mark.parametrize("kind", ["directory", "symlink loop", "dangling symlink"])
def test_state_json_that_cannot_be_read_is_moved_aside(tmp_path: Path, kind: str) -> None:
    _good_state(tmp_path)
    state = tmp_path / "state.json"
    state.unlink()
    if kind == "directory":
        state.mkdir()
        (state / "x").write_text("y")
    elif kind == "symlink loop":
        state.symlink_to(state)
    else:
        state.symlink_to(tmp_path / "gone.json")
    with Store(tmp_path) as s:
        assert any("moved aside" in w for w in s.warnings), s.warnings
        s.add_history("reputation", T0, 1)
        s.commit()
    assert state.is_file() and not state.is_symlink()
    assert list(tmp_path.glob("state.json.corrupt-*"))


def test_when_it_cannot_even_be_moved_the_error_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _good_state(tmp_path)
    (tmp_path / "state.json").write_text("{not json")

    def refuse(*a: object, **kw: object) -> NoReturn:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(StoreError) as exc:
        Store(tmp_path).open()
    msg = str(exc.value)
    assert "cannot be moved aside either (Permission denied)" in msg
    assert f"Repair or remove {tmp_path / 'state.json'} by hand" in msg


def test_a_read_only_viewer_shows_what_it_can_and_moves_nothing(tmp_path: Path) -> None:
    _good_state(tmp_path)
    data = json.loads((tmp_path / "state.json").read_text())
    data["cursors"] = []
    (tmp_path / "state.json").write_text(json.dumps(data))
    with Store(tmp_path, read_only=True) as s:
        assert s.history("reputation") == [(T0, 80.0)]
        assert any("shown without them" in w for w in s.warnings)
    assert not list(tmp_path.glob("*.corrupt-*"))


@pytest.mark.parametrize(
    "content",
    [b'{"reports": {"1": {"k": "a|1", "end": 1', b'{"reports": []}', b"[1, 2]", b"\x00\xff"],
    ids=["truncated", "table is a list", "an array", "binary"],
)
def test_an_unreadable_dmarc_json_is_reported_not_silent(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "dmarc.json").write_bytes(content)
    reports, warnings = read_dmarc_reports(tmp_path)
    assert warnings, "the damage must be named"
    assert reports is None or reports == []
    with Store(tmp_path) as s:  # `dmarc import` after it: no AttributeError
        added, dup = s.add_dmarc_reports([])
        assert (added, dup) == ([], 0) and s.dmarc_reports() == []
        assert any("dmarc.json" in w for w in s.warnings)


def test_alerts_of_the_wrong_shape_are_counted(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        s.put_alerts([Alert("a1", "rep|acc", "rep", "account", "warning", "low", T0, T0)])
        s.commit()
    data = json.loads((tmp_path / "state.json").read_text())
    data["alerts"]["7"] = {"id": "x", "data": {"nonsense": True}}
    (tmp_path / "state.json").write_text(json.dumps(data))
    with Store(tmp_path, read_only=True) as reader:  # as `check` reads it
        alerts = reader.alerts()
        warnings = reader.warnings
    assert [a.id for a in alerts] == ["a1"] and "1 stored Alert record(s) unreadable" in warnings[0]
