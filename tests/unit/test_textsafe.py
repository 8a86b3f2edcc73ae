from pathlib import Path

from console.secret import Secret
from console.textsafe import cell, spreadsheet_safe, visible

HOSTILE = (
    "[bold red]PWNED[/] \x1b[31mred\x1b[0m \x1b]0;title\x07 "
    "\x1b]52;c;ZXZpbA==\x07 \u202eevil \x9b2J"
)


def test_controls_and_bidi_become_visible_escapes() -> None:
    out = visible(HOSTILE)
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out and "\x9b" not in out
    assert "\\x1b[31m" in out and "\\u202e" in out and "\\x9b" in out
    assert "[bold red]PWNED[/]" in out


def test_cells_never_parse_markup() -> None:
    c = cell(HOSTILE, 500)
    assert c.plain.startswith("[bold red]PWNED[/]")
    assert not c.spans


def test_cells_are_clipped_with_an_ellipsis() -> None:
    assert cell("x" * 50, 10).plain == "x" * 9 + "…"


def test_spreadsheet_formula_injection_is_defused() -> None:
    assert spreadsheet_safe('=HYPERLINK("http://evil")').startswith("'=")
    for lead in "+-@":
        assert spreadsheet_safe(lead + "1").startswith("'")
    assert spreadsheet_safe("normal") == "normal"


def test_secret_never_prints() -> None:
    s = Secret("sk-live-123")
    assert "sk-live" not in repr(s) and "sk-live" not in str(s) and "sk-live" not in f"{s}"
    assert s.scrub("key sk-live-123 bad") == "key *** bad"


def test_csv_export_defuses_formulas_and_controls(tmp_path: Path) -> None:
    import csv
    from datetime import UTC, datetime

    from console.export import export_events_csv
    from console.wire import parse_message

    ev = parse_message(
        {
            "_id": "m1",
            "ts": 1793600000,
            "state": "bounced",
            "email": '=HYPERLINK("http://evil","x")@a.com',
            "subaccount": "+cmd",
            "diag": "@SUM(1) \x1b]52;c;ZXZpbA==\x07",
            "subject": "-2+3",
        }
    )
    assert ev is not None
    path = export_events_csv([ev], tmp_path, datetime(2026, 11, 2, tzinfo=UTC))
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with open(path, newline="") as fh:
        header, row = list(csv.reader(fh))
    cells = dict(zip(header, row, strict=True))
    assert cells["recipient"].startswith("'=") and cells["subaccount"] == "'+cmd"
    assert cells["reason"].startswith("'@") and "\x1b" not in cells["reason"]
    assert "\\x1b]52;c;ZXZpbA==\\x07" in cells["reason"] and cells["subject"] == "'-2+3"


def test_lone_surrogates_are_shown_escaped() -> None:
    out = visible("a\ud800b")
    assert out == "a\\ud800b"
    out.encode("utf-8")  # renderable
