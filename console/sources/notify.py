"""Telling someone off-screen about a new critical alert: a webhook POST and/or a command.

The payload is the alert only (rule, severity, subject, message, times), never
a key or password. A webhook URL often carries a token itself (Slack, Teams),
so errors and logs name only its host.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from console import __version__
from console.limits import NOTIFY_RESPONSE_BYTES
from console.model import Alert
from console.sources.base import SourceError
from console.sources.httpbody import BodyTooLarge, read_capped


def payload(alert: Alert) -> dict[str, Any]:
    return {
        "source": "mailops",
        "rule": alert.rule,
        "severity": alert.severity,
        "subject": alert.subject,
        "message": alert.message,
        "opened_at": alert.opened_at.isoformat(),
        "updated_at": alert.updated_at.isoformat(),
    }


def _host(url: str) -> str:
    return urlsplit(url).hostname or "the webhook"


async def post_webhook(
    url: str,
    body: dict[str, Any],
    *,
    timeout: float = 10.0,
    tries: int = 3,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """POST JSON; retried on timeouts, connection errors, 429 and 5xx; 4xx is final."""
    where = _host(url)
    last = ""
    headers = {"User-Agent": f"mailops/{__version__}"}
    async with httpx.AsyncClient(timeout=timeout, headers=headers) as client:
        for attempt in range(tries):
            if attempt:
                await sleep(2.0 * attempt)
            try:
                code = await _post_status(client, url, body, timeout)
            except (TimeoutError, httpx.TimeoutException):
                last = f"webhook {where} did not answer within {timeout:g}s"
                continue
            except httpx.HTTPError as exc:
                last = f"webhook {where} unreachable ({type(exc).__name__})"
                continue
            if code < 300:
                return
            last = f"webhook {where} answered HTTP {code}"
            if code < 500 and code != 429:
                break
    raise SourceError(f"{last} (after {attempt + 1} tries)")


async def _post_status(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], timeout: float
) -> int:
    """POST under one deadline for the whole exchange; only the status is wanted, so at
    most a small cap of the answer's body is read (an endless body costs nothing)."""
    async with asyncio.timeout(timeout):
        async with client.stream("POST", url, json=body) as resp:
            try:
                await read_capped(resp, NOTIFY_RESPONSE_BYTES)
            except BodyTooLarge:
                pass  # the status is already known; the rest is never read
            return resp.status_code


async def run_command(command: str, body: dict[str, Any], *, timeout: float = 10.0) -> None:
    """Run the command (no shell) with the alert as JSON on stdin; a non-zero exit fails."""
    argv = shlex.split(command)
    if not argv:
        raise SourceError("the alert command is empty")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise SourceError(f"alert command {argv[0]} could not start ({exc.strerror})") from None
    try:
        _, err = await asyncio.wait_for(
            proc.communicate(json.dumps(body).encode()), timeout=timeout
        )
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise SourceError(f"alert command {argv[0]} ran longer than {timeout:g}s") from None
    if proc.returncode:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise SourceError(f"alert command {argv[0]} exited {proc.returncode}: {tail[0][:120]}")
