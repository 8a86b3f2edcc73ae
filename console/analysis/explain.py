"""Bounce, reject and complaint reasons in plain words, for a customer who is not a mail admin.

Mandrill's `bounce_description`, the enhanced status code (RFC 3463) in the SMTP
diagnostic, and `reject_reason` each map to one sentence. Anything unknown is
returned raw, marked as such, rather than guessed at.
"""

from __future__ import annotations

import re

from console.model import MessageEvent

#: Mandrill's bounce classification.
DESCRIPTIONS = {
    "bad_mailbox": "the address does not exist at the recipient's mail provider",
    "invalid_mailbox": "the address does not exist at the recipient's mail provider",
    "bad_domain": "the recipient's domain does not exist or accepts no mail",
    "invalid_domain": "the recipient's domain does not exist or accepts no mail",
    "no_mx": "the recipient's domain accepts no mail",
    "unroutable": "the recipient's domain accepts no mail",
    "mailbox_full": "the recipient's mailbox is full",
    "spam_related": "the recipient's provider refused the message as spam",
    "policy_related": "the recipient's provider refused the message by its own policy",
    "general": "the recipient's provider refused the message without a specific reason",
}

#: Enhanced status codes, most specific first.
ENHANCED = {
    "5.7.26": "the provider requires SPF/DKIM/DMARC authentication that this message failed",
    "5.7.25": "the sending IP has no valid reverse DNS",
    "5.7.1": "the provider blocked the message by policy (often reputation or a blocklist)",
    "5.7.0": "the provider blocked the message for security or policy reasons",
    "5.2.2": "the recipient's mailbox is full",
    "5.2.1": "the recipient's mailbox is disabled",
    "5.1.10": "the recipient's domain accepts no mail (null MX)",
    "5.1.2": "the recipient's domain does not exist or accepts no mail",
    "5.1.1": "the address does not exist at the recipient's mail provider",
    "5.4.1": "the recipient's provider refused the address (no such user or access denied)",
    "5.4.4": "the recipient's domain could not be found",
    "4.7.0": "the provider is temporarily limiting mail from us (it will be retried)",
    "4.7.1": "the provider is temporarily limiting mail from us (it will be retried)",
    "4.2.2": "the recipient's mailbox is full for now (it will be retried)",
    "4.4.1": "the recipient's server did not answer (it will be retried)",
    "4.3.0": "the recipient's server had a temporary problem (it will be retried)",
}

REJECT_REASONS = {
    "hard-bounce": "not sent: the address bounced before and is on the reject list",
    "soft-bounce": "not sent: the address kept soft-bouncing and is on the reject list for now",
    "spam": "not sent: this recipient marked an earlier message as spam",
    "unsub": "not sent: this recipient unsubscribed",
    "custom": "not sent: the address was put on the reject list by hand",
    "invalid-sender": "not sent: the sender address is not allowed",
    "invalid": "not sent: the recipient address is not valid",
    "test-mode-limit": "not sent: the account is in test mode",
    "unsigned": "not sent: the sending domain is not verified and signed in Mandrill",
    "rule": "not sent: a sending rule blocked it",
}

STATES = {
    "spam": (
        "the recipient pressed 'report spam' — often by accident, the button sits next to "
        "delete; mailbox providers count every one against the sender"
    ),
    "unsub": "the recipient unsubscribed",
    "deferred": "the recipient's provider asked us to try again later",
}

_CODE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def enhanced_code(diag: str) -> str:
    m = _CODE.search(diag)
    return m.group(1) if m else ""


def explain(ev: MessageEvent) -> str:
    """One plain sentence for why this event happened; unknown reasons are shown raw."""
    if ev.state == "rejected":
        reason = ev.reject_reason or ""
        return REJECT_REASONS.get(reason, f"not sent: Mandrill gave the reason {reason!r}")
    if ev.state in ("spam", "unsub"):
        return STATES[ev.state]
    code = enhanced_code(ev.diag)
    if code in ENHANCED:
        return ENHANCED[code]
    if ev.bounce_description in DESCRIPTIONS:
        return DESCRIPTIONS[ev.bounce_description]
    if ev.state == "deferred":
        return STATES["deferred"]
    raw = ev.diag or ev.bounce_description
    return f"unrecognised reason (raw: {raw})" if raw else "no reason given"
