"""Just enough of Mandrill's Lucene search syntax for the simulator.

Supports terms, "phrases", field:value with * and ? wildcards, ts:[a TO b]
ranges, AND / OR / NOT and parentheses. Adjacent terms are OR'd, as in Lucene.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import Any

Item = dict[str, Any]
Pred = Callable[[Item], bool]

_TOKEN = re.compile(
    r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<field>[A-Za-z_]+):(?P<value>\[[^\]]*\]|"[^"]*"|[^\s()]+)'
    r'|(?P<phrase>"[^"]*")|(?P<word>[^\s()]+))'
)
_RANGE = re.compile(r"\[\s*(\S+)\s+TO\s+(\S+)\s*\]")


class QueryError(ValueError):
    pass


def _tokens(query: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    query = query.strip()
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if not m or m.end() == pos:
            raise QueryError(f"cannot parse query near {query[pos : pos + 20]!r}")
        pos = m.end()
        if m.group("lp"):
            out.append(("(", None))
        elif m.group("rp"):
            out.append((")", None))
        elif m.group("field"):
            out.append(("term", (m.group("field").lower(), m.group("value"))))
        elif m.group("phrase"):
            out.append(("term", (None, m.group("phrase"))))
        else:
            word = m.group("word")
            if word in ("AND", "OR", "NOT", "&&", "||"):
                out.append(({"&&": "AND", "||": "OR"}.get(word, word), None))
            else:
                out.append(("term", (None, word)))
    return out


def _field_values(item: Item, field: str | None) -> list[str]:
    if field is None:
        keys = ("email", "subject", "sender", "subaccount", "state", "template")
        vals = [item.get(k) for k in keys]
        vals += list(item.get("tags") or [])
        return [str(v) for v in vals if v]
    if field == "tags":
        return [str(t) for t in item.get("tags") or []]
    if field == "full_email":
        return [str(item.get("email", ""))]
    v = item.get(field)
    return [] if v is None else [str(v)]


def _term_pred(field: str | None, raw: str) -> Pred:
    m = _RANGE.fullmatch(raw)
    if m:
        lo, hi = m.group(1), m.group(2)

        def in_range(item: Item) -> bool:
            try:
                v = float(item.get(field or "ts", 0))
            except (TypeError, ValueError):
                return False
            return (lo == "*" or v >= float(lo)) and (hi == "*" or v <= float(hi))

        return in_range
    value = raw.strip('"').lower()
    if value == "*":
        return lambda item: field is None or bool(_field_values(item, field))
    wildcard = any(c in value for c in "*?")

    def match(item: Item) -> bool:
        for v in _field_values(item, field):
            v = v.lower()
            if wildcard and fnmatch.fnmatchcase(v, value):
                return True
            if not wildcard and (v == value or (field in (None, "email") and value in v)):
                return True
        return False

    return match


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]]) -> None:
        self.t = tokens
        self.i = 0

    def peek(self) -> str | None:
        return self.t[self.i][0] if self.i < len(self.t) else None

    def take(self) -> tuple[str, Any]:
        tok = self.t[self.i]
        self.i += 1
        return tok

    def parse(self) -> Pred:
        pred = self.or_expr()
        if self.peek() is not None:
            raise QueryError("unbalanced parentheses")
        return pred

    def or_expr(self) -> Pred:
        parts = [self.and_expr()]
        while self.peek() in ("OR", "term", "(", "NOT"):
            if self.peek() == "OR":
                self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda item: any(p(item) for p in parts))

    def and_expr(self) -> Pred:
        parts = [self.unary()]
        while self.peek() == "AND":
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda item: all(p(item) for p in parts))

    def unary(self) -> Pred:
        kind = self.peek()
        if kind == "NOT":
            self.take()
            inner = self.unary()
            return lambda item: not inner(item)
        if kind == "(":
            self.take()
            inner = self.or_expr()
            if self.peek() != ")":
                raise QueryError("missing )")
            self.take()
            return inner
        if kind == "term":
            _, (field, value) = self.take()
            return _term_pred(field, value)
        raise QueryError("unexpected end of query")


def compile_query(query: str) -> Pred:
    if not query.strip() or query.strip() == "*":
        return lambda item: True
    return _Parser(_tokens(query)).parse()


def ts_bounds(query: str) -> tuple[float, float] | None:
    """The ts:[a TO b] range when the whole query is AND'd with it (lets the sim skip work)."""
    m = re.search(r"(?:^|AND\s+)ts:\[\s*(\d+)\s+TO\s+(\d+)\s*\]\s*$", query.strip())
    if m and " OR " not in query.split("ts:[")[0].rsplit(")", 1)[-1]:
        return float(m.group(1)), float(m.group(2))
    return None
