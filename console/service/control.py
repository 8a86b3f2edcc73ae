"""The service's control socket: what consoles attached to it ask, done as their user.

A Unix socket in the state dir, mode 0600 (created under umask 0177, so it is never open
to others even for an instant). Each connection carries one JSON request and gets one
JSON answer. The caller's uid comes from the kernel (SO_PEERCRED), not from the request:
only the service's own user and root may ask, and every action and note is written to
the audit log with that user's name.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pwd
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.actions import KINDS, Action, Actions
from console.codec import encode
from console.jobs import Jobs, Pipeline
from console.sources.control import LINE_LIMIT
from console.textsafe import visible

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Peer:
    """Who is on the other end, as the kernel says."""

    pid: int
    uid: int
    user: str


def peer_of(sock: socket.socket) -> Peer:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", creds)
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = f"uid {uid}"
    return Peer(pid, uid, user)


Handler = Callable[[dict[str, Any], Peer], Awaitable[dict[str, Any]]]


class ControlServer:
    """Serves requests on the socket; a bad request is an answer, never a crash."""

    def __init__(self, path: Path, handle: Handler) -> None:
        self.path = path
        self.handle = handle
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.unlink(missing_ok=True)  # a socket left by a killed service (we own the dir)
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._client, path=str(self.path), limit=LINE_LIMIT
            )
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.path.unlink(missing_ok=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            peer = peer_of(writer.get_extra_info("socket"))
            answer = await self._answer(reader, peer)
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass  # the console went away mid-request: nothing to answer
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, peer: Peer) -> dict[str, Any]:
        if peer.uid not in (os.getuid(), 0):
            log.warning("control: refused uid %d (pid %d)", peer.uid, peer.pid)
            return {"ok": False, "error": f"user {peer.user} may not control this service"}
        line = await reader.readline()
        try:
            request = json.loads(line)
        except ValueError:
            return {"ok": False, "error": "the request is not JSON"}
        if not isinstance(request, dict):
            return {"ok": False, "error": "the request is not a JSON object"}
        try:
            return await self.handle(request, peer)
        except Exception:  # a bug answering one console must not end the service
            log.exception("control request %s failed", visible(str(request.get("op"))))
            return {"ok": False, "error": "the service failed to do it; see its log"}


class ServiceControl:
    """What an attached console may ask: poll, act, acknowledge, send a seed test, note."""

    def __init__(self, pipeline: Pipeline, jobs: Jobs) -> None:
        self.pipeline = pipeline
        self.jobs = jobs
        self.actions = Actions(pipeline)

    async def handle(self, request: dict[str, Any], peer: Peer) -> dict[str, Any]:
        op = request.get("op")
        if op == "hello":
            return {"ok": True, "pid": os.getpid(), "sources": list(self.pipeline.sources)}
        ops: dict[str, Callable[[dict[str, Any], Peer], Awaitable[dict[str, Any]]]] = {
            "poll": self._poll,
            "action": self._action,
            "ack": self._ack,
            "seed_test": self._seed_test,
            "note": self._note,
            "status": self._status,
        }
        if not isinstance(op, str) or op not in ops:
            return {"ok": False, "error": f"unknown request {visible(str(op))!r}"}
        return await ops[op](request, peer)

    async def _status(self, request: dict[str, Any], peer: Peer) -> dict[str, Any]:
        """How each source's polling goes, for `check` to answer from the service's state."""
        return {"ok": True, "pid": os.getpid(), "statuses": {
            name: encode(status) for name, status in self.pipeline.statuses.items()
        }}  # fmt: skip

    async def _poll(self, request: dict[str, Any], peer: Peer) -> dict[str, Any]:
        source = request.get("source")
        if source is None:
            self.jobs.run_now()
            log.info("control: %s asked to poll every source", peer.user)
            return {"ok": True, "result": "polling every source"}
        if not isinstance(source, str) or not self.jobs.run_source_now(source):
            return {"ok": False, "error": f"no such source here: {visible(str(source))}"}
        log.info("control: %s asked to poll %s", peer.user, source)
        return {"ok": True, "result": f"polling {source}"}

    async def _action(self, request: dict[str, Any], peer: Peer) -> dict[str, Any]:
        kind, target, sub = request.get("kind"), request.get("target"), request.get("subaccount")
        if kind not in KINDS or not isinstance(target, str) or not target:
            return {"ok": False, "error": f"not an action: {visible(str(kind))}"}
        if sub is not None and not isinstance(sub, str):
            return {"ok": False, "error": "subaccount must be text"}
        entry, _ = await self.actions.perform(Action(kind, target, sub), user=peer.user)
        return {"ok": True, "done": entry.ok, "result": entry.result, "user": peer.user}

    async def _ack(self, request: dict[str, Any], peer: Peer) -> dict[str, Any]:
        alert_id, note = request.get("alert_id"), request.get("note", "")
        if not isinstance(alert_id, str) or not isinstance(note, str):
            return {"ok": False, "error": "ack needs alert_id and note as text"}
        view = await self.pipeline.db(self.pipeline.acknowledge, alert_id, note)
        if view is None:
            return {"ok": True, "done": False, "result": "resolved meanwhile", "user": peer.user}
        acked = next((a for a in view.alerts if a.id == alert_id), None)
        what = acked.subject if acked else alert_id
        await self.actions.note("alert.acknowledge", what, True, note or "(no note)", peer.user)
        return {"ok": True, "done": True, "result": "acknowledged", "user": peer.user}

    async def _seed_test(self, request: dict[str, Any], peer: Peer) -> dict[str, Any]:
        if not self.pipeline.seeds:
            return {"ok": False, "error": "the service has no [[seeds]] configured"}
        if not self.jobs.start_seed_test():
            return {"ok": True, "done": False, "result": "a seed test is already running"}
        names = ", ".join(s.name for s in self.pipeline.seeds)
        sent = f"{len(self.pipeline.seeds)} sent"
        await self.actions.note("seed.test", names, True, sent, peer.user)
        return {"ok": True, "done": True, "result": sent, "user": peer.user}

    async def _note(self, request: dict[str, Any], peer: Peer) -> dict[str, Any]:
        kind, target, result = request.get("kind"), request.get("target"), request.get("result")
        if not all(isinstance(x, str) for x in (kind, target, result)):
            return {"ok": False, "error": "a note needs kind, target and result as text"}
        ok = request.get("ok") is True
        entry = await self.actions.note(str(kind), str(target), ok, str(result), peer.user)
        return {"ok": True, "done": entry.ok, "result": entry.result, "user": peer.user}
