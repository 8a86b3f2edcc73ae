"""A webhook batch taken into the state: stored and committed before Mandrill hears 200.

The batch's messages go through the same `Store.ingest` as a messages/search poll, keyed
by message id and state, so the poll that later reads the same messages, or Mandrill
retrying a batch it thinks was lost, changes nothing. Only once the commit returned is
the batch answered, so a crash in between makes Mandrill send it again instead of
losing it. The alert rules then run over the new state, as after a poll.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.model import SourceStatus, WebhookReceipt
from console.updates import PollResult, Update
from console.webhook import WebhookBatch

if TYPE_CHECKING:
    from console.jobs import Pipeline

#: the name the webhook's receipt and status are kept under
WEBHOOKS = "webhooks"


async def receive(p: Pipeline, batch: WebhookBatch) -> Update:
    """Store and commit the batch (in a thread), then judge the alerts; raises on a store
    failure, so the caller answers 500 and Mandrill retries."""
    receipt: WebhookReceipt = await p.db(_store, p, batch)
    status = SourceStatus(WEBHOOKS, ok=True, last_ok_at=receipt.at, last_attempt_at=receipt.at)
    p.statuses[WEBHOOKS] = status
    update = Update(WEBHOOKS, status, PollResult())
    if receipt.new_events or batch.other:
        update = await p.judge(update)
    p.publish(update)
    return update


def _store(p: Pipeline, batch: WebhookBatch) -> WebhookReceipt:
    now = p.wall()
    store = p.store
    ingested = store.ingest(batch.messages)
    if batch.other:
        store.add_webhook_other(now, batch.other)
    receipt = WebhookReceipt(
        at=now,
        events=batch.size,
        new_events=len(ingested.new_events),
        by_type=dict(batch.by_type),
    )
    store.put_snapshot(WEBHOOKS, receipt, now)
    store.commit()  # durable before the answer: a crash now makes Mandrill retry
    return receipt
