"""The message schemas (``orchestration/schemas/<kind>.json``, JSON Schema) and a checker for the
subset they use (type, required, properties, additionalProperties, enum, items, minimum,
minLength, minItems), so a message can be checked before it is published without a dependency."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from promessa.errors import NotFoundError, ValidationError

from .records import Message

SCHEMAS_DIR = Path(__file__).resolve().parent / "schemas"

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def kinds() -> list[str]:
    """Every message kind with a schema (besides ``envelope`` and ``inbound.update``)."""
    return sorted(p.stem for p in SCHEMAS_DIR.glob("*.json") if p.stem not in ("envelope", "inbound.update"))


@functools.cache
def schema(kind: str) -> dict[str, Any]:
    """The JSON schema of ``kind`` (``envelope``, ``inbound.update`` or a message kind); NotFoundError when none."""
    p = SCHEMAS_DIR / f"{kind}.json"
    if not p.is_file():
        raise NotFoundError(f"no schema for message kind {kind!r}", hint=f"known: {', '.join(kinds())}")
    return json.loads(p.read_text())


def _type_ok(v: Any, t: str) -> bool:
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return isinstance(v, _TYPES[t])


def validate(value: Any, sch: dict[str, Any], *, path: str = "$") -> None:
    """Check ``value`` against ``sch``; ValidationError naming the JSON path of the first problem."""
    t = sch.get("type")
    if t is not None:
        ts = t if isinstance(t, list) else [t]
        if not any(_type_ok(value, x) for x in ts):
            raise ValidationError(f"must be {' or '.join(ts)}", field=path, value=value)
    if "enum" in sch and value not in sch["enum"]:
        raise ValidationError(f"must be one of {sch['enum']}", field=path, value=value)
    if isinstance(value, str) and len(value) < sch.get("minLength", 0):
        raise ValidationError(f"shorter than {sch['minLength']}", field=path, value=value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and "minimum" in sch and value < sch["minimum"]:
        raise ValidationError(f"below {sch['minimum']}", field=path, value=value)
    if isinstance(value, list):
        if len(value) < sch.get("minItems", 0):
            raise ValidationError(f"needs at least {sch['minItems']} items", field=path, value=value)
        for i, x in enumerate(value):
            validate(x, sch.get("items", {}), path=f"{path}[{i}]")
    if isinstance(value, dict):
        for r in sch.get("required", ()):
            if r not in value:
                raise ValidationError("is required", field=f"{path}.{r}", value=None)
        props = sch.get("properties", {})
        for k, v in value.items():
            if k in props:
                validate(v, props[k], path=f"{path}.{k}")
            elif sch.get("additionalProperties", True) is False:
                raise ValidationError("is not in the schema", field=f"{path}.{k}", value=v)


def check_message(m: Message) -> None:
    """Check a message's envelope and its payload against their schemas; ValidationError otherwise."""
    validate(json.loads(m.body()), schema("envelope"))
    validate(m.payload, schema(m.kind), path=f"{m.kind}.payload")
