"""The README's figure table is the one the help screens show, row for row."""

from pathlib import Path

from console.figures import FIGURES, figures_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_table_is_the_figure_list() -> None:
    assert figures_markdown() in README.read_text(encoding="utf-8"), (
        "README.md's 'What each figure counts' table differs from console/figures.py: "
        "paste figures_markdown() in its place"
    )


def test_every_figure_says_source_window_and_base() -> None:
    for f in FIGURES:
        assert f.figure and f.where and f.source and f.window and f.base, f
