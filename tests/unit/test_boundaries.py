"""The layering rules of ARCHITECTURE.md, checked on every module's imports."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

WIDGET_FORBIDDEN = (
    "console.sources",
    "console.store",
    "console.jobs",
    "console.polls",
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
    [p for p in CONSOLE_FILES if "analysis" in p.parts or p.name == "views.py"],
    ids=lambda p: p.name,
)
def test_analysis_is_pure(path: Path) -> None:
    bad = _hits(
        imports_of(path),
        (
            "console.sources",
            "console.store",
            "console.jobs",
            "console.polls",
            "httpx",
            "tinydb",
            "os",
            "socket",
        ),
    )
    assert bad == []


@pytest.mark.parametrize(
    "path", list((ROOT / "console" / "sources").glob("*.py")), ids=lambda p: p.name
)
def test_sources_never_touch_the_store_or_screen(path: Path) -> None:
    bad = ("console.store", "console.jobs", "console.polls", "console.app", "rich")
    assert _hits(imports_of(path), bad) == []


def test_checker_sees_violations(tmp_path: Path) -> None:
    bad = tmp_path / "w.py"
    bad.write_text("from console.store import Store\nimport httpx\n")
    assert _hits(imports_of(bad), WIDGET_FORBIDDEN) == ["console.store", "httpx"]


def test_the_app_reads_the_state_through_the_pipeline_never_the_store() -> None:
    """`pipeline.store` from the app was how the screen came to depend on the files."""
    tree = ast.parse((ROOT / "console" / "app.py").read_text(encoding="utf-8"))
    reached = [
        n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "store"
    ]
    assert reached == [], f"console/app.py reaches the store at lines {reached}"
