from datetime import UTC, datetime

from console.analysis.explain import enhanced_code, explain
from console.config import Thresholds
from console.export import customer_summary
from console.model import MessageEvent, SubaccountRow

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def ev(
    state: str,
    diag: str = "",
    desc: str = "",
    reject: str = "",
    email: str = "a@x.com",
    subject: str = "",
) -> MessageEvent:
    return MessageEvent("m1", T0, state, email, subject=subject, diag=diag,
                        bounce_description=desc, reject_reason=reject)  # fmt: skip


def test_codes_beat_descriptions_and_unknowns_stay_raw() -> None:
    assert enhanced_code("smtp;550 5.7.26 Unauthenticated email") == "5.7.26"
    assert "authentication" in explain(ev("bounced", "smtp;550 5.7.26 Unauthenticated"))
    assert explain(ev("bounced", "smtp;550 5.1.1 no such user", "general")).startswith(
        "the address does not exist"
    )
    assert explain(ev("soft-bounced", "", "mailbox_full")) == "the recipient's mailbox is full"
    assert "report spam" in explain(ev("spam"))
    assert explain(ev("rejected", reject="unsigned")).endswith("verified and signed in Mandrill")
    assert explain(ev("rejected", reject="brand-new")) == (
        "not sent: Mandrill gave the reason 'brand-new'"
    )
    assert explain(ev("bounced", "smtp;554 we just don't like you", "odd")) == (
        "unrecognised reason (raw: smtp;554 we just don't like you)"
    )


def test_customer_summary_names_who_complained_and_escapes_outside_text() -> None:
    row = SubaccountRow("cust", "Cust Co", "active", 60, 1000, 5, 30, 1000)
    events = [
        ev("spam", email="angry@gmail.com", subject="Sale\x1b]0;pwn\x07"),
        ev("bounced", "smtp;550 5.1.1 unknown", email="gone@yahoo.com"),
    ]
    text = customer_summary(row, events, explain, T0, Thresholds())
    assert "Email delivery summary for Cust Co" in text
    assert "Marked as spam by recipients: 5 (0.50%) - above 0.3%" in text
    assert "Bounced (address unusable): 30 (3.00%) - above the 2%" in text
    assert "angry@gmail.com on 2026-11-02 09:00 UTC" in text
    assert "\x1b" not in text and "\\x1b]0;pwn\\x07" in text
    assert "1 x the address does not exist" in text and "gone@yahoo.com" in text
