"""Authentication-Results (RFC 8601) read from a seed message's headers.

Written here rather than taken from `authres`: the needs are small (method,
result and a few properties; comments and quoting handled) and this keeps a
dependency out. Receivers strip A-R fields carrying their own authserv-id from
incoming mail, so only the topmost field from the trusted receiver is believed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AuthResult:
    method: str  # spf, dkim, dmarc, arc, ...
    result: str  # pass, fail, softfail, none, neutral, temperror, permerror, policy, ...
    reason: str = ""
    props: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthResults:
    authserv_id: str
    results: tuple[AuthResult, ...] = ()

    def first(self, method: str) -> AuthResult | None:
        return next((r for r in self.results if r.method == method), None)


def _strip_comments(text: str) -> str:
    """Remove (nested) comments outside quoted strings; keep quoted text intact."""
    out: list[str] = []
    depth = 0
    quoted = False
    escape = False
    for ch in text:
        if escape:
            if depth == 0:
                out.append(ch)
            escape = False
            continue
        if ch == "\\":
            escape = True
            if depth == 0:
                out.append(ch)
            continue
        if ch == '"' and depth == 0:
            quoted = not quoted
            out.append(ch)
        elif ch == "(" and not quoted:
            depth += 1
        elif ch == ")" and not quoted and depth:
            depth -= 1
            if depth == 0:
                out.append(" ")
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def _split(text: str, sep: str) -> list[str]:
    """Split on `sep` outside quoted strings."""
    parts: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _unquote(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] == '"':
        return v[1:-1].replace('\\"', '"')
    return v


def parse(value: str) -> AuthResults | None:
    """One header value; None when it has no authserv-id (not an A-R field at all)."""
    text = " ".join(_strip_comments(value).split())
    pieces = [p.strip() for p in _split(text, ";")]
    if not pieces or not pieces[0]:
        return None
    authserv_id = pieces[0].split()[0].lower()
    results = []
    for piece in pieces[1:]:
        if not piece or piece.lower() == "none":
            continue
        tokens = piece.split()
        if "=" not in tokens[0]:
            continue
        method, result = tokens[0].split("=", 1)
        method = method.split("/")[0].lower()  # method/version
        reason, props = "", {}
        rest = " ".join(tokens[1:])
        for tok in _split(rest, " "):
            if "=" not in tok:
                continue
            k, v = tok.split("=", 1)
            if k.lower() == "reason":
                reason = _unquote(v)
            else:
                props[k.lower()] = _unquote(v)
        results.append(AuthResult(method, _unquote(result).lower(), reason, props))
    return AuthResults(authserv_id, tuple(results))


def trusted(values: Iterable[str], authserv_id: str | None = None) -> AuthResults | None:
    """The topmost field from the receiver (the one named, or simply the topmost)."""
    for v in values:
        parsed = parse(v)
        if parsed is None:
            continue
        if authserv_id is None or parsed.authserv_id == authserv_id.lower():
            return parsed
    return None


def verdicts(ar: AuthResults | None) -> dict[str, str]:
    """spf / dkim / dmarc results, 'missing' when the receiver did not say."""
    out = {}
    for method in ("spf", "dkim", "dmarc"):
        r = ar.first(method) if ar else None
        out[method] = r.result if r else "missing"
    return out
