"""Model dataclasses ↔ JSON-safe dicts, so stored snapshots come back as the same objects.

Driven by type hints, so a new model field needs no codec change; values the
current code does not expect decode to the field's default instead of failing
the start-up of the console.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")


def encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, date):  # a datetime too
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


@functools.cache
def _field_types(tp: type) -> tuple[tuple[str, Any], ...]:
    """Each field's name and resolved type. Resolving the hints evaluates every annotation
    (they are strings here): once per class, not once per object decoded."""
    hints = get_type_hints(tp)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(tp))


def decode(tp: Any, data: Any) -> Any:
    return _decoder(tp)(data)


def _same(data: Any) -> Any:
    return data


def _time(data: Any) -> datetime | None:
    return datetime.fromisoformat(data) if isinstance(data, str) else None


def _day(data: Any) -> date | None:
    return date.fromisoformat(data) if isinstance(data, str) else None


@functools.cache
def _decoder(tp: Any) -> Callable[[Any], Any]:
    """A function that decodes data of type `tp`, built once per type: walking the type
    hints for every object decoded cost more than the decoding (a large DMARC history took
    seconds to read)."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        inner = _decoder(next(a for a in get_args(tp) if a is not type(None)))
        return lambda data: None if data is None else inner(data)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _dataclass_decoder(tp)
    if tp is datetime:
        return _time
    if tp is date:
        return _day
    if origin is Literal:
        return _one_of(frozenset(get_args(tp)))
    args = get_args(tp)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _decoder(args[0])
        if item is _same:
            return lambda data: tuple(data or ())
        return lambda data: tuple(item(v) for v in data or ())
    if origin is tuple:
        parts = tuple(_decoder(a) for a in args)
        if all(f is _same for f in parts):
            return lambda data: tuple(data or ())[: len(parts)]
        return lambda data: tuple(f(v) for f, v in zip(parts, data or (), strict=False))
    if origin is list:
        item = _decoder(args[0] if args else Any)
        return lambda data: [item(v) for v in data or ()]
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        value = _decoder(args[1] if len(args) == 2 else Any)
        return lambda data: {k: value(v) for k, v in (data or {}).items()}
    return _same


def _one_of(allowed: frozenset[Any]) -> Callable[[Any], Any]:
    """A fixed set's value, or ValueError: the record is unreadable (and skipped, said),
    never a value the code was not written for."""

    def check(data: Any) -> Any:
        if data not in allowed:
            raise ValueError(f"{data!r} is not one of {sorted(map(str, allowed))}")
        return data

    return check


def _dataclass_decoder(tp: type) -> Callable[[Any], Any]:
    fields = tuple((name, _decoder(t)) for name, t in _field_types(tp))

    def decode_one(data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"expected an object for {tp.__name__}")
        return tp(**{name: f(data[name]) for name, f in fields if name in data})

    return decode_one


def decode_as(cls: type[T], data: Any) -> T:
    result: T = decode(cls, data)
    return result
