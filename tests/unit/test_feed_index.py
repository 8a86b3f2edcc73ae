"""The feed's search index against the plain definition: filter, newest first, count."""

from __future__ import annotations

import random

import pytest

from console.analysis import feed as feed_mod
from console.analysis.feed import FeedIndex, FeedRow

KINDS = ("hard", "soft", "reject", "spam")
WORDS = ("gmail", "yahoo", "550 5.1.1", "user unknown", "421", "mailbox full", "Ünïcode", "x")


def rows(n: int, seed: int, parts: int = 6) -> list[FeedRow]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        hay = " ".join(rng.sample(WORDS, 3)).lower() + f" id{i}"
        part = f"2026-11-{1 + rng.randrange(parts):02d}T00"
        out.append(FeedRow(rng.uniform(0, 1e6), rng.choice(KINDS), f"c{i % 5}", hay, part, i))
    return out


def brute(
    all_rows: list[FeedRow],
    text: str = "",
    kind: str | None = None,
    sub: str | None = None,
    since: float | None = None,
) -> list[tuple[str, int]]:
    hits = [
        r
        for r in all_rows
        if text.lower() in r.hay
        and (kind is None or r.kind == kind)
        and (sub is None or r.sub == sub)
        and (since is None or r.t >= since)
    ]
    hits.sort(key=lambda r: -r.t)
    return [(r.part, r.offset) for r in hits]


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_mod, "FRESH_ROWS", 16)  # many chunks, sealed often


def loaded(all_rows: list[FeedRow]) -> FeedIndex:
    idx = FeedIndex()
    by_part: dict[str, list[FeedRow]] = {}
    for r in all_rows:
        by_part.setdefault(r.part, []).append(r)
    for part in sorted(by_part, reverse=True):
        idx.append_older(by_part[part])
    idx.finish_loading()
    return idx


@pytest.mark.parametrize("text", ["", "g", "gmail", "550 5.1", "ünï", "nothing-like-it", "ID1"])
@pytest.mark.parametrize("kind", [None, "hard", "unsub"])
def test_query_is_the_plain_filter_newest_first(text: str, kind: str | None) -> None:
    data = rows(400, seed=1)
    idx = loaded(data[:300])
    idx.add(data[300:])  # later arrivals, in several fresh chunks, times all over the place
    expect = brute(data, text, kind)
    for limit in (None, 0, 1, 7, 50):
        locs, total = idx.query(text, kind, limit=limit)
        assert total == len(expect)
        assert locs == expect[: len(expect) if limit is None else limit]
    locs, total = idx.query(text, kind, limit=10, count=False)
    assert locs == expect[:10] and total in (None, len(expect))


def test_customer_filter_and_kind_counts() -> None:
    data = rows(200, seed=2)
    idx = loaded(data)
    assert idx.query(sub="c3")[0] == brute(data, sub="c3")
    assert idx.query("gmail", sub="c3")[0] == brute(data, "gmail", sub="c3")
    assert idx.query(sub="nobody") == ([], 0)
    expect: dict[str, int] = {}
    for r in data:
        expect[r.kind] = expect.get(r.kind, 0) + 1
    assert idx.kind_counts() == expect and len(idx) == 200


def test_dropped_partitions_leave_nothing_behind() -> None:
    data = rows(300, seed=3)
    idx = loaded(data[:200])
    idx.add(data[200:])
    gone = {"2026-11-01T00", "2026-11-02T00"}
    dropped = idx.drop_parts(gone)
    kept = [r for r in data if r.part not in gone]
    assert dropped == 300 - len(kept)
    assert idx.query("g")[0] == brute(kept, "g")


def test_row_framing_cannot_be_forged_by_the_text() -> None:
    """A search text holding the row separator stays one row, and the filter ignores it."""
    idx = FeedIndex()
    idx.add([FeedRow(1.0, "hard", "c", "evil\x00hard row", "p", 0)])
    idx.add([FeedRow(2.0, "hard", "c", "plain", "p", 1)])
    assert idx.query("evil")[1] == 1 and idx.query("row")[1] == 1
    assert idx.query("\x00")[1] == 2  # nothing left of that needle: every row


@pytest.mark.parametrize("since", [0.0, 250_000.0, 999_000.0, 2e6])
@pytest.mark.parametrize(("text", "sub"), [("", None), ("gmail", None), ("", "c2"), ("550", "c1")])
def test_since_leaves_out_older_events(since: float, text: str, sub: str | None) -> None:
    data = rows(300, seed=4)
    idx = loaded(data[:250])
    idx.add(data[250:])
    expect = brute(data, text, sub=sub, since=since)
    assert idx.query(text, sub=sub, since=since) == (expect, len(expect))
    assert idx.query(text, sub=sub, since=since, limit=5)[0] == expect[:5]


def test_a_count_gives_way_when_aborted() -> None:
    data = rows(400, seed=5)
    idx = loaded(data[:300])
    idx.add(data[300:])
    exact = len(brute(data, "gmail"))
    assert idx.query("gmail", limit=0, abort=lambda: False) == ([], exact)
    asked = []

    def after_two_chunks() -> bool:
        asked.append(1)
        return len(asked) > 2

    assert idx.query("gmail", limit=0, abort=after_two_chunks) == ([], None)
    assert len(asked) == 3  # it stopped at the first chunk after the abort, not at the end


def test_an_unfiltered_count_needs_no_scan_even_while_loading() -> None:
    data = rows(400, seed=7)
    idx = FeedIndex()
    idx.append_older(data[:100])  # still loading: rows not in a chunk yet
    idx.add(data[100:150])
    kinds = (None, "hard", "unsub")
    for kind in kinds:
        assert idx.query(kind=kind, limit=0) == ([], len(brute(data[:150], kind=kind)))
    assert idx._loading_chunks is None  # no chunk was built just to count
    for kind in kinds:
        expect = len(brute(data[:150], kind=kind))
        assert idx.query(kind=kind, limit=5, count=False)[1] == expect
