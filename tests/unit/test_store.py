import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.model import Account, MessageEvent, Stats
from console.sim import ManualClock
from console.store import Store, StoreError, StoreLockedError
from console.wire import parse_message

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def msg(
    mid: str,
    state: str,
    ip: str = "1.1.1.1",
    sub: str = "c1",
    at: datetime = T0,
    sender: str = "no-reply@Mail.Example.org",
) -> MessageEvent:
    ev = parse_message(
        {
            "_id": mid,
            "ts": int(at.timestamp()),
            "state": state,
            "email": f"{mid}@x.com",
            "sender": sender,
            "subaccount": sub,
            "smtp_events": [{"ts": int(at.timestamp()) + 5, "type": "x", "source_ip": ip}],
        }
    )
    assert ev is not None
    return ev


def counts(store: Store) -> dict[str, dict[str, int]]:
    return {
        ip: dict(c)
        for ip, c in store.ip_counts(T0 - timedelta(hours=1), T0 + timedelta(hours=1)).items()
    }


def test_reingesting_overlapping_windows_changes_nothing(store: Store) -> None:
    batch = [msg("a", "sent"), msg("b", "bounced"), msg("c", "deferred")]
    first = store.ingest(batch)
    store.commit()
    again = store.ingest(batch)
    assert [e.message_id for e in first.new_events] == ["b", "c"]
    assert again.new_events == [] and again.new_messages == 0
    assert counts(store) == {"1.1.1.1": {"sent": 1, "bounced": 1, "deferred": 1}}


def test_a_state_change_moves_the_count_and_adds_an_event(store: Store) -> None:
    store.ingest([msg("c", "deferred")])
    later = store.ingest([msg("c", "soft-bounced")])
    assert later.changed == 1 and [e.state for e in later.new_events] == ["soft-bounced"]
    assert counts(store) == {"1.1.1.1": {"soft-bounced": 1}}
    # the feed keeps one event per (message id, state)
    store.commit()
    assert sorted(e.state for e in store.recent_events(10)) == ["deferred", "soft-bounced"]
    assert store.subaccount_counts(T0.date(), T0.date())["c1"] == {"soft-bounced": 1}


def test_state_survives_reopen(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    with Store(tmp_path, clock=clock) as s:
        s.ingest([msg("a", "bounced")])
        s.put_snapshot("account", Account("u", 80, 10, 0, {"today": Stats(sent=3)}), T0)
        s.add_history("reputation", T0, 80)
        s.set_cursor("messages", 123)
        s.commit()
    with Store(tmp_path, clock=clock) as s:
        got = s.get_snapshot("account", Account)
        assert got is not None
        acc, at = got
        assert acc.reputation == 80 and acc.stats["today"].sent == 3 and at == T0
        assert s.history("reputation") == [(T0, 80)]
        assert s.get_cursor("messages") == 123
        assert [e.message_id for e in s.recent_events(5)] == ["a"]


def test_uncommitted_work_is_not_on_disk(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        s.ingest([msg("a", "bounced")])
        # no commit: a crash here must leave the previous (empty) state
        files = list((tmp_path / "days").glob("*.json"))
        assert files == [] or all(json.loads(f.read_text() or "{}") == {} for f in files)


def test_second_writer_gets_a_clear_error(tmp_path: Path) -> None:
    with Store(tmp_path):
        with pytest.raises(StoreLockedError, match="in use by another mailops"):
            Store(tmp_path).open()
    Store(tmp_path).open().close()  # released on close


def test_corrupt_file_is_moved_aside_with_a_warning(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        s.add_history("reputation", T0, 80)
        s.commit()
    (tmp_path / "state.json").write_text('{"history": {"1": {"s": "rep')
    with Store(tmp_path) as s:
        assert any("moved aside" in w for w in s.warnings)
        assert s.history("reputation") == []
    assert list(tmp_path.glob("state.json.corrupt-*"))


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    with Store(tmp_path):
        pass
    data = json.loads((tmp_path / "state.json").read_text())
    data["meta"]["1"]["schema"] = 99
    (tmp_path / "state.json").write_text(json.dumps(data))
    with pytest.raises(StoreError, match="newer mailops"):
        Store(tmp_path).open()


def test_retention_drops_old_days_and_history(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    with Store(tmp_path, clock=clock, retention_days=7) as s:
        s.ingest([msg("old", "bounced", at=T0 - timedelta(days=10)), msg("new", "bounced")])
        s.add_history("reputation", T0 - timedelta(days=10), 70)
        s.add_history("reputation", T0, 80)
        s.commit()
        assert s.prune() == 1
        s.commit()
        assert [e.message_id for e in s.recent_events(10)] == ["new"]
        assert [v for _, v in s.history("reputation")] == [80]


def test_a_crash_between_write_and_rename_leaves_a_loadable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(tmp_path) as s:
        s.ingest([msg("a", "bounced")])
        s.commit()
    s = Store(tmp_path).open()
    s.ingest([msg("b", "bounced")])

    def crash(*a: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        s.commit()
    monkeypatch.undo()
    s.close()
    with Store(tmp_path) as s2:
        assert s2.warnings == []
        # b's event was appended before the index failed to land: kept, but not counted
        # until the next poll reads b again, which counts it once and adds no second event
        assert counts(s2) == {"1.1.1.1": {"bounced": 1}}
        assert sorted(e.message_id for e in s2.recent_events(10)) == ["a", "b"]
        again = s2.ingest([msg("b", "bounced")])
        s2.commit()
        assert again.new_messages == 1 and again.new_events == []
        assert counts(s2) == {"1.1.1.1": {"bounced": 2}}
        assert sorted(e.message_id for e in s2.recent_events(10)) == ["a", "b"]


WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from console.store import Store
    from console.wire import parse_message
    s = Store(Path(sys.argv[1])).open()
    i = 0
    while True:
        batch = [parse_message({"_id": f"m{i}-{k}", "ts": 1793600000 + i, "state": "bounced",
                               "email": "a@b.c", "smtp_events": [{"source_ip": "1.1.1.1"}]})
                 for k in range(50)]
        s.ingest(batch)
        s.commit()
        print(i, flush=True)   # everything up to batch i is committed
        i += 1
    """
)


def test_kill_9_during_writes_never_loses_committed_events(tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    state = tmp_path / "state"
    # MAILOPS_CRASH_ROUNDS=100 for the long run; the kill lands at a random point each time
    rounds = int(os.environ.get("MAILOPS_CRASH_ROUNDS", "8"))
    rng = random.Random(11)
    for _ in range(rounds):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(state)], stdout=subprocess.PIPE, text=True
        )
        committed = -1
        deadline = time.monotonic() + 0.25 + rng.random() * 0.6
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line:
                committed = int(line)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with Store(state) as s:
            assert s.warnings == []
            ids = {e.message_id for e in s.recent_events(10**6)}
            for k in range(50):
                if committed >= 0:
                    assert f"m{committed}-{k}" in ids


def test_text_that_is_not_valid_unicode_is_stored_and_read_back(store: Store) -> None:
    raw = json.loads(
        '{"_id": "s1", "ts": 1793600000, "state": "bounced", "email": "a@b.c",'
        ' "diag": "550 bad \\ud800 surrogate \\u0000 nul"}'
    )
    parsed = parse_message(raw)
    assert parsed is not None
    store.ingest([parsed])
    store.commit()
    (ev,) = store.recent_events(5)
    assert ev.diag == "550 bad \ud800 surrogate \x00 nul"


def test_seed_runs_are_kept_bounded_and_readable_while_locked(tmp_path: Path) -> None:
    from console.model import SeedResult, SeedRun

    def run(i: int) -> SeedRun:
        at = T0 + timedelta(hours=i)
        r = SeedResult("g-1", "gmail", "s@g", f"t{i}", "spam", at, auth={"spf": "pass"})
        return SeedRun(f"r{i}", at, (r,), at + timedelta(minutes=2))

    with Store(tmp_path) as store:
        for i in range(5):
            store.add_seed_run(run(i), keep=3)
        store.commit()
        assert [r.run_id for r in store.seed_runs()] == ["r2", "r3", "r4"]
        assert [r.run_id for r in store.seed_runs(limit=2)] == ["r3", "r4"]
        # another process (mailops check) reads them while the console holds the lock
        with Store(tmp_path, read_only=True) as reader:
            runs = reader.seed_runs()
            assert [r.run_id for r in runs] == ["r2", "r3", "r4"] and not reader.warnings
        last = runs[-1].results[0]
        assert last.auth == {"spf": "pass"} and last.run_at == T0 + timedelta(hours=4)
    with Store(tmp_path / "nowhere", read_only=True) as reader:
        assert reader.seed_runs() == [] and not reader.warnings
    assert not (tmp_path / "nowhere").exists()  # a reader creates nothing
    (tmp_path / "state.json").write_text("{not json")
    with Store(tmp_path, read_only=True) as reader:
        assert reader.seed_runs() == [] and "unreadable" in reader.warnings[0]


def test_hour_partitions_and_whole_day_files_of_earlier_versions(tmp_path: Path) -> None:
    """Schema 1 kept a whole day in one file, events included: the events move to their
    own file once, and the day's messages stay counted where they are."""
    days = tmp_path / "days"
    days.mkdir(parents=True)
    m1 = msg("m1", "deferred")
    (tmp_path / "state.json").write_text(json.dumps({"meta": {"1": {"schema": 1}}}))
    legacy = {
        "index": {
            "1": {"id": "m1", "ip": "1.1.1.1", "state": "deferred", "sub": "c1", "h": "09"},
            "2": {"id": "m2", "ip": "1.1.1.1", "state": "sent", "sub": "c1", "h": "09"},
        },
        "counters": {
            "1": {
                "ips": {"1.1.1.1": {"09": {"deferred": 1, "sent": 1}}},
                "subs": {"c1": {"deferred": 1, "sent": 1}},
            }
        },
        "events": {"1": {"key": m1.key, "t": m1.event_ts.timestamp(), "raw": dict(m1.raw)}},
    }
    (days / "2026-11-02.json").write_text(json.dumps(legacy))
    with Store(tmp_path, read_only=True) as ro:  # not its to convert: says so
        assert "earlier mailops" in " ".join(ro.warnings)
    with Store(tmp_path) as s:
        assert [e.key for e in s.recent_events(10)] == ["m1|deferred"]
        # m1 moves on: counted where it already is, not a second time in the hour file
        s.ingest([msg("m1", "soft-bounced"), msg("m3", "bounced")])
        s.commit()
        assert counts(s) == {"1.1.1.1": {"soft-bounced": 1, "sent": 1, "bounced": 1}}
        assert {e.key for e in s.recent_events(10)} == {
            "m1|deferred",
            "m1|soft-bounced",
            "m3|bounced",
        }
    assert sorted(p.name for p in days.iterdir() if ".counts." not in p.name) == [
        "2026-11-02.events.jsonl",
        "2026-11-02.json",
        "2026-11-02T09.events.jsonl",
        "2026-11-02T09.json",
    ]
    assert sorted(p.name for p in days.glob("*.counts.json")) == [
        "2026-11-02.counts.json",
        "2026-11-02T09.counts.json",
    ]
    assert "events" not in json.loads((days / "2026-11-02.json").read_text())
    with Store(tmp_path) as s:
        assert json.loads((tmp_path / "state.json").read_text())["meta"]["1"]["schema"] == 2
        assert len(s.recent_events(10)) == 3


def test_sender_domains_are_counted_per_utc_day_and_follow_state_changes(
    tmp_path: Path,
) -> None:
    with Store(tmp_path) as s:
        s.ingest([msg("a", "sent"), msg("b", "sent"), msg("c", "sent", sender="x@other.example")])
        s.ingest([msg("b", "spam"), msg("d", "sent", at=T0 + timedelta(days=1))])
        s.commit()
    with Store(tmp_path, read_only=True) as ro:  # read back from the files
        got = ro.domain_counts(T0.date(), T0.date() + timedelta(days=1))
    day0, day1 = got[T0.date()], got[T0.date() + timedelta(days=1)]
    assert day0.whole and day0.counts == {"mail.example.org": {"sent": 1, "spam": 1},
                                          "other.example": {"sent": 1}}  # fmt: skip
    assert day1.counts == {"mail.example.org": {"sent": 1}}


def test_a_partition_counted_before_sender_domains_makes_its_day_partial(
    tmp_path: Path,
) -> None:
    """An earlier version's hour file has no domain counters: the day says partial, and
    mail added to it later is counted without making the day look whole."""
    days = tmp_path / "days"
    days.mkdir(parents=True)
    (tmp_path / "state.json").write_text(json.dumps({"meta": {"1": {"schema": 2}}}))
    old = {
        "index": {"1": {"ids": {"m1": "1.1.1.1\tsent\tc1"}}},
        "counters": {"1": {"ips": {"1.1.1.1": {"09": {"sent": 1}}}, "subs": {"c1": {"sent": 1}}}},
    }
    (days / "2026-11-02T09.json").write_text(json.dumps(old))
    with Store(tmp_path) as s:
        s.ingest([msg("m2", "spam")])
        s.commit()
        day = s.domain_counts(T0.date(), T0.date())[T0.date()]
    assert not day.whole and day.counts == {"mail.example.org": {"spam": 1}}
    with Store(tmp_path, read_only=True) as ro:
        assert not ro.domain_counts(T0.date(), T0.date())[T0.date()].whole


def test_the_feed_index_finds_filters_and_follows_polls(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    with Store(tmp_path, clock=clock) as s:
        s.ingest(
            [msg(f"h{i}", "bounced", sub="acme", at=T0 + timedelta(minutes=i)) for i in range(5)]
        )
        s.ingest([msg("s1", "soft-bounced", sub="beta", at=T0 + timedelta(hours=2))])
        s.commit()
    with Store(tmp_path, clock=clock) as s:
        assert s.feed_page().loading  # nothing read yet
        s.load_feed()
        page = s.feed_page(limit=3)
        assert (page.matched, page.total, page.loading) == (6, 6, False)
        assert [e.message_id for e in page.events] == ["s1", "h4", "h3"]  # newest first
        assert s.feed_page("H2@X.COM").matched == 1  # any case
        assert s.feed_page(kind="soft").matched == 1
        assert [e.message_id for e in s.feed_page(subaccount="beta").events] == ["s1"]
        assert s.feed_kind_counts() == {"hard": 5, "soft": 1}
        # a poll's events join the index at commit, in time order
        s.ingest([msg("late", "bounced", at=T0 + timedelta(minutes=30))])
        s.ingest([msg("new", "spam", at=T0 + timedelta(hours=3))])
        s.commit()
        assert [e.message_id for e in s.feed_page(limit=3).events] == ["new", "s1", "late"]
        # retention drops the partitions' rows from the index too
        clock.set(T0 + timedelta(days=40))
        s.prune()
        assert s.feed_page().total == 0


def test_a_reader_follows_the_writers_appended_events(tmp_path: Path) -> None:
    with Store(tmp_path) as w:
        w.ingest([msg("a", "bounced")])
        w.commit()
        r = Store(tmp_path, read_only=True).open()
        r.load_feed()
        assert r.feed_page().total == 1
        w.ingest([msg("b", "bounced", at=T0 + timedelta(hours=1))])
        w.commit()
        with open(tmp_path / "days" / "2026-11-02T10.events.jsonl", "ab") as fh:
            fh.write(b'["half", 1')  # a line the writer is still writing: left for later
        r.reload()
        assert [e.message_id for e in r.feed_page().events] == ["b", "a"]
        r.close()


def test_a_torn_last_event_line_is_cut_before_the_next_append(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        s.ingest([msg("a", "bounced")])
        s.commit()
    path = tmp_path / "days" / "2026-11-02T09.events.jsonl"
    with open(path, "ab") as fh:
        fh.write(b'["a2|bounced", 17930')  # the crash came mid-line
    with Store(tmp_path) as s:
        s.ingest([msg("b", "bounced")])
        s.commit()
        assert sorted(e.message_id for e in s.recent_events(10)) == ["a", "b"]
        assert s.warnings == []
    assert path.read_bytes().count(b"\n") == 2


def test_a_reader_rereads_only_the_counters_the_writer_changed(tmp_path: Path) -> None:
    with Store(tmp_path) as w:
        w.ingest([msg("a", "sent"), msg("b", "sent", at=T0 + timedelta(hours=1))])
        w.commit()
        r = Store(tmp_path, read_only=True).open()
        window = (T0 - timedelta(hours=1), T0 + timedelta(hours=2))
        assert dict(r.ip_counts(*window)["1.1.1.1"]) == {"sent": 2}
        w.ingest([msg("a", "bounced")])  # only the 09:00 file changes
        w.commit()
        r.reload()
        assert list(r._counters) == ["2026-11-02T10"]  # the unchanged hour is kept
        assert dict(r.ip_counts(*window)["1.1.1.1"]) == {"sent": 1, "bounced": 1}
        r.close()


def test_counters_are_read_from_their_sidecar_unless_it_is_stale(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        s.ingest([msg("a", "sent"), msg("b", "bounced")])
        s.commit()
    side = tmp_path / "days" / "2026-11-02T09.counts.json"
    data = json.loads(side.read_text())
    assert data["ips"] == {"1.1.1.1": {"09": {"sent": 1, "bounced": 1}}}
    # a sidecar whose stamp matches is believed without opening the partition...
    data["ips"]["1.1.1.1"]["09"]["sent"] = 7
    side.write_text(json.dumps(data))
    with Store(tmp_path) as s:
        assert counts(s) == {"1.1.1.1": {"sent": 7, "bounced": 1}}
    # ...and one from before the partition's last write (a crash between them) is not
    data["stamp"][1] += 1
    side.write_text(json.dumps(data))
    with Store(tmp_path) as s:
        assert counts(s) == {"1.1.1.1": {"sent": 1, "bounced": 1}}
    assert json.loads(side.read_text())["ips"]["1.1.1.1"]["09"]["sent"] == 1  # rebuilt
    side.unlink()
    with Store(tmp_path, read_only=True) as r:
        assert counts(r) == {"1.1.1.1": {"sent": 1, "bounced": 1}}
    assert not side.exists()  # a reader writes nothing


def test_feed_events_come_in_batches_newest_first_and_since_a_time(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        s.ingest([msg(f"m{i}", "bounced", at=T0 + timedelta(minutes=i)) for i in range(7)])
        s.commit()
        s.load_feed()
        got = s.feed_events(batch=2)
        assert next(got).message_id == "m6"  # a generator: read as it is consumed
        assert [e.message_id for e in got] == ["m5", "m4", "m3", "m2", "m1", "m0"]
        recent = s.feed_events(since=T0 + timedelta(minutes=4), batch=3)
        assert [e.message_id for e in recent] == ["m6", "m5", "m4"]
        assert len(s._event_cache) == 0  # an export does not push out what the screen shows


def test_a_reader_counts_an_event_once_when_the_owner_stores_it_meanwhile(tmp_path: Path) -> None:
    """`check` holds what it read in memory; the console may store the same event before
    check counts: it is one event, not two."""
    with Store(tmp_path) as owner:
        owner.ingest([msg("a", "bounced")])
        owner.commit()
        with Store(tmp_path, read_only=True) as reader:
            reader.ingest([msg("b", "bounced"), msg("c", "rejected")])  # check's own read
            owner.ingest([msg("b", "bounced")])  # the console stores b meanwhile
            owner.commit()
            counts = reader.feed_kind_counts()
            assert sum(counts.values()) == 3, counts  # a, b once, c
            assert not any(p.name.endswith(".corrupt") for p in tmp_path.rglob("*"))
        assert sum(owner.feed_kind_counts().values()) == 2  # c was never the owner's
