"""One seed test: send a marked message to every seed mailbox, then watch where each lands.

Sits beside jobs.py: it drives two sources (Mandrill's messages/send and IMAP)
and the pure Authentication-Results reading, and hands back model objects.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime

from console.analysis.authresults import trusted, verdicts
from console.config import SeedTestConfig
from console.model import SeedResult
from console.sources.base import SourceError
from console.sources.imap import SEED_HEADER, Found, SeedMailbox, find_token
from console.sources.mandrill import MandrillClient
from console.timeutil import Clock, system_clock

_RECEIVED_IP = re.compile(r"\[(\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F:]+)\]")

Progress = Callable[[int, int, float], None]  # found, total, seconds waited


def received_ip(headers: dict[str, tuple[str, ...]]) -> str:
    """The connecting IP in the receiver's topmost Received header."""
    for value in headers.get("received", ()):
        m = _RECEIVED_IP.search(value)
        if m:
            return m.group(1)
    return ""


async def run_seed_test(
    client: MandrillClient,
    seeds: Sequence[tuple[str, str, SeedMailbox]],  # (seed name, address, its mailbox)
    cfg: SeedTestConfig,
    *,
    clock: Clock = system_clock,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    progress: Progress | None = None,
) -> list[SeedResult]:
    run_at = clock()
    run_id = f"{run_at:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    results: dict[str, SeedResult] = {}
    for name, address, box in seeds:
        token = f"mailops-{run_id}-{name}"
        base = SeedResult(name, box.provider, address, token, "missing", run_at)
        message = {
            "from_email": cfg.from_email,
            "subject": cfg.subject,
            "text": f"{cfg.text}\n\nmailops seed token: {token}\n",
            "to": [{"email": address, "type": "to"}],
            "headers": {SEED_HEADER: token},
            "tags": ["mailops-seed"],
            "track_opens": False,
            "track_clicks": False,
        }
        if cfg.subaccount:
            message["subaccount"] = cfg.subaccount
        try:
            answers = await client.send(message)
        except SourceError as exc:
            results[name] = replace(base, placement="error", error=exc.title)
            continue
        answer = answers[0] if answers else None
        if answer is None or answer.status in ("rejected", "invalid"):
            why = answer.reject_reason or answer.status if answer else "no answer for the recipient"
            results[name] = replace(
                base,
                placement="rejected",
                error=f"Mandrill: {why}",
                message_id=answer.message_id if answer else "",
            )
            continue
        results[name] = replace(base, message_id=answer.message_id)

    boxes = {name: box for name, _, box in seeds}
    deadline = cfg.wait_minutes * 60
    while True:
        waited = (clock() - run_at).total_seconds()
        pending = [n for n, r in results.items() if r.placement == "missing"]
        for name in pending:
            try:
                found = await find_token(boxes[name], results[name].token)
            except SourceError as exc:
                results[name] = replace(results[name], error=exc.title)
                continue
            if found is not None:
                results[name] = await _placed(client, results[name], found, clock())
        done = sum(1 for r in results.values() if r.placement != "missing")
        if progress is not None:
            progress(done, len(results), waited)
        if done == len(results) or waited >= deadline:
            break
        await sleep(min(cfg.poll_seconds, max(0.0, deadline - waited)) or 0.1)
    return [
        replace(r, placement="error") if r.placement == "missing" and r.error else r
        for r in results.values()
    ]


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
        received_ip=received_ip(found.headers),
        error="",
    )
