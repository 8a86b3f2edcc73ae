"""Allow `python -m console` as a synonym for the `mailops` command."""

from console.cli import main

raise SystemExit(main())
