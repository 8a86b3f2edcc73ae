"""Mandrill's webhook batches: the signature that proves one came from Mandrill, and its
events read into the same `MessageEvent`s a messages/search poll brings.

Mandrill POSTs a form with one field, `mandrill_events`, a JSON array of up to 1,000
events. `X-Mandrill-Signature` is the base64 of the HMAC-SHA1, keyed with the webhook's
key, of the webhook URL exactly as configured in Mandrill followed by every POST field's
name and value, sorted by name, with nothing between them.

A message event's `msg` is the same object messages/info returns, so the poll's reader
reads it; the event names the state it reports (a `hard_bounce` is `bounced` whatever
`msg.state` still says), so the event and a later poll of the same message agree on
its key (message id | state) and it is stored and counted once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from console.model import MessageEvent
from console.wire import parse_message

#: The key Mandrill signs its empty test batch with when a new URL fails the HEAD check.
TEST_KEY = "test-webhook"
#: Mandrill documents up to 1,000 events a batch; a longer one is refused, not truncated.
MAX_EVENTS = 1000
SIGNATURE_HEADERS = ("X-Mandrill-Signature", "X-Mailchimp-Signature")

#: The state a message event reports (events not here leave `msg.state` as it is).
STATE_OF_EVENT = {
    "send": "sent",
    "deferral": "deferred",
    "hard_bounce": "bounced",
    "soft_bounce": "soft-bounced",
    "spam": "spam",
    "unsub": "unsub",
    "reject": "rejected",
}
#: Engagement events: no news about where the message stands, so not stored as one (an
#: open after a complaint must not move the message back to "sent"); counted only.
ENGAGEMENT = ("open", "click")


class WebhookRejected(ValueError):
    """A batch refused as a whole; `reason` is the metrics label, the message the log's."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def signature(url: str, form: Iterable[tuple[str, str]], key: str) -> str:
    """The signature Mandrill sends for this form posted to this URL with this key."""
    signed = url + "".join(k + v for k, v in sorted(form))
    digest = hmac.new(key.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_by(url: str, form: Iterable[tuple[str, str]], header: str, key: str) -> bool:
    """Whether `header` is the signature of the form under `key` (compared in constant time)."""
    if not header or not key:
        return False
    return hmac.compare_digest(signature(url, form, key).encode(), header.strip().encode())


@dataclass(frozen=True)
class WebhookBatch:
    """One batch, read: the messages to store, the other events kept as they came, and how
    many events of each type it held (for the metrics)."""

    messages: tuple[MessageEvent, ...] = ()
    other: tuple[Mapping[str, Any], ...] = ()
    by_type: Mapping[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(self.by_type.values())


def parse_batch(text: str) -> WebhookBatch:
    """The `mandrill_events` field → a batch; refuses what is not a JSON array of events."""
    try:
        events = json.loads(text)
    except (ValueError, RecursionError):
        raise WebhookRejected("bad_json", "mandrill_events is not JSON") from None
    if not isinstance(events, list):
        raise WebhookRejected("bad_json", "mandrill_events is not a JSON array")
    if len(events) > MAX_EVENTS:
        raise WebhookRejected(
            "too_many", f"{len(events)} events in one batch; Mandrill sends at most {MAX_EVENTS}"
        )
    messages: list[MessageEvent] = []
    other: list[Mapping[str, Any]] = []
    types: Counter[str] = Counter()
    for event in events:
        kind = event_type(event)
        types[kind] += 1
        message = _message(event) if kind not in ENGAGEMENT else None
        if message is not None:
            messages.append(message)
        elif kind not in ENGAGEMENT and isinstance(event, dict):
            other.append(event)  # sync events and what this version does not know: kept
    return WebhookBatch(tuple(messages), tuple(other), dict(types))


def event_type(event: object) -> str:
    """A message event's `event`, a sync event's `type` ("blacklist"…), else "unknown"."""
    if isinstance(event, dict):
        for key in ("event", "type"):
            value = event.get(key)
            if isinstance(value, str) and value:
                return value[:40]
    return "unknown"


def _message(event: object) -> MessageEvent | None:
    """A message event's `msg` as a MessageEvent in the state the event reports; None for
    events without a readable message (sync events, SMS, no id or time)."""
    if not isinstance(event, dict) or not isinstance(event.get("msg"), dict):
        return None
    msg: dict[str, Any] = event["msg"]
    kind = event.get("event")
    if "_id" not in msg and isinstance(event.get("_id"), str):
        msg = {**msg, "_id": event["_id"]}
    message = parse_message(msg)
    if message is None:
        return None
    envelope = {k: v for k, v in event.items() if k != "msg"}
    raw = {**msg, "webhook": envelope}  # the event's own fields kept beside the message's
    state = STATE_OF_EVENT.get(kind, message.state) if isinstance(kind, str) else message.state
    return replace(message, state=state, raw=raw)
