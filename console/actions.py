"""Actions that change the Mandrill account, each confirmed first and written to the audit log.

Sits beside jobs.py: it calls the Mandrill source, records what happened in the
store, and re-polls the data set the action changed so the panels show it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from console.jobs import Pipeline
from console.model import AuditEntry, Reject
from console.registry import ActionKind, action_sources
from console.sources.base import SourceError
from console.sources.control import ControlClient
from console.textsafe import visible
from console.updates import Update

log = logging.getLogger(__name__)

#: kind → the data set it changes, polled again to show the change at once (declared
#: with each source in the registry)
KINDS = action_sources()


def reject_entry_text(entry: Reject | None) -> str:
    """'Listed: hard-bounce since 2026-11-28 10:00 UTC, expires 2026-12-05 10:00 UTC. '"""
    if entry is None:
        return ""

    def when(at: datetime | None) -> str:
        return f"{at:%Y-%m-%d %H:%M} UTC" if at else "unknown"

    expiry = f"expires {when(entry.expires_at)}" if entry.expires_at else "no expiry"
    detail = f" ({visible(entry.detail)})" if entry.detail else ""
    return f"Listed: {visible(entry.reason)}{detail} since {when(entry.created_at)}, {expiry}.\n\n"


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    target: str  # an email address, an IP or a subaccount id
    subaccount: str | None = None  # whose denylist, for reject.delete

    def describe(self, entry: Reject | None = None) -> tuple[str, str]:
        """(question, consequence): what the confirmation says before anything happens;
        for a removal from the denylist, the entry as Mandrill lists it."""
        t = self.target
        if self.kind == "reject.delete":
            whose = f" (customer {self.subaccount})" if self.subaccount else ""
            return (
                f"Remove {t} from the reject list{whose}?",
                reject_entry_text(entry) + "Mandrill will send to this address again. "
                "Mandrill counts every removal "
                "against the account's reputation (manually added entries excepted), and if "
                "the address still bounces it is listed again and costs reputation twice. "
                "Remove it only when the recipient has confirmed the address works.",
            )
        if self.kind == "ip.start_warmup":
            return (
                f"Start warm-up of {t}?",
                "Mandrill will move traffic onto this IP gradually over about 30 days; the rest "
                "goes over the shared pool meanwhile. Starting again restarts the schedule.",
            )
        if self.kind == "ip.cancel_warmup":
            return (
                f"Cancel warm-up of {t}?",
                "Mandrill stops ramping and sends all of the pool's mail over this IP at once. "
                "A cold IP carrying full volume is likely to be throttled or spam-foldered.",
            )
        if self.kind == "subaccount.pause":
            return (
                f"Pause customer {t}?",
                "Mandrill queues this customer's mail instead of sending it, for at most 3 "
                "days; after that queued mail is lost. Their application keeps getting "
                "'queued' answers, so tell them.",
            )
        if self.kind == "subaccount.resume":
            return (
                f"Resume customer {t}?",
                "Mandrill starts sending this customer's queued and new mail again.",
            )
        raise ValueError(f"unknown action {self.kind!r}")


class Actions:
    """Performs confirmed actions; in read-only mode refuses them (and logs the refusal).

    With `remote` (a console attached to `mailops serve`), the service performs them and
    keeps the log: this console writes nothing."""

    def __init__(
        self, pipeline: Pipeline, *, read_only: bool = False, remote: ControlClient | None = None
    ) -> None:
        self.pipeline = pipeline
        self.read_only = read_only
        self.remote = remote

    async def perform(self, action: Action, user: str = "") -> tuple[AuditEntry, Update | None]:
        """Carry out one action; never raises for a Mandrill failure, which is its result.
        `user`: who asked, when the service does it for an attached console."""
        if action.kind not in KINDS:
            raise ValueError(f"unknown action {action.kind!r}")
        p = self.pipeline
        if self.read_only:
            entry = AuditEntry(
                p.wall(), action.kind, action.target, False, "refused: mailops is read-only"
            )
            if self.remote is None:
                await p.db(self._record, entry)
            return entry, None
        if self.remote is not None:
            request = {"op": "action", "kind": action.kind, "target": action.target,
                       "subaccount": action.subaccount}  # fmt: skip
            return await self._ask(request, action.kind, action.target), None
        client = p.client
        try:
            if action.kind == "reject.delete":
                deleted = await client.reject_delete(action.target, action.subaccount)
                result = "deleted" if deleted else "Mandrill did not delete it"
                ok = deleted
            elif action.kind in ("ip.start_warmup", "ip.cancel_warmup"):
                ip = await client.ip_warmup(action.target, start=action.kind == "ip.start_warmup")
                w = ip.warmup
                result = (
                    f"warming up until {w.end_at:%Y-%m-%d}"
                    if w.warming_up and w.end_at
                    else "not warming up"
                )
                ok = w.warming_up == (action.kind == "ip.start_warmup")
            else:
                sub = await client.subaccount_pause(
                    action.target, pause=action.kind == "subaccount.pause"
                )
                result = f"status {sub.status}"
                ok = sub.status == ("paused" if action.kind == "subaccount.pause" else "active")
        except SourceError as exc:
            ok, result = False, exc.title
        entry = AuditEntry(p.wall(), action.kind, action.target, ok, result, user)
        await p.db(self._record, entry)
        by = f" (asked by {user})" if user else ""
        log.info("action %s %s%s: %s", action.kind, action.target, by, result)
        update = await p.run(KINDS[action.kind])  # show the change at once
        return entry, update

    async def note(
        self, kind: str, target: str, ok: bool, result: str, user: str = ""
    ) -> AuditEntry:
        """Log something done from the console that is not a Mandrill change (an export, an
        acknowledgement, a seed test sent), so the action log holds everything done here."""
        if self.remote is not None:
            request = {"op": "note", "kind": kind, "target": target, "ok": ok, "result": result}
            return await self._ask(request, kind, target)
        entry = AuditEntry(self.pipeline.wall(), kind, target, ok, result, user)
        await self.pipeline.db(self._record, entry)
        return entry

    async def _ask(self, request: dict[str, Any], kind: str, target: str) -> AuditEntry:
        """Have the service do it; its answer is the log entry (a failure to reach it, one
        this console shows but cannot keep)."""
        assert self.remote is not None
        try:
            answer = await self.remote.call(request)
        except SourceError as exc:
            return AuditEntry(self.pipeline.wall(), kind, target, False, exc.title)
        if not answer.get("ok"):
            why = str(answer.get("error") or "refused by the service")
            return AuditEntry(self.pipeline.wall(), kind, target, False, why)
        return AuditEntry(
            self.pipeline.wall(),
            kind,
            target,
            bool(answer.get("done", True)),
            str(answer.get("result", "")),
            str(answer.get("user", "")),
        )

    def _record(self, entry: AuditEntry) -> None:
        self.pipeline.store.add_audit(entry)
        self.pipeline.store.commit()
