"""One seed test: send a marked message to every seed mailbox, then watch where each lands.

Sits beside jobs.py: it drives two sources (Mandrill's messages/send and IMAP)
and the pure Authentication-Results reading, and hands back model objects.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from console.analysis.authresults import trusted, verdicts
from console.analysis.received import sending_ip as sending_hop
from console.config import Config, SeedTestConfig, resolve_seed_password
from console.model import Placement, SeedResult, SeedRun
from console.sources.base import SourceError
from console.sources.imap import SEED_HEADER, Found, SeedMailbox
from console.sources.mandrill import MandrillClient
from console.timeutil import Clock, system_clock

Progress = Callable[[int, int, float], None]  # found, total, seconds waited
MAX_MAILBOX_FAILURES = 3  # searches in a row that fail before a seed counts as an error


class Mailbox(Protocol):
    """Where one seed's messages arrive: IMAP for real seeds, memory in the demo."""

    @property
    def provider(self) -> str: ...

    async def find(self, token: str) -> Found | None: ...


@dataclass(frozen=True)
class Seed:
    name: str
    address: str
    box: Mailbox


def seeds_from_config(config: Config) -> list[Seed]:
    """IMAP seed mailboxes from [[seeds]]; a missing password is a ConfigError naming where."""
    after = config.seed_test.after_found
    return [
        Seed(
            s.name,
            s.address,
            SeedMailbox(
                s.name,
                s.provider,
                s.imap_host,
                s.imap_port,
                s.username,
                resolve_seed_password(s),
                s.imap_security,
                s.folders,
                s.ca_file,
                after_found=after,
            ),
        )
        for s in config.seeds
    ]


def seed_message(cfg: SeedTestConfig, address: str, token: str) -> dict[str, Any]:
    """The test message: the token in a header (searched for) and in the body (for people)."""
    message: dict[str, Any] = {
        "from_email": cfg.from_email,
        "to": [{"email": address, "type": "to"}],
        "headers": {SEED_HEADER: token},
        "tags": ["mailops-seed"],
        "track_opens": False,
        "track_clicks": False,
    }
    if not cfg.template:
        message["subject"] = cfg.subject
        message["text"] = f"{cfg.text}\n\nmailops seed token: {token}\n"
    if cfg.subaccount:
        message["subaccount"] = cfg.subaccount
    return message


async def run_seed_test(
    client: MandrillClient,
    seeds: Sequence[Seed],
    cfg: SeedTestConfig,
    *,
    clock: Clock = system_clock,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    progress: Progress | None = None,
) -> SeedRun:
    """Send to every seed, then search the mailboxes until all are found or time is up.

    A seed that cannot be sent to or searched gets its own error; the run goes on for
    the rest, so one broken mailbox never hides the others' placement.
    """
    run_at = clock()
    run_id = f"{run_at:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    results: dict[str, SeedResult] = {}
    for seed in seeds:
        token = f"mailops-{run_id}-{seed.name}"
        base = SeedResult(seed.name, seed.box.provider, seed.address, token, "missing", run_at)
        try:
            answers = await client.send(
                seed_message(cfg, seed.address, token), template=cfg.template
            )
        except SourceError as exc:
            results[seed.name] = replace(base, placement="error", error=exc.title)
            continue
        answer = answers[0] if answers else None
        if answer is None or answer.status in ("rejected", "invalid"):
            why = answer.reject_reason or answer.status if answer else "no answer for the recipient"
            results[seed.name] = replace(
                base,
                placement="rejected",
                error=f"Mandrill: {why}",
                message_id=answer.message_id if answer else "",
                mandrill_status=answer.status if answer else "",
            )
            continue
        results[seed.name] = replace(
            base, message_id=answer.message_id, mandrill_status=answer.status
        )

    boxes = {seed.name: seed.box for seed in seeds}
    failures: dict[str, int] = {}
    deadline = cfg.wait_minutes * 60
    while True:
        waited = (clock() - run_at).total_seconds()
        pending = [n for n, r in results.items() if r.placement == "missing"]
        for name in pending:
            try:
                found = await boxes[name].find(results[name].token)
            except SourceError as exc:
                failures[name] = failures.get(name, 0) + 1
                # a mailbox that keeps failing is reported, not waited on until the deadline
                placement: Placement = (
                    "error" if failures[name] >= MAX_MAILBOX_FAILURES else "missing"
                )
                results[name] = replace(results[name], error=exc.title, placement=placement)
                continue
            failures[name] = 0
            if found is not None:
                results[name] = await _placed(client, results[name], found, clock())
        done = sum(1 for r in results.values() if r.placement != "missing")
        if progress is not None:
            progress(done, len(results), waited)
        if done == len(results) or waited >= deadline:
            break
        await sleep(min(cfg.poll_seconds, max(0.0, deadline - waited)) or 0.1)
    final = tuple(
        replace(r, placement="error") if r.placement == "missing" and r.error else r
        for r in results.values()
    )
    return SeedRun(run_id, run_at, final, clock())


async def _placed(
    client: MandrillClient, result: SeedResult, found: Found, now: datetime
) -> SeedResult:
    source_ip = ""
    if result.message_id:
        try:
            info = await client.message_info(result.message_id)
            source_ip = info.source_ip if info else ""
        except SourceError:
            source_ip = ""  # not yet indexed by Mandrill; the Received header still tells
    ar = trusted(found.headers.get("authentication-results", ()))
    return replace(
        result,
        placement=found.placement,
        folder=found.folder,
        delay_s=(now - result.run_at).total_seconds(),
        auth=verdicts(ar),
        source_ip=source_ip,
        received_ip=sending_hop(found.headers.get("received", ()), source_ip),
        error=found.note,
    )
