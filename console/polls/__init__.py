"""Each family of sources polls in its own module; `POLLS` finds every source's poll
function from the registry (console/registry.py), so a source declared there without a
`poll_<name>` in its family's module fails at import, not at its first poll."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import TYPE_CHECKING

from console.polls import content, dns, mandrill, postmaster, reports, seeds
from console.registry import SOURCES, Family
from console.updates import PollResult

if TYPE_CHECKING:
    from console.jobs import Pipeline

PollFn = Callable[["Pipeline"], Awaitable[PollResult]]

FAMILIES: dict[Family, ModuleType] = {
    "mandrill": mandrill,
    "dns": dns,
    "reports": reports,
    "content": content,
    "postmaster": postmaster,
    "seeds": seeds,
}

POLLS: dict[str, PollFn] = {s.name: getattr(FAMILIES[s.family], f"poll_{s.name}") for s in SOURCES}
