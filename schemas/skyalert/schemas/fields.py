"""The fields of a topic's JSON Schema as a flat, readable list: name, type, unit, meaning.

The portal's topic pages show it. Units are written in square brackets at the end of a field's
description or of a clause in it, as NASA's GCN schemas do (``"ICRS right ascension [deg],
utilizes the J2000 epoch"``); ``[low, high]`` describes a pair, not a unit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from referencing._core import Resolver

from skyalert.schemas.validation import SchemaRegistry

#: A unit closes the description or a clause (before a ``;``, ``,`` or ``.``).
_UNIT = re.compile(r"\s*\[([^\[\],]+)\](?=\s*(?:[;,.]|$))")
#: Nested objects are listed down to this depth (``event.time`` is depth 2).
MAX_DEPTH = 3


@dataclass(frozen=True)
class SchemaField:
    """One property of an alert document; ``name`` is dotted for nested objects."""

    name: str
    type: str
    unit: str
    description: str
    required: bool


def split_unit(description: str) -> tuple[str, str]:
    """``("Duration [s]; Burst only")`` -> ``("Duration; Burst only", "s")``."""
    units = list(_UNIT.finditer(description))
    if not units:
        return description, ""
    last = units[-1]
    text = (description[: last.start()] + description[last.end() :]).strip()
    return text, last.group(1)


def _type_name(schema: Mapping[str, Any]) -> str:
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    kind = schema.get("type")
    names = kind if isinstance(kind, list) else [kind] if kind else []
    shown = []
    for name in names:
        if name == "array" and isinstance(schema.get("items"), Mapping):
            inner = _type_name(schema["items"])
            shown.append(f"array of {inner}" if inner else "array")
        elif name == "string" and "format" in schema:
            shown.append(f"string ({schema['format']})")
        else:
            shown.append(str(name))
    return " | ".join(shown)


def _resolve(resolver: Resolver[Any], schema: Mapping[str, Any]) -> tuple[Resolver[Any], Any]:
    """Follow ``$ref`` chains; a property's own keywords win over the referenced ones."""
    merged: dict[str, Any] = dict(schema)
    while "$ref" in merged:
        resolved = resolver.lookup(merged.pop("$ref"))
        resolver = resolved.resolver
        merged = {**resolved.contents, **merged}
    return resolver, merged


def _walk(
    resolver: Resolver[Any], schema: Mapping[str, Any], prefix: str, depth: int
) -> Iterator[tuple[str, Mapping[str, Any] | None]]:
    """``(name, schema)`` per property, and ``(name, None)`` for each required name."""
    resolver, schema = _resolve(resolver, schema)
    for part in schema.get("allOf", []):
        yield from _walk(resolver, part, prefix, depth)
    for name in schema.get("required", []):
        yield prefix + name, None
    for name, sub in schema.get("properties", {}).items():
        if name == "$schema":
            continue
        sub_resolver, resolved = _resolve(resolver, sub)
        yield prefix + name, resolved
        if depth < MAX_DEPTH and "properties" in resolved:
            yield from _walk(sub_resolver, resolved, f"{prefix}{name}.", depth + 1)


def schema_fields(registry: SchemaRegistry, schema_id: str) -> list[SchemaField]:
    """Every field of the schema, in document order, each listed once (the most specific wins).

    ``required`` means required in every alert; fields required only in some cases (``if``/
    ``else``, such as a position except in retractions) are not marked.
    """
    resolver = registry.registry.resolver(base_uri=schema_id)
    found: dict[str, SchemaField] = {}
    required: set[str] = set()
    for name, schema in _walk(resolver, registry.schema(schema_id), "", 1):
        if schema is None:
            required.add(name)
            continue
        description, unit = split_unit(str(schema.get("description", "")))
        known = found.get(name)
        found[name] = SchemaField(
            name=name,
            type=_type_name(schema) or (known.type if known else ""),
            unit=unit or (known.unit if known else ""),
            description=description or (known.description if known else ""),
            required=False,
        )
    return [replace(f, required=f.name in required) for f in found.values()]


def example_alert(registry: SchemaRegistry, schema_id: str) -> str | None:
    """The fullest example shipped for a schema, pretty-printed, or None if there is none."""
    examples = [document for _, document in registry.examples(schema_id)]
    if not examples:
        return None
    return json.dumps(max(examples, key=len), indent=2, ensure_ascii=False)
