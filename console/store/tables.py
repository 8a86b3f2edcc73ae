"""The small tables of state.json: snapshots, history, cursors, seed runs, alerts and
the action log (and the DMARC reports, kept by console/dmarcstore.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from console.codec import decode, encode
from console.store.base import StoreBase
from console.store.files import decode_docs

if TYPE_CHECKING:
    from console.model import Alert, AuditEntry, DmarcReport, SeedRun, TlsReport


SEED_RUNS_KEPT = 60

ALERTS_KEPT = 500  # resolved alerts kept as history

AUDIT_KEPT = 5000

#: webhook events that are not about a message (denylist and allowlist changes, types
#: this version does not know), kept as they came
WEBHOOK_OTHER_KEPT = 5000


class Tables(StoreBase):
    """Snapshots, history, cursors and the bounded logs, in state.json."""

    def put_snapshot(self, source: str, value: Any, polled_at: datetime) -> None:
        with self._lock:
            table = self.db.table("snapshots")
            doc = {"source": source, "polled_at": polled_at.isoformat(), "data": encode(value)}
            found = [d.doc_id for d in table.all() if d.get("source") == source]
            if found:
                table.update(doc, doc_ids=found[:1])
            else:
                table.insert(doc)

    def get_snapshot(self, source: str, tp: Any) -> tuple[Any, datetime] | None:
        with self._lock:
            for d in self.db.table("snapshots").all():
                if d.get("source") == source:
                    try:
                        return decode(tp, d["data"]), datetime.fromisoformat(d["polled_at"])
                    except (KeyError, TypeError, ValueError) as exc:
                        self.warnings.append(f"Stored {source} snapshot unreadable ({exc})")
                        return None
        return None

    def add_history(self, series: str, when: datetime, value: float) -> None:
        with self._lock:
            self.db.table("history").insert({"s": series, "t": when.timestamp(), "v": value})

    def history(self, series: str, since: datetime | None = None) -> list[tuple[datetime, float]]:
        with self._lock:
            lo = since.timestamp() if since else float("-inf")
            rows = [
                (d["t"], d["v"])
                for d in self.db.table("history").all()
                if d.get("s") == series and d.get("t", 0) >= lo
            ]
        rows.sort()
        return [(datetime.fromtimestamp(t, UTC), v) for t, v in rows]

    def last_history(self, series: str) -> tuple[datetime, float] | None:
        with self._lock:
            best: tuple[float, float] | None = None
            for d in self.db.table("history").all():
                if d.get("s") == series and (best is None or d.get("t", 0) >= best[0]):
                    best = (d["t"], d["v"])
        return (datetime.fromtimestamp(best[0], UTC), best[1]) if best else None

    def get_cursor(self, name: str) -> int | None:
        with self._lock:
            for d in self.db.table("cursors").all():
                if d.get("name") == name:
                    return int(d["value"])
        return None

    def set_cursor(self, name: str, value: int) -> None:
        with self._lock:
            table = self.db.table("cursors")
            found = [d.doc_id for d in table.all() if d.get("name") == name]
            if found:
                table.update({"value": value}, doc_ids=found[:1])
            else:
                table.insert({"name": name, "value": value})

    def _append_bounded(self, table_name: str, when: datetime, value: Any, keep: int) -> None:
        """Add a timed record and drop the oldest beyond `keep` (seed runs, the audit log)."""
        with self._lock:
            table = self.db.table(table_name)
            table.insert({"t": when.timestamp(), "data": encode(value)})
            docs = sorted(table.all(), key=lambda d: d.get("t", 0))
            if len(docs) > keep:
                table.remove(doc_ids=[d.doc_id for d in docs[: len(docs) - keep]])

    def add_webhook_other(self, when: datetime, events: Iterable[Any]) -> None:
        """Keep webhook events mailops does not store as messages, newest WEBHOOK_OTHER_KEPT."""
        with self._lock:
            table = self.db.table("webhook_other")
            table.insert_multiple({"t": when.timestamp(), "data": e} for e in events)
            docs = sorted(table.all(), key=lambda d: d.get("t", 0))
            if len(docs) > WEBHOOK_OTHER_KEPT:
                drop = docs[: len(docs) - WEBHOOK_OTHER_KEPT]
                table.remove(doc_ids=[d.doc_id for d in drop])

    def webhook_other(self) -> list[dict[str, Any]]:
        with self._lock:
            docs = sorted(self.db.table("webhook_other").all(), key=lambda d: d.get("t", 0))
        return [d["data"] for d in docs if isinstance(d.get("data"), dict)]

    def add_seed_run(self, run: SeedRun, keep: int = SEED_RUNS_KEPT) -> None:
        """Keep the newest `keep` runs; the panel's strip shows the last 14."""
        self._append_bounded("seed_runs", run.run_at, run, keep)

    def seed_runs(self, limit: int = SEED_RUNS_KEPT) -> list[SeedRun]:
        """The newest `limit` runs, oldest first."""
        from console.model import SeedRun

        with self._lock:
            docs = sorted(self.db.table("seed_runs").all(), key=lambda d: d.get("t", 0))
        out: list[SeedRun] = self._decode(SeedRun, docs[-limit:])
        return out

    def add_dmarc_reports(
        self, reports: Iterable[DmarcReport], *, flush: bool = True
    ) -> tuple[list[DmarcReport], int]:
        """Store new reports; (those added, how many were known) — a report is identified by
        (reporter, report id). One write per day touched (`flush`); a batch of files can
        write once at its end with `flush_dmarc`."""
        return self._dmarc.add(reports, flush=flush)

    def flush_dmarc(self) -> None:
        self._dmarc.flush()

    def dmarc_reports(self, since: datetime | None = None) -> list[DmarcReport]:
        """The stored reports ending at or after `since`; only their days are read."""
        return self._dmarc.reports(since)

    def prune_dmarc(self, retention_days: int) -> int:
        return self._dmarc.prune(self.clock() - timedelta(days=retention_days))

    def add_tls_reports(self, reports: Iterable[TlsReport]) -> tuple[list[TlsReport], int]:
        """Store new SMTP TLS reports, identified by (reporter, report id) as DMARC's are."""
        return self._tlsrpt.add(reports, flush=True)

    def tls_reports(self, since: datetime | None = None) -> list[TlsReport]:
        """The stored TLS reports ending at or after `since`."""
        return self._tlsrpt.reports(since)

    def prune_tls_reports(self, retention_days: int) -> int:
        return self._tlsrpt.prune(self.clock() - timedelta(days=retention_days))

    def alerts(self) -> list[Alert]:
        """Every stored alert, open and resolved, oldest opened first."""
        from console.model import Alert

        with self._lock:
            docs = list(self.db.table("alerts").all())
        out: list[Alert] = self._decode(Alert, docs)
        return sorted(out, key=lambda a: a.opened_at)

    def _decode(self, tp: Any, docs: Iterable[dict[str, Any]]) -> list[Any]:
        """Stored records of one type; what cannot be read is said once, not at every read
        (the console reads its alerts at every evaluation)."""
        problems: list[str] = []
        out = decode_docs(tp, docs, problems)
        self.warnings.extend(p for p in problems if p not in self.warnings)
        return out

    def put_alerts(self, alerts: Iterable[Alert], keep_resolved: int = ALERTS_KEPT) -> None:
        """Replace the alert set: all open ones and the newest resolved ones."""
        items = list(alerts)
        done = sorted(
            (a for a in items if a.resolved_at is not None),
            key=lambda a: a.resolved_at or a.opened_at,
        )[-keep_resolved:]
        kept = [a for a in items if a.resolved_at is None] + done
        with self._lock:
            table = self.db.table("alerts")
            table.truncate()
            table.insert_multiple({"id": a.id, "data": encode(a)} for a in kept)

    def add_audit(self, entry: AuditEntry, keep: int = AUDIT_KEPT) -> None:
        self._append_bounded("audit", entry.at, entry, keep)

    def audit(self) -> list[AuditEntry]:
        """The audit log, oldest first."""
        from console.model import AuditEntry

        with self._lock:
            docs = sorted(self.db.table("audit").all(), key=lambda d: d.get("t", 0))
        out: list[AuditEntry] = self._decode(AuditEntry, docs)
        return out
