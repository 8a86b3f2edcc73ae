"""The layering rules of ARCHITECTURE.md, checked on every module's imports."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

WIDGET_FORBIDDEN = (
    "console.sources",
    "console.store",
    "console.jobs",
    "console.sim",
    "httpx",
    "dns",
    "tinydb",
    "apscheduler",
)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _hits(names: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes))


CONSOLE_FILES = [p for p in (ROOT / "console").rglob("*.py") if p.name != "app.py"]
WIDGET_FILES = list((ROOT / "widgets").rglob("*.py"))


@pytest.mark.parametrize("path", CONSOLE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_console_modules_other_than_app_never_import_textual_or_widgets(path: Path) -> None:
    names = imports_of(path)
    allowed_cli_lazy = path.name == "cli.py"  # cli imports console.app lazily, to start it
    bad = _hits(names, ("textual", "widgets"))
    if allowed_cli_lazy:
        bad = [b for b in bad if b != "console.app"]
    assert bad == [], f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", WIDGET_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_widgets_do_no_io(path: Path) -> None:
    assert _hits(imports_of(path), WIDGET_FORBIDDEN) == []


@pytest.mark.parametrize(
    "path",
    [p for p in CONSOLE_FILES if "analysis" in p.parts],
    ids=lambda p: p.name,
)
def test_analysis_is_pure(path: Path) -> None:
    bad = _hits(
        imports_of(path),
        ("console.sources", "console.store", "console.jobs", "httpx", "tinydb", "os", "socket"),
    )
    assert bad == []


@pytest.mark.parametrize(
    "path", list((ROOT / "console" / "sources").glob("*.py")), ids=lambda p: p.name
)
def test_sources_never_touch_the_store_or_screen(path: Path) -> None:
    assert _hits(imports_of(path), ("console.store", "console.jobs", "console.app", "rich")) == []


def test_checker_sees_violations(tmp_path: Path) -> None:
    bad = tmp_path / "w.py"
    bad.write_text("from console.store import Store\nimport httpx\n")
    assert _hits(imports_of(bad), WIDGET_FORBIDDEN) == ["console.store", "httpx"]
