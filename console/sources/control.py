"""A console's line to the `mailops serve` that owns its state dir: one JSON request and
one JSON answer a connection, over the Unix socket the service keeps in the state dir.

The socket is mode 0600 and the service reads the caller's Unix user from the kernel
(SO_PEERCRED), so what a console asks is done, and logged, as that user's.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

from console.sources.base import SourceError

#: the socket's name in the state dir
CONTROL_SOCKET = "control.sock"
#: the longest line either side sends: requests and answers are small
LINE_LIMIT = 256 * 1024
#: an action waits for Mandrill and for the re-poll that shows it
ANSWER_TIMEOUT = 120.0


def socket_path(state_dir: Path) -> Path:
    return state_dir / CONTROL_SOCKET


class ControlClient:
    """Asks the service; every failure is a SourceError saying what to do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def hello(self, timeout: float = 2.0) -> dict[str, Any] | None:
        """The service's greeting (its pid), or None when no service answers here (no
        socket, a stale one, or another program): blocking, for the console's start."""
        if not self.path.is_socket():
            return None
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(str(self.path))
                s.sendall(b'{"op": "hello"}\n')
                data = b""
                while not data.endswith(b"\n") and len(data) < LINE_LIMIT:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            return None
        try:
            answer = json.loads(data)
        except ValueError:
            return None
        return answer if isinstance(answer, dict) and answer.get("ok") else None

    async def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request, return the service's answer (`ok` false carries `error`)."""
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT):
                reader, writer = await asyncio.open_unix_connection(
                    str(self.path), limit=LINE_LIMIT
                )
                try:
                    writer.write(json.dumps(request).encode() + b"\n")
                    await writer.drain()
                    line = await reader.readline()
                finally:
                    writer.close()
        except TimeoutError:
            raise SourceError(
                f"the mailops service did not answer within {ANSWER_TIMEOUT:g} s"
            ) from None
        except OSError as exc:
            raise SourceError(
                f"the mailops service is not reachable ({exc.strerror or exc}); is it running?"
            ) from None
        try:
            answer = json.loads(line)
        except ValueError:
            raise SourceError("the mailops service gave an answer that is not JSON") from None
        if not isinstance(answer, dict):
            raise SourceError("the mailops service gave an answer that is not an object")
        return answer
