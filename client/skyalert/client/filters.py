"""The filter language: safe, declarative JSON filters over an alert's normalised JSON.

One implementation for every channel: the Kafka client applies it on the subscriber's machine,
the server's live feed and email worker import it from here. Pure Python, no dependencies, no
eval. Compiling checks the whole filter once and bounds what matching can cost.

Forms::

    {"all": [F, ...]}            every F matches (an empty list matches everything)
    {"any": [F, ...]}            at least one F matches (an empty list matches nothing)
    {"not": F}                   F does not match
    {"field": "a.b.0.c", "op": OP, "value": V}
    {"cone": {"ra": deg, "dec": deg, "radius": deg}}

``field`` is a dotted path (a number picks a list element) or a JSON pointer (``/a/b.c/0``).
Operators: ``eq``/``ne`` (JSON equality; a number never equals a boolean; ``ne`` is exactly
``not eq``, so it matches alerts without the field), ``lt``/``le``/``gt``/``ge`` (numbers with
numbers, ISO 8601 times with times, other strings with strings; anything else is false), ``in``
(the field's value is one of a list of scalars), ``contains`` (a list field holds the value, or a
string field contains the string), ``exists`` (present and not null; ``"value": false`` for
absent). ``cone`` is true when the alert's top-level ``ra``/``dec`` lie within ``radius`` plus the
alert's ``ra_dec_error`` (all ICRS degrees; of an ellipse, its semi-major axis) of the centre,
by great-circle distance.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeGuard

from skyalert.client.errors import FilterError

__all__ = [
    "MAX_DEPTH",
    "MAX_IN_VALUES",
    "MAX_NODES",
    "MAX_STRING",
    "MAX_VALUES",
    "OPERATORS",
    "Filter",
    "FilterError",
    "compile_filter",
    "error_radius",
    "parse_filter",
]

#: Nesting of ``all``/``any``/``not`` (and of JSON inside a ``value``).
MAX_DEPTH: Final = 16
#: Filter objects in one filter.
MAX_NODES: Final = 256
#: Values in one ``in`` list.
MAX_IN_VALUES: Final = 1000
#: JSON values inside all ``value``s of one filter together.
MAX_VALUES: Final = 10_000
#: Characters in a field path or a string value.
MAX_STRING: Final = 1000
#: Characters of a filter given as JSON text.
MAX_TEXT: Final = 256 * 1024

OPERATORS: Final = ("eq", "ne", "lt", "le", "gt", "ge", "in", "contains", "exists")
#: Other languages' spellings, for the hint in an error (not accepted as operators).
_SPELLINGS: Final = {
    "==": "eq",
    "=": "eq",
    "!=": "ne",
    "<": "lt",
    "<=": "le",
    ">": "gt",
    ">=": "ge",
    "gte": "ge",
    "lte": "le",
    "neq": "ne",
    "equals": "eq",
    "nin": "in",
    "has": "contains",
}
_COMBINATORS: Final = ("all", "any", "not", "cone")
_FORMS: Final = "all, any, not, cone, or field/op/value"
#: Small slack so an alert exactly on the cone's edge is inside despite rounding.
_EDGE_DEG: Final = 1e-9
_LOOKS_LIKE_TIME: Final = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_MISSING: Final = object()

Alert = Mapping[str, Any]


class Filter:
    """A compiled filter: ``matches(alert)`` says whether an alert passes it."""

    __slots__ = ("_root", "_source")

    def __init__(self, root: _Node | None, source: dict[str, Any] | None) -> None:
        self._root = root
        self._source = source

    def matches(self, alert: Mapping[str, Any]) -> bool:
        """True when the alert (its normalised JSON) passes; never raises for odd alerts."""
        return True if self._root is None else self._root.matches(alert)

    def to_json(self) -> dict[str, Any] | None:
        """The filter as JSON (``None`` for "no filter"), e.g. to send to the server."""
        return None if self._source is None else json.loads(json.dumps(self._source))

    def __repr__(self) -> str:
        return f"Filter({json.dumps(self._source, separators=(',', ':'))})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filter) and self._source == other._source

    def __hash__(self) -> int:
        return hash(json.dumps(self._source, sort_keys=True))


def compile_filter(obj: Any) -> Filter:
    """Check a filter (parsed JSON, or a :class:`Filter`) and compile it.

    ``None`` means "no filter" and matches every alert. Raises :class:`FilterError` with a JSON
    pointer to the first mistake.
    """
    if isinstance(obj, Filter):
        return obj
    if obj is None:
        return Filter(None, None)
    compiler = _Compiler()
    root, source = compiler.node(obj, "", 0)
    return Filter(root, source)


def parse_filter(text: str | bytes) -> Filter:
    """Compile a filter given as JSON text (a command-line option, a query parameter)."""
    if len(text) > MAX_TEXT:
        raise FilterError("", f"the filter is longer than {MAX_TEXT} characters")
    try:
        obj = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise FilterError("", f"not valid JSON: {exc}") from None
    return compile_filter(obj)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# --- compiled nodes -------------------------------------------------------------------------


class _Node:
    __slots__ = ()

    def matches(self, alert: Alert) -> bool:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class _All(_Node):
    children: tuple[_Node, ...]

    def matches(self, alert: Alert) -> bool:
        return all(child.matches(alert) for child in self.children)


@dataclass(frozen=True, slots=True)
class _Any(_Node):
    children: tuple[_Node, ...]

    def matches(self, alert: Alert) -> bool:
        return any(child.matches(alert) for child in self.children)


@dataclass(frozen=True, slots=True)
class _Not(_Node):
    child: _Node

    def matches(self, alert: Alert) -> bool:
        return not self.child.matches(alert)


@dataclass(frozen=True, slots=True)
class _Field(_Node):
    path: tuple[tuple[str, int | None], ...]
    test: Callable[[Any], bool]

    def matches(self, alert: Alert) -> bool:
        return self.test(_lookup(alert, self.path))


@dataclass(frozen=True, slots=True)
class _Cone(_Node):
    ra: float
    dec: float
    radius: float

    def matches(self, alert: Alert) -> bool:
        if not isinstance(alert, Mapping):
            return False
        ra, dec = alert.get("ra"), alert.get("dec")
        if not (_is_number(ra) and _is_number(dec)) or not -90.0 <= dec <= 90.0:
            return False
        widen = error_radius(alert.get("ra_dec_error")) or 0.0
        return angular_distance(self.ra, self.dec, ra, dec) <= self.radius + widen + _EDGE_DEG


def error_radius(error: object) -> float | None:
    """A radius that holds an alert's ``ra_dec_error`` [deg], or None without a usable one.

    GCN's unified schema (core/Localization) gives a circle's radius or an ellipse as
    ``[semi-major, semi-minor, angle]``: the ellipse lies inside the circle of its semi-major axis.
    """
    if isinstance(error, list | tuple) and error:
        error = error[0]
    if not _is_number(error) or error <= 0:
        return None
    return float(error)


def angular_distance(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Great-circle distance in degrees (Vincenty's formula: stable at every separation)."""
    phi1, phi2 = math.radians(dec1), math.radians(dec2)
    delta = math.radians(ra2 - ra1)
    sin1, cos1, sin2, cos2 = math.sin(phi1), math.cos(phi1), math.sin(phi2), math.cos(phi2)
    x = cos2 * math.sin(delta)
    y = cos1 * sin2 - sin1 * cos2 * math.cos(delta)
    z = sin1 * sin2 + cos1 * cos2 * math.cos(delta)
    return math.degrees(math.atan2(math.hypot(x, y), z))


# --- matching helpers -----------------------------------------------------------------------


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _lookup(alert: Any, path: tuple[tuple[str, int | None], ...]) -> Any:
    current = alert
    for key, index in path:
        if isinstance(current, Mapping):
            current = current.get(key, _MISSING)
            if current is _MISSING:
                return _MISSING
        elif isinstance(current, list | tuple) and index is not None and index < len(current):
            current = current[index]
        else:
            return _MISSING
    return current


def _equal(field: Any, value: Any) -> bool:
    """JSON equality: booleans are not numbers, 1 == 1.0, containers compare deeply."""
    if isinstance(value, bool) or value is None:
        return field is value
    if isinstance(value, int | float):
        return _is_number(field) and field == value
    if isinstance(value, str):
        return isinstance(field, str) and field == value
    if isinstance(value, list):
        return (
            isinstance(field, list | tuple)
            and len(field) == len(value)
            and all(_equal(f, v) for f, v in zip(field, value, strict=True))
        )
    return (
        isinstance(field, Mapping)
        and len(field) == len(value)
        and all(key in field and _equal(field[key], v) for key, v in value.items())
    )


def _scalar_key(value: Any) -> tuple[str, Any] | None:
    """A hashable key equal exactly when two scalars are JSON-equal; None for containers."""
    if value is None:
        return ("null", None)
    if isinstance(value, bool):
        return ("bool", value)
    if _is_number(value):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    return None


def _parse_time(text: str) -> datetime | None:
    if not _LOOKS_LIKE_TIME.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


_ORDER: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}


def _ordering(op: str, value: float | str) -> Callable[[Any], bool]:
    compare = _ORDER[op]
    if not isinstance(value, str):
        return lambda field: _is_number(field) and compare(field, value)
    when = _parse_time(value)
    if when is None:
        return lambda field: isinstance(field, str) and compare(field, value)

    def at(field: Any) -> bool:
        other = _parse_time(field) if isinstance(field, str) else None
        return other is not None and compare(other, when)

    return at


def _contains(value: Any) -> Callable[[Any], bool]:
    def test(field: Any) -> bool:
        if isinstance(field, list | tuple):
            return any(_equal(item, value) for item in field)
        return isinstance(field, str) and isinstance(value, str) and value in field

    return test


# --- compiling ------------------------------------------------------------------------------


def _pointer(path: str, token: str | int) -> str:
    return f"{path}/{str(token).replace('~', '~0').replace('/', '~1')}"


def _kind(value: Any) -> str:
    kinds: tuple[tuple[type | tuple[type, ...], str], ...] = (
        (bool, "a boolean"),
        ((int, float), "a number"),
        (str, "a string"),
        ((list, tuple), "a list"),
        (Mapping, "an object"),
    )
    if value is None:
        return "null"
    for types, words in kinds:
        if isinstance(value, types):
            return words
    return f"a Python {type(value).__name__} (not JSON)"


def _suggest(word: str, choices: Sequence[str]) -> str:
    known = _SPELLINGS.get(word.lower())
    if known in choices:
        return f"did you mean {known!r}? "
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}? " if close else ""


class _Compiler:
    def __init__(self) -> None:
        self.nodes = 0
        self.values = 0

    def node(self, obj: Any, path: str, depth: int) -> tuple[_Node, dict[str, Any]]:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise FilterError(path, f"the filter has more than {MAX_NODES} parts")
        if depth > MAX_DEPTH:
            raise FilterError(path, f"filters nest at most {MAX_DEPTH} levels deep")
        if not isinstance(obj, Mapping):
            hint = "; compile JSON text with parse_filter()" if isinstance(obj, str) else ""
            raise FilterError(path, f"expected a filter object ({_FORMS}), got {_kind(obj)}{hint}")
        for key in obj:
            if not isinstance(key, str):
                raise FilterError(path, f"object keys must be strings, got {key!r}")
        if "field" in obj or "op" in obj:
            return self.field(obj, path)
        if not obj:
            raise FilterError(path, f"an empty object is not a filter; use one of {_FORMS}")
        unknown = [key for key in obj if key not in _COMBINATORS]
        if unknown:
            raise FilterError(
                _pointer(path, unknown[0]),
                f"unknown filter {unknown[0]!r}; {_suggest(unknown[0], _COMBINATORS)}"
                f"use one of {_FORMS}",
            )
        if len(obj) > 1:
            raise FilterError(
                path, f"a filter object has exactly one of {_FORMS}; combine several with 'all'"
            )
        ((key, inner),) = obj.items()
        here = _pointer(path, key)
        if key in ("all", "any"):
            if not isinstance(inner, list | tuple):
                raise FilterError(here, f"{key!r} takes a list of filters, got {_kind(inner)}")
            compiled = [
                self.node(item, _pointer(here, i), depth + 1) for i, item in enumerate(inner)
            ]
            nodes = tuple(c[0] for c in compiled)
            source = {key: [c[1] for c in compiled]}
            return (_All(nodes) if key == "all" else _Any(nodes)), source
        if key == "not":
            child, child_source = self.node(inner, here, depth + 1)
            return _Not(child), {"not": child_source}
        return self.cone(inner, here)

    def cone(self, obj: Any, path: str) -> tuple[_Node, dict[str, Any]]:
        if not isinstance(obj, Mapping):
            raise FilterError(
                path, f'expected {{"ra": …, "dec": …, "radius": …}}, got {_kind(obj)}'
            )
        for key in obj:
            if key not in ("ra", "dec", "radius"):
                raise FilterError(
                    _pointer(path, str(key)), f"unknown key {key!r}; a cone has ra, dec and radius"
                )
        numbers: dict[str, float] = {}
        limits = {
            "ra": (0.0, 360.0, "between 0 and 360 degrees"),
            "dec": (-90.0, 90.0, "between -90 and 90 degrees"),
            "radius": (0.0, 180.0, "more than 0 and at most 180 degrees"),
        }
        for key, (low, high, words) in limits.items():
            if key not in obj:
                raise FilterError(path, f"a cone needs {key!r} (degrees)")
            value = obj[key]
            if not _is_number(value):
                raise FilterError(
                    _pointer(path, key), f"{key} must be a number, got {_kind(value)}"
                )
            if not low <= value <= high or (key == "radius" and value == 0):
                raise FilterError(_pointer(path, key), f"{key} must be {words}, got {value}")
            numbers[key] = float(value)
        source = {"cone": dict(numbers)}
        return _Cone(numbers["ra"], numbers["dec"], numbers["radius"]), source

    def field(self, obj: Mapping[str, Any], path: str) -> tuple[_Node, dict[str, Any]]:
        for key in obj:
            if key not in ("field", "op", "value"):
                raise FilterError(
                    _pointer(path, key),
                    f"unknown key {key!r}; a field filter has field, op and value",
                )
        if "field" not in obj:
            raise FilterError(path, "a field filter needs 'field' (a path such as \"position.ra\")")
        if "op" not in obj:
            raise FilterError(path, f"a field filter needs 'op', one of {', '.join(OPERATORS)}")
        steps = self.path(obj["field"], _pointer(path, "field"))
        op = obj["op"]
        op_path = _pointer(path, "op")
        if not isinstance(op, str) or op not in OPERATORS:
            hint = _suggest(op, OPERATORS) if isinstance(op, str) else ""
            raise FilterError(
                op_path, f"unknown operator {op!r}; {hint}use one of {', '.join(OPERATORS)}"
            )
        value_path = _pointer(path, "value")
        if "value" not in obj and op != "exists":
            raise FilterError(path, f"the {op!r} operator needs a 'value'")
        value = self.json_value(obj.get("value", True), value_path, 0)
        source = {"field": obj["field"], "op": op, "value": value}
        return _Field(steps, self.test(op, value, value_path)), source

    def test(self, op: str, value: Any, path: str) -> Callable[[Any], bool]:
        if op == "eq":
            return lambda field: _equal(field, value)
        if op == "ne":
            return lambda field: not _equal(field, value)
        if op in _ORDER:
            if not (_is_number(value) or isinstance(value, str)):
                raise FilterError(
                    path, f"{op!r} compares numbers, times or strings, got {_kind(value)}"
                )
            if (
                isinstance(value, str)
                and _LOOKS_LIKE_TIME.match(value)
                and _parse_time(value) is None
            ):
                raise FilterError(path, f"{value!r} is not a valid ISO 8601 time")
            return _ordering(op, value)
        if op == "in":
            return self.membership(value, path)
        if op == "contains":
            return _contains(value)
        if not isinstance(value, bool):
            raise FilterError(path, f"'exists' takes true or false, got {_kind(value)}")
        wanted = value
        return lambda field: (field is not _MISSING and field is not None) == wanted

    def membership(self, value: Any, path: str) -> Callable[[Any], bool]:
        if not isinstance(value, list):
            raise FilterError(path, f"'in' takes a list of values, got {_kind(value)}")
        if len(value) > MAX_IN_VALUES:
            raise FilterError(path, f"'in' takes at most {MAX_IN_VALUES} values, got {len(value)}")
        keys = set()
        for index, item in enumerate(value):
            key = _scalar_key(item)
            if key is None:
                raise FilterError(
                    _pointer(path, index),
                    f"'in' lists strings, numbers, booleans or null, got {_kind(item)}",
                )
            keys.add(key)
        frozen = frozenset(keys)
        return lambda field: _scalar_key(field) in frozen

    def path(self, field: Any, where: str) -> tuple[tuple[str, int | None], ...]:
        if not isinstance(field, str):
            raise FilterError(where, f"'field' must be a string path, got {_kind(field)}")
        if not field or len(field) > MAX_STRING:
            raise FilterError(where, f"'field' must have 1 to {MAX_STRING} characters")
        if field.startswith("/"):
            parts = [p.replace("~1", "/").replace("~0", "~") for p in field[1:].split("/")]
        else:
            parts = field.split(".")
            if "" in parts:
                raise FilterError(
                    where, f"{field!r} has an empty step; write steps as a.b.c (or a JSON pointer)"
                )
        if len(parts) > MAX_DEPTH * 2:
            raise FilterError(where, f"{field!r} has more than {MAX_DEPTH * 2} steps")
        return tuple((part, int(part) if part.isdecimal() else None) for part in parts)

    def json_value(self, value: Any, path: str, depth: int) -> Any:
        """Check a ``value`` is plain, bounded JSON; return a private copy."""
        self.values += 1
        if self.values > MAX_VALUES:
            raise FilterError(path, f"the filter holds more than {MAX_VALUES} values")
        if depth > MAX_DEPTH:
            raise FilterError(path, f"values nest at most {MAX_DEPTH} levels deep")
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            if not math.isfinite(value):
                raise FilterError(path, f"{value} is not a JSON number")
            return value
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                raise FilterError(path, f"strings have at most {MAX_STRING} characters")
            return value
        if isinstance(value, list | tuple):
            return [self.json_value(v, _pointer(path, i), depth + 1) for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            copy = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise FilterError(path, f"object keys must be strings, got {key!r}")
                copy[key] = self.json_value(item, _pointer(path, key), depth + 1)
            return copy
        raise FilterError(path, f"expected a JSON value, got {_kind(value)}")
