"""What each state file must look like, checked as it is read.

A state file that parses as JSON can still be the wrong shape: edited by hand,
written by a broken tool, restored from the wrong backup. Code that trusts the
shape fails far from the cause (an AttributeError when the console starts, a
DMARC screen that is silently empty). `clean` keeps every table and record
that has the expected shape and names what it dropped, so the store can keep
the rest, set the original aside and say so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _time(v: Any) -> bool:
    """A Unix time a datetime can hold: finite, from 1970 to the year 9999."""
    return _num(v) and 0 <= v < 253402300800


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _any(v: Any) -> bool:
    return True


def _counts(v: Any) -> bool:
    """{state: n}"""
    return isinstance(v, dict) and all(_int(n) for n in v.values())


def _ip_counts(v: Any) -> bool:
    """{ip: {hour: {state: n}}}"""
    return isinstance(v, dict) and all(
        isinstance(h, dict) and all(_counts(c) for c in h.values()) for h in v.values()
    )


def _sub_counts(v: Any) -> bool:
    """{subaccount: {state: n}}"""
    return isinstance(v, dict) and all(_counts(c) for c in v.values())


def _packed_ids(v: Any) -> bool:
    """{message id: "ip TAB state TAB subaccount"}"""
    return isinstance(v, dict) and all(isinstance(p, str) for p in v.values())


#: table → {field: check}; a record must hold every field, each passing its check.
Shapes = dict[str, dict[str, Check]]

STATE: Shapes = {
    "meta": {"schema": _int},
    "snapshots": {"source": _str, "polled_at": _str, "data": _any},
    "history": {"s": _str, "t": _time, "v": _num},
    "cursors": {"name": _str, "value": _int},
    "seed_runs": {"t": _time, "data": _any},
    "audit": {"t": _time, "data": _any},
    "alerts": {"id": _str, "data": _any},
}
DMARC: Shapes = {"reports": {"k": _str, "end": _time, "data": _any}}
#: An hour's partition: one document of packed ids (or, from earlier versions, one per
#: message) and one of counters; schema 1 kept events here too.
PARTITION: Shapes = {
    "counters": {"ips": _ip_counts, "subs": _sub_counts},
}
_INDEX_FORMS: tuple[dict[str, Check], ...] = ({"ids": _packed_ids}, {"id": _str})


def _fits(doc: Any, fields: dict[str, Check]) -> bool:
    return isinstance(doc, dict) and all(k in doc and ok(doc[k]) for k, ok in fields.items())


def _clean_table(name: str, table: Any, shapes: Shapes) -> tuple[dict[str, Any] | None, str]:
    """The table with its bad records dropped (None: the table itself is unusable)."""
    if not isinstance(table, dict):
        return None, f"table {name!r} is not a table"
    if name == "index" and shapes is PARTITION:
        good = {k: d for k, d in table.items() if any(_fits(d, f) for f in _INDEX_FORMS)}
    elif name in shapes:
        good = {k: d for k, d in table.items() if _fits(d, shapes[name])}
    else:  # a table this version does not know: kept as it is, for the one that does
        good = {k: d for k, d in table.items() if isinstance(d, dict)}
    good = {k: d for k, d in good.items() if k.isdigit()}
    dropped = len(table) - len(good)
    return good, (f"{dropped} record(s) of table {name!r} had the wrong shape" if dropped else "")


def clean(data: Any, shapes: Shapes) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The readable part of a TinyDB document, and what was dropped, in words."""
    if not isinstance(data, dict):
        return {}, [f"the file holds a JSON {type(data).__name__}, not a table of tables"]
    out: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for name, table in data.items():
        good, problem = _clean_table(str(name), table, shapes)
        if problem:
            problems.append(problem)
        if good is not None:
            out[str(name)] = good
    return out, problems
