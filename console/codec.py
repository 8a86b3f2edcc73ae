"""Model dataclasses ↔ JSON-safe dicts, so stored snapshots come back as the same objects.

Driven by type hints, so a new model field needs no codec change; values the
current code does not expect decode to the field's default instead of failing
the start-up of the console.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")


def encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return value


def decode(tp: Any, data: Any) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        if data is None:
            return None
        members = [a for a in get_args(tp) if a is not type(None)]
        return decode(members[0], data)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(data, dict):
            raise ValueError(f"expected an object for {tp.__name__}")
        hints = get_type_hints(tp)
        kwargs = {
            f.name: decode(hints[f.name], data[f.name])
            for f in dataclasses.fields(tp)
            if f.name in data
        }
        return tp(**kwargs)
    if tp is datetime:
        return datetime.fromisoformat(data) if isinstance(data, str) else None
    args = get_args(tp)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], v) for v in data or ())
        return tuple(decode(a, v) for a, v in zip(args, data or (), strict=False))
    if origin is list:
        return [decode(args[0] if args else Any, v) for v in data or ()]
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        value_type = args[1] if len(args) == 2 else Any
        return {k: decode(value_type, v) for k, v in (data or {}).items()}
    return data


def decode_as(cls: type[T], data: Any) -> T:
    result: T = decode(cls, data)
    return result
