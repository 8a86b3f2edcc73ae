"""The demo's stand-in for spamd: recorded answers, so the demo needs no SpamAssassin.

Scores follow what spamd gave for such messages (HTML-only mail, a missing text
part, a bulk newsletter) with a little day-to-day movement; the newsletter's
score creeps up over the scenario, so the trend and its alert show. The screen
says these are recorded, never live.
"""

from __future__ import annotations

import hashlib
from email import message_from_bytes, policy

from console.model import RuleHit, SpamReport
from console.timeutil import Clock

RULES = {
    "HTML_MESSAGE": (0.001, "BODY: HTML included in message"),
    "MIME_HTML_ONLY": (0.1, "BODY: Message only has text/html MIME parts"),
    "HTML_MIME_NO_HTML_TAG": (0.635, "HTML-only message, but there is no HTML tag"),
    "DKIM_ADSP_NXDOMAIN": (0.8, "No valid author signature and domain not in DNS"),
    "BULK_RE_SUSP_NTLD": (1.2, "Bulk message with a suspicious new TLD"),
    "HTML_FONT_LOW_CONTRAST": (0.001, "BODY: HTML font color similar or identical to background"),
    "T_REMOTE_IMAGE": (0.01, "Message contains an external image"),
    "NO_RECEIVED": (-0.001, "Informational: message has no Received headers"),
    "NO_RELAYS": (-0.001, "Informational: message was not relayed via SMTP"),
}


class RecordedSpamd:
    recorded = True

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def report(self, message: bytes) -> SpamReport:
        msg = message_from_bytes(message, policy=policy.default)
        subject = str(msg.get("Subject", ""))
        html_only = not any(p.get_content_type() == "text/plain" for p in msg.walk())
        names = ["NO_RECEIVED", "NO_RELAYS"]
        if html_only:
            names += ["HTML_MESSAGE", "MIME_HTML_ONLY"]
        if str(msg.get("Precedence", "")).lower() == "bulk":
            names += ["HTML_MESSAGE", "T_REMOTE_IMAGE", "BULK_RE_SUSP_NTLD"]
        hours = self.clock().timestamp() / 3600
        wobble = int(hashlib.sha1(f"{subject}:{int(hours)}".encode()).hexdigest()[:4], 16)
        score = sum(RULES[n][0] for n in dict.fromkeys(names)) + (wobble % 40) / 100
        if "new this month" in subject.lower():  # the newsletter drifts up, hour by hour
            score += 2.0 + (hours % 48) / 16
            names.append("DKIM_ADSP_NXDOMAIN")
        rules = tuple(RuleHit(n, RULES[n][0], RULES[n][1]) for n in dict.fromkeys(names))
        return SpamReport(round(score, 1), 5.0, score >= 5.0, rules)
