"""The `mailops` command, also run as `python -m console`."""

from console.startup import hold_collector

hold_collector()  # before the imports below: see console.startup

from console.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
