"""A small validator of JSON against the OpenAPI 3.1 schemas of the Mandrill spec.

Only the keywords that spec uses: $ref, allOf, oneOf/anyOf (one branch must fit),
type (one or a list, "null" among them), properties, required, items, enum,
additionalProperties, const, maxItems, minimum, maximum.
The spec is walked as data; nothing is fetched.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SPEC = Path(__file__).parent / "fixtures" / "mandrill-openapi" / "transactional.openapi.json"

_TYPES = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC.read_text())
    return loaded


def resolve(ref: str) -> dict[str, Any]:
    node: Any = spec()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    found: dict[str, Any] = node
    return found


def response_schema(operation: str, status: str = "200") -> dict[str, Any]:
    op = spec()["paths"][f"/{operation}"]["post"]
    resp = op["responses"][status]
    if "$ref" in resp:
        resp = resolve(resp["$ref"])
    schema: dict[str, Any] = resp["content"]["application/json"]["schema"]
    return schema


def validate(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every way `value` breaks `schema`, as "path: what" lines ([] when it conforms)."""
    if "$ref" in schema:
        return validate(value, resolve(schema["$ref"]), path)
    errors: list[str] = []
    for part in schema.get("allOf", ()):
        errors += validate(value, part, path)
    branches = schema.get("oneOf") or schema.get("anyOf")
    if branches:  # one branch must fit; otherwise the nearest one's complaints
        found = [validate(value, b, path) for b in branches]
        if all(found):
            nearest: list[str] = min(found, key=len)
            errors += nearest
    types = schema.get("type")
    if types is not None:
        names = types if isinstance(types, list) else [types]
        if not any(_TYPES[t](value) for t in names):
            return [*errors, f"{path}: {type(value).__name__} {value!r:.60} is not {names}"]
    # a type that admits null admits it whatever the enum lists (the spec's reading)
    if "enum" in schema and value not in schema["enum"] and not (value is None and types):
        errors.append(f"{path}: {value!r:.60} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r:.60} is not {schema['const']!r}")
    if isinstance(value, list) and len(value) > schema.get("maxItems", len(value)):
        errors.append(f"{path}: {len(value)} items, more than {schema['maxItems']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", ()):
            if key not in value:
                errors.append(f"{path}: required key {key!r} missing")
        extra = schema.get("additionalProperties")
        for key, v in value.items():
            if key in props:
                errors += validate(v, props[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                errors += validate(v, extra, f"{path}.{key}")
            elif extra is False:
                errors.append(f"{path}: key {key!r} is not in the spec")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            errors += validate(v, schema["items"], f"{path}[{i}]")
    return errors
