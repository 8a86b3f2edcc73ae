"""Persistent state in TinyDB: snapshots, reputation history, events and per-IP counters.

Layout under the state directory:

    lock                 held (flock) by the one writer
    state.json           meta (schema), snapshots, history, cursors, seed runs,
                         alerts (open and recent history), the audit log of actions
    dmarc/YYYY-MM-DD.json  DMARC aggregate reports by the UTC day they end, deduplicated by
                         (reporter, report id); dmarc.json of earlier versions is split
                         into these once
    days/YYYY-MM-DDTHH.json  one file per UTC hour of message send time, holding that
                         hour's message index and its counters (a poll rewrites only the
                         hours it touched); days/YYYY-MM-DD.json files from earlier
                         versions are still read, and keep counting the messages they
                         hold, until retention removes them
    days/<partition>.events.jsonl  that partition's feed events, appended: one line each,
                         `[key, time, kind, customer, search text]` TAB the Mandrill item
    days/<partition>.counts.json   a copy of its counters (per IP and hour, customer and
                         sender domain, each by state), stamped with the partition
                         file's mtime and size, so counting a week does not parse a
                         week of indexes (rebuilt when the stamp no longer matches)

A message's index entry and the counters it feeds live in the same file, so
one atomic rename keeps them consistent: a crash can lose a poll's work
(re-read from Mandrill next time) but never double-count or half-count it.
Events are appended and fsynced *before* that rename, and a line whose key is
already in the file is never appended again, so a crash between the two loses
nothing and duplicates nothing; a torn last line is cut off when the file is
next opened for writing. Events live apart from the index so that the feed can
be read (and searched, see `analysis.feed.FeedIndex`) without loading the
index, and an index can be rewritten without rewriting the events.
Nothing is published to the screen before `commit()` has written it.

The console opens the store before its first frame, and building the model's
classes takes longer than drawing that frame: the model and the wire parser
are imported in the functions that build objects, after it.
"""

from console.store.core import SCHEMA_VERSION, Store
from console.store.files import (
    AtomicJSONStorage,
    CorruptStateError,
    StoreError,
    StoreLockedError,
    read_dmarc_reports,
)
from console.store.partition import COUNTS_SUFFIX, EVENTS_SUFFIX, IngestResult, pack

__all__ = [
    "COUNTS_SUFFIX",
    "EVENTS_SUFFIX",
    "SCHEMA_VERSION",
    "AtomicJSONStorage",
    "CorruptStateError",
    "IngestResult",
    "Store",
    "StoreError",
    "StoreLockedError",
    "pack",
    "read_dmarc_reports",
]
