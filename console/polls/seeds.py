"""Seed tests: real messages sent to the seed mailboxes and looked for over IMAP. They
send mail, so only their schedule or a confirmed `s` starts one, never `r`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.model import SeedProgress, SeedRun
from console.seeding import run_seed_test
from console.sources.base import SourceError
from console.updates import PollResult, Update

if TYPE_CHECKING:
    from console.jobs import Pipeline


async def poll_seeds(p: Pipeline) -> PollResult:
    """One seed test; its progress is published while it waits for the messages."""
    if not p.seeds:
        raise SourceError("No seed mailboxes configured ([[seeds]] in the config)")
    if p.seed_running and not p.seed_reserved:
        raise SourceError("A seed test is already running")
    p.seed_running, p.seed_reserved = True, False
    status = p.statuses["seeds"]

    def progress(found: int, total: int, waited: float) -> None:
        p.seed_progress = SeedProgress(found, total, waited)
        p.publish(Update("seeds", status, PollResult(seed_progress=p.seed_progress)))

    try:
        progress(0, len(p.seeds), 0.0)
        run = await run_seed_test(
            p.client, p.seeds, p.config.seed_test, clock=p.clock, progress=progress
        )
    finally:
        p.seed_running, p.seed_progress = False, None

    def save() -> tuple[SeedRun, ...]:
        p.store.add_seed_run(run)
        p.store.commit()
        return p.seed_view()

    return PollResult(seed_runs=await p.db(save))
