"""The commented config template, written from the config dataclasses themselves.

A setting is declared once, with `opt(default, "what it means", example=…)`; the
template that `mailops init` writes, its comments and its defaults all come from that
declaration, so a new setting cannot be left out of it and a changed default cannot
disagree with it. Rules of the rendering:

- a section is a dataclass field holding a dataclass; its comment is the first line of
  the class docstring, without its leading "[name]: ";
- a key with an `example` and nothing by default (None, "", (), {}) is shown commented
  with the example; every other key with its default, as TOML;
- a Literal-typed key's comment starts with the words it allows;
- a dict key becomes a commented sub-table after the section's keys (uncommenting it
  then cannot swallow the keys below it);
- an array of tables ([[seeds]]) is shown as one commented example table.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import MISSING, Field, field, fields, is_dataclass
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

T = TypeVar("T")

#: where a key's comment starts, and the widest line before it moves above the key
COMMENT_COLUMN = 26
WIDTH = 96
#: fields of the config object that are not settings of the file
NOT_IN_FILE = ("path", "warnings")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def opt(
    default: T, doc: str = "", *, example: Any = None, alt: bool = False, secret: bool = False
) -> T:
    """A setting: its default, what it means, and an example for when the default is empty.

    `alt` marks an alternative to a neighbour (a password file instead of an env
    variable): inside a commented [[table]] example it is commented twice. `secret`
    keeps the value out of the config's repr, so a logged config never shows it."""
    meta = {"doc": doc, "example": example, "alt": alt}
    if isinstance(default, dict):
        copy: Any = lambda: dict(default)  # noqa: E731 - a fresh dict per config
        return field(default_factory=copy, metadata=meta, repr=not secret)  # type: ignore[no-any-return]
    return field(default=default, metadata=meta, repr=not secret)


def render(root: type[Any], preamble: str) -> str:
    """The whole template for the root config class: the preamble, then every section."""
    hints = get_type_hints(root)
    out = [*(f"# {line}".rstrip() for line in preamble.splitlines()), ""]
    for f in fields(root):
        if f.name in NOT_IN_FILE:
            continue
        tp = hints[f.name]
        item = _array_item(tp)
        if item is not None:
            out += _array_block(f.name, item)
        else:
            out += _section((f.name,), tp)
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(out))
    return text.rstrip("\n") + "\n"


def _array_item(tp: Any) -> type[Any] | None:
    """The dataclass of a `tuple[X, ...]` field (an array of tables), else None."""
    if get_origin(tp) is tuple:
        args = get_args(tp)
        if args and is_dataclass(args[0]):
            return args[0]  # type: ignore[return-value]
    return None


def _summary(cls: type[Any]) -> str:
    """The class docstring's first line, without its "[name]: " and final full stop."""
    first = (cls.__doc__ or "").strip().splitlines()[0]
    return re.sub(r"^\[+[\w.]+\]+:\s*", "", first).rstrip(".")


def _section(path: tuple[str, ...], cls: type[Any]) -> list[str]:
    """One [section]: its keys, then its commented dict sub-tables, then nested sections."""
    hints = get_type_hints(cls)
    out = _with_comment(f"[{'.'.join(path)}]", _summary(cls), above=True).splitlines()
    tables: list[str] = []
    nested: list[str] = []
    for f in fields(cls):
        tp = hints[f.name]
        if is_dataclass(tp):
            nested += ["", *_section((*path, f.name), tp)]  # type: ignore[arg-type]
        elif get_origin(tp) is dict:
            tables += _dict_table((*path, f.name), f)
        else:
            out += _key(f, tp)
    return [*out, *tables, *nested, ""]


def _key(f: Field[Any], tp: Any) -> list[str]:
    """One `key = value  # what it means` line (or more: a long comment, a wide array)."""
    commented = False
    example = f.metadata.get("example")
    default = _default(f)
    empty = default is None or default in ("", (), {})
    if example is not None and empty:
        text, commented = f"{f.name} = {toml_value(example)}", True
    elif default is None:
        raise ValueError(f"{f.name}: a setting without a default needs an example")
    else:
        text = f"{f.name} = {toml_value(default)}"
    return _keyed(text, _doc(f, tp), commented)


def _keyed(text: str, doc: str, commented: bool) -> list[str]:
    """A key's text, commented out line by line when asked, with its comment."""
    lines = [f"# {line}" if commented else line for line in text.splitlines()]
    if len(lines) > 1:
        return [*_comment_lines(doc), *lines]
    return _with_comment(lines[0], doc, above=True).splitlines()


def _doc(f: Field[Any], tp: Any) -> str:
    """The field's comment, led by the words a Literal type allows."""
    doc: str = f.metadata.get("doc", "")
    choices = [a for t in (tp, *get_args(tp)) if get_origin(t) is Literal for a in get_args(t)]
    if choices:
        allowed = " | ".join(choices)
        return f"{allowed}: {doc}" if doc else allowed
    return doc


def _default(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None


def _with_comment(line: str, doc: str, above: bool = False) -> str:
    """`line` with its comment beside it, or (too wide, and `above`) on lines above it."""
    if not doc:
        return line
    beside = f"{line.ljust(COMMENT_COLUMN - 2)}  # {doc}"
    if len(beside) <= WIDTH or not above:
        return beside
    return "\n".join([*_comment_lines(doc), line])


def _comment_lines(doc: str) -> list[str]:
    """A comment wrapped to the template's width, one `# ` line each."""
    return [f"# {w}" for w in textwrap.wrap(doc, WIDTH - 2)]


def _dict_table(path: tuple[str, ...], f: Field[Any]) -> list[str]:
    """A dict setting as a commented sub-table holding its example (or its default)."""
    value = f.metadata.get("example") or _default(f) or {}
    out = ["", *_comment_lines(f.metadata.get("doc", ""))]
    nested = {k: v for k, v in value.items() if isinstance(v, dict)}
    if len(nested) < len(value):
        out.append(f"# [{_dotted(path)}]")
    for k, v in value.items():
        if not isinstance(v, dict):
            out.append(f"# {_key_name(k)} = {toml_value(v)}")
    for k, v in nested.items():
        out.append(f"# [{_dotted((*path, k))}]")
        out += [f"# {_key_name(kk)} = {toml_value(vv)}" for kk, vv in v.items()]
    return out


def _array_block(name: str, cls: type[Any]) -> list[str]:
    """An array of tables as one commented example: `# [[name]]` and its keys."""
    hints = get_type_hints(cls)
    out = [f"# {_summary(cls)}", f"# [[{name}]]"]
    for f in fields(cls):
        example = f.metadata.get("example")
        value = example if example is not None else _default(f)
        if value is None:
            raise ValueError(f"{name}.{f.name}: a setting without a default needs an example")
        text = f"# {f.name} = {toml_value(value)}" if f.metadata.get("alt") else ""
        text = text or f"{f.name} = {toml_value(value)}"
        out += _keyed(text, _doc(f, hints[f.name]), commented=True)
    return [*out, ""]


def _key_name(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(_key_name(p) for p in path)


def toml_value(value: Any) -> str:
    """A Python value as a TOML value: bool, number, string, array, inline table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string is JSON's
    if isinstance(value, tuple | list):
        return _array([toml_value(v) for v in value])
    if isinstance(value, dict):
        items = ", ".join(f"{_key_name(k)} = {toml_value(v)}" for k, v in value.items())
        return f"{{ {items} }}" if items else "{}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _array(items: list[str]) -> str:
    """An array on one line, or one item run per line when it is wider than the template."""
    one = f"[{', '.join(items)}]"
    if len(one) <= WIDTH - COMMENT_COLUMN:
        return one
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + len(item) + 2 <= WIDTH - 8:
            lines[-1] += f" {item},"
        else:
            lines.append(f"{item},")
    return "[\n    " + "\n    ".join(lines) + "\n]"
