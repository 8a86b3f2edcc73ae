"""Every bound on what outside input may cost, in one place (the README's robustness
section lists them).

An outside source or file that passes one of these fails with a message naming
the limit and the key that raises it; it never grows memory or time without end.
Values are far above anything real, so they only ever stop hostile or broken input.
"""

from __future__ import annotations

MB = 1 << 20

#: The most one Mandrill answer may hold, in MB, per endpoint ("*": every other one).
#: A full search page with every SMTP event is a few MB. Streamed, so the poll fails as
#: soon as an answer passes its cap. Config: `[mandrill.response_limits_mb]`.
MANDRILL_RESPONSE_MB: dict[str, float] = {
    "messages/search": 16,
    "rejects/list": 16,
    "subaccounts/list": 16,
    "*": 4,
}

#: What a webhook receiving an alert may answer (only the status is used).
NOTIFY_RESPONSE_BYTES = 64 * 1024

#: Secret files (API key, IMAP passwords, DQS key): a key is a line, not a megabyte.
SECRET_FILE_BYTES = 64 * 1024
#: PEM bundles of CA certificates named by `ca_file`.
CA_FILE_BYTES = 4 * MB
#: The config file itself.
CONFIG_FILE_BYTES = 1 * MB
#: Nesting of tables and arrays in the config file (tomllib recurses per level).
CONFIG_MAX_DEPTH = 32
#: A message file scored by content checks (`.eml`): Mandrill's own limit is 25 MB.
EML_FILE_BYTES = 32 * MB
#: One state file (the DMARC reports are the largest: about 200 bytes a record).
STATE_FILE_BYTES = 4096 * MB
#: DMARC aggregate reports: one file or attachment as received, one report once
#: decompressed (a decompression bomb stops here), XML files read from one zip.
DMARC_INPUT_BYTES = 20 * MB
DMARC_XML_BYTES = 50 * MB
DMARC_ZIP_MEMBERS = 20


def size_text(n: int) -> str:
    """A limit as the messages and the config name it: "16 MB", "64 KB"."""
    return f"{n / MB:g} MB" if n >= MB else f"{n // 1024} KB"
