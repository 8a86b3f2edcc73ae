"""SpamAssassin's spamd over its SPAMC/1.5 protocol: a message in, score and rule hits out.

A small client of our own (asyncio streams) rather than aiospamc, which pulls
in a CLI stack (typer, click, loguru) for what is one request and one reply.
REPORT is used: its reply carries the `Spam: True ; 7.8 / 5.0` header and the
table of rules hit, with points and descriptions.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Protocol

from console.model import RuleHit, SpamReport
from console.sources.base import SourceError

#: sysexits codes spamd answers with, as words.
EX_CODES = {
    64: "EX_USAGE",
    65: "EX_DATAERR",
    66: "EX_NOINPUT",
    68: "EX_NOHOST",
    69: "EX_UNAVAILABLE",
    70: "EX_SOFTWARE",
    71: "EX_OSERR",
    74: "EX_IOERR",
    75: "EX_TEMPFAIL",
    76: "EX_PROTOCOL",
    77: "EX_NOPERM",
    78: "EX_CONFIG",
    79: "EX_TIMEOUT",
}
_SPAM = re.compile(r"^(True|False|Yes|No)\s*;\s*(-?[\d.]+)\s*/\s*(-?[\d.]+)", re.IGNORECASE)
_RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*)$")


class SpamdError(SourceError):
    pass


class Scorer(Protocol):
    """What scores a message: spamd, or (the demo) a recording of spamd's answers."""

    @property
    def recorded(self) -> bool: ...

    async def report(self, message: bytes) -> SpamReport: ...


@dataclass(frozen=True)
class Spamd:
    host: str = "127.0.0.1"
    port: int = 783
    timeout: float = 15.0
    recorded: bool = False

    @property
    def where(self) -> str:
        return f"spamd at {self.host}:{self.port}"

    async def _request(self, verb: str, message: bytes = b"") -> tuple[str, dict[str, str], bytes]:
        head = f"{verb} SPAMC/1.5\r\n"
        if verb != "PING":
            head += f"Content-length: {len(message)}\r\n"
        head += "\r\n"

        async def exchange() -> bytes:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            try:
                writer.write(head.encode() + message)
                await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
                return await reader.read(-1)
            finally:
                writer.close()

        try:
            raw = await asyncio.wait_for(exchange(), self.timeout)
        except TimeoutError:
            raise SpamdError(f"{self.where} did not answer within {self.timeout:g}s") from None
        except ConnectionRefusedError:
            raise SpamdError(
                f"{self.where} refused the connection (is spamd running? see the README)"
            ) from None
        except OSError as exc:
            raise SpamdError(f"cannot reach {self.where} ({exc.strerror or exc})") from None
        head_part, _, body = raw.partition(b"\r\n\r\n")
        lines = head_part.decode("latin-1").split("\r\n")
        status = lines[0] if lines else ""
        m = re.match(r"^SPAMD/[\d.]+\s+(\d+)\s+(.*)$", status)
        if not m:
            raise SpamdError(f"{self.where} answered something that is not SPAMD ({status[:40]!r})")
        code = int(m.group(1))
        if code != 0:
            raise SpamdError(f"{self.where} answered {EX_CODES.get(code, code)}: {m.group(2)[:80]}")
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        return status, headers, body

    async def ping(self) -> bool:
        status, _, _ = await self._request("PING")
        return "PONG" in status

    async def report(self, message: bytes) -> SpamReport:
        """Score one RFC 5322 message: the score, the threshold and every rule hit."""
        _, headers, body = await self._request("REPORT", message)
        m = _SPAM.match(headers.get("spam", ""))
        if not m:
            raise SpamdError(f"{self.where} answered without a Spam header")
        return SpamReport(
            score=float(m.group(2)),
            threshold=float(m.group(3)),
            is_spam=m.group(1).lower() in ("true", "yes"),
            rules=parse_report(body.decode("utf-8", "replace")),
        )


def parse_report(text: str) -> tuple[RuleHit, ...]:
    """The rule table of a REPORT reply; a description wrapped onto the next line is joined."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith("----")), None)
    if start is None:
        return ()
    hits: list[RuleHit] = []
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        m = _RULE.match(line)
        if m:
            hits.append(RuleHit(m.group(2), float(m.group(1)), m.group(3).strip()))
        elif hits and line.startswith(" "):
            last = hits[-1]
            hits[-1] = RuleHit(last.name, last.points, f"{last.description} {line.strip()}")
    return tuple(hits)
