"""Every list of sources comes from console/registry.py: a source added in one place only
fails here, and so does a new hand-kept list of source names anywhere in the code."""

from __future__ import annotations

import ast
import inspect
from dataclasses import fields
from pathlib import Path
from typing import get_args

import pytest

from console import registry
from console.actions import KINDS
from console.config import PollConfig, load_config
from console.polls import FAMILIES, POLLS
from console.registry import SOURCES, ActionKind, Panel, SourceName

ROOT = Path(__file__).resolve().parents[2]
NAMES = {s.name for s in SOURCES}
#: [mandrill.poll] keys that are not a source's interval
POLL_SETTINGS = {"jitter", "backoff_cap", "deadline"}


def test_the_source_names_type_is_the_registry() -> None:
    assert set(get_args(SourceName)) == NAMES
    assert len(NAMES) == len(SOURCES), "a source is declared twice"


def test_every_interval_source_has_a_poll_config_field_and_no_field_is_orphaned() -> None:
    declared = {f.name for f in fields(PollConfig)} - POLL_SETTINGS
    assert declared == set(registry.interval_sources())


def test_every_source_has_its_poll_function_and_no_poll_function_is_unregistered() -> None:
    assert set(POLLS) == NAMES
    for family, module in FAMILIES.items():
        found = {
            name.removeprefix("poll_")
            for name, fn in inspect.getmembers(module, inspect.iscoroutinefunction)
            if name.startswith("poll_") and fn.__module__ == module.__name__
        }
        assert found == {s.name for s in SOURCES if s.family == family}, family


def test_actions_and_panels_are_derived_and_complete() -> None:
    assert set(KINDS) == set(get_args(ActionKind))
    assert all(KINDS[k] in NAMES for k in KINDS)
    panels = registry.panel_sources()
    assert set(panels) == set(get_args(Panel))
    assert all(panels[p] for p in panels), "a panel that no source feeds is never stale"


@pytest.mark.parametrize("name", registry.interval_sources())
def test_each_interval_below_its_minimum_is_refused_with_file_line_and_key(
    tmp_path: Path, name: str
) -> None:
    low = registry.spec(name).minimum
    assert low is not None
    path = tmp_path / "c.toml"
    path.write_text(f"[mandrill]\ntimeout = 5\n\n[mandrill.poll]\n{name} = 0\n")
    with pytest.raises(Exception, match=rf"c.toml:5: mandrill.poll.{name} must be at least"):
        load_config(str(path))
    path.write_text(f"[mandrill.poll]\n{name} = {low:g}\n")
    assert getattr(load_config(str(path)).mandrill.poll, name) == low


def _string_collections(path: Path) -> list[tuple[int, list[str]]]:
    """Every tuple, list or set literal (and dict's keys) of two or more strings."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        items: list[ast.expr | None] = []
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = list(node.elts)
        elif isinstance(node, ast.Dict):
            items = list(node.keys)
        else:
            continue
        strings = [i.value for i in items if isinstance(i, ast.Constant)]
        if (
            len(items) >= 2
            and len(strings) == len(items)
            and all(isinstance(s, str) for s in strings)
        ):
            out.append((node.lineno, [str(s) for s in strings]))
    return out


def test_no_hand_kept_list_of_source_names_outside_the_registry() -> None:
    """A literal that holds only source names, two or more, is a list that will drift."""
    skip = {ROOT / "console" / "registry.py"}
    files = [p for d in ("console", "widgets") for p in (ROOT / d).rglob("*.py") if p not in skip]
    found = [
        f"{p.relative_to(ROOT)}:{line} {names}"
        for p in files
        for line, names in _string_collections(p)
        if set(names) <= NAMES
    ]
    assert found == []


def test_the_scanner_sees_a_hand_kept_list(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text(
        'CHECK = ("account", "ips")\nOK = ("account", "spf")\nD = {"dns": 1, "ips": 2}\n'
    )
    hits = [names for _, names in _string_collections(bad) if set(names) <= NAMES]
    assert hits == [["account", "ips"], ["dns", "ips"]]


def test_the_test_config_quiets_every_interval_source() -> None:
    from tests.ui.conftest import quiet_config

    cfg = quiet_config("http://127.0.0.1:9", "/nonexistent")
    assert all(getattr(cfg.mandrill.poll, n) >= 600 for n in registry.interval_sources())
