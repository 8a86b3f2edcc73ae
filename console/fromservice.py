"""`mailops check` on a state dir a running `mailops serve` keeps fresh: the answer comes
from that state, with the age of the service's polls, instead of a second round of polls
on the same Mandrill key (whose search allowance the service is already spending).

Only when the service has polled every source `check` reports on; a service that has just
started (some source not polled yet) leaves `check` to poll for itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from console.checkreport import check_sources
from console.codec import decode
from console.model import SourceStatus
from console.registry import message_reads
from console.sources.base import SourceError
from console.sources.control import ControlClient, socket_path
from console.updates import PollResult, Update

if TYPE_CHECKING:
    from console.jobs import Pipeline


async def service_updates(
    pipeline: Pipeline,
) -> tuple[dict[str, Update], dict[str, Any]] | None:
    """The service's last poll of each source as `check`'s updates, and where they come
    from ({pid, polled_at, age_s}); None when no service answers or it has not polled
    everything yet."""
    remote = ControlClient(socket_path(pipeline.store.dir))
    if not remote.path.is_socket():
        return None
    try:
        answer = await remote.call({"op": "status"})
    except SourceError:
        return None
    raw = answer.get("statuses") if answer.get("ok") else None
    if not isinstance(raw, dict):
        return None
    statuses = {str(n): decode(SourceStatus, d) for n, d in raw.items()}
    names = check_sources(pipeline)
    if any(n not in statuses or statuses[n].last_attempt_at is None for n in names):
        return None
    pipeline.statuses.update(statuses)  # the metrics and the rules see the service's
    updates: dict[str, Update] = {n: Update(n, statuses[n], _result(pipeline, n)) for n in names}
    oldest = min(statuses[n].last_attempt_at or datetime.now(UTC) for n in names)
    origin = {
        "pid": answer.get("pid"),
        "polled_at": oldest.isoformat(),
        "age_s": round((datetime.now(UTC) - oldest).total_seconds()),
    }
    return updates, origin


def _result(pipeline: Pipeline, name: str) -> PollResult:
    """For a messages read: how far the service's reads got, from the cursors it keeps."""
    if name not in message_reads():
        return PollResult()
    store = pipeline.store
    covered = store.get_cursor(name)
    gap = pipeline.read_gap(name, -1)
    return PollResult(
        covered_until=datetime.fromtimestamp(covered, UTC) if covered else None,
        unread=(
            (datetime.fromtimestamp(gap[0], UTC), datetime.fromtimestamp(gap[1], UTC))
            if gap
            else None
        ),
    )
