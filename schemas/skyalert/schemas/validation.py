"""Validate alert documents against the packaged JSON Schemas (draft 2020-12).

Every ``*.schema.json`` under the package's ``json/`` folder is loaded once into a
:class:`referencing.Registry`. Nothing is ever fetched from the network: a ``$ref`` that points
at a schema outside the package makes :func:`load_registry` fail with :class:`SchemaRegistryError`
naming the schema and the reference.

>>> registry = load_registry()
>>> registry.violations("https://schemas.skyalert.org/v1/skyalert/heartbeat.schema.json", {})
[Violation(path='', message="'alert_datetime' is a required property")]
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any
from urllib.parse import urljoin

from jsonschema import (  # type: ignore[import-untyped, unused-ignore]
    Draft202012Validator,
    FormatChecker,
)
from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped, unused-ignore]
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

#: Every packaged schema's ``$id`` is this prefix plus its path below ``json/``.
SCHEMA_BASE_URI = "https://schemas.skyalert.org/v1/"
#: The only dialect the packaged schemas may declare.
DIALECT = "https://json-schema.org/draft/2020-12/schema"

_SCHEMA_SUFFIX = ".schema.json"
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S*$")
_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.\d+)?([Zz]|[+-]\d{2}:\d{2})$",
)


class SchemaRegistryError(Exception):
    """The schemas themselves are broken: bad JSON, a wrong ``$id``, an unresolvable ``$ref``…"""


class UnknownSchemaError(LookupError):
    """No schema with this ``$id`` is registered."""


@dataclass(frozen=True, order=True)
class Violation:
    """One way a document breaks its schema."""

    #: RFC 6901 JSON pointer to the offending value; ``""`` for the document itself.
    path: str
    message: str


def json_pointer(parts: Iterable[str | int]) -> str:
    """The RFC 6901 pointer for a sequence of keys and indexes (``""`` for none)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _is_datetime(instance: object) -> bool:
    """RFC 3339 ``date-time``, checked without jsonschema's optional dependencies."""
    if not isinstance(instance, str):
        return True
    match = _RFC3339.match(instance)
    if match is None:
        return False
    day, time, offset = match.groups()
    if offset in ("Z", "z"):
        offset = "+00:00"
    datetime.fromisoformat(f"{day}T{time}{offset}")  # ValueError for a month 13, a 31 April…
    return True


def _is_uri(instance: object) -> bool:
    """An absolute URI: a scheme, then no whitespace (jsonschema's check needs rfc3987)."""
    return not isinstance(instance, str) or bool(_URI_SCHEME.match(instance))


def _format_checker() -> Any:
    checker = FormatChecker()
    checker.checks("date-time", raises=ValueError)(_is_datetime)
    checker.checks("uri")(_is_uri)
    return checker


def _references(resource: Resource[Any], base_uri: str) -> Iterator[tuple[str, str]]:
    """Every ``($ref or $dynamicRef, base URI)`` in a schema and all its subschemas."""
    own_id = resource.id()
    if own_id is not None:
        base_uri = urljoin(base_uri, own_id)
    contents = resource.contents
    if isinstance(contents, Mapping):
        for keyword in ("$ref", "$dynamicRef"):
            ref = contents.get(keyword)
            if isinstance(ref, str):
                yield ref, base_uri
    for sub in resource.subresources():
        yield from _references(sub, base_uri)


class SchemaRegistry:
    """A closed set of JSON Schemas, keyed by ``$id``, with validators for them."""

    def __init__(self, schemas: Iterable[Mapping[str, Any]]) -> None:
        self._schemas: dict[str, Mapping[str, Any]] = {}
        for schema in schemas:
            schema_id = schema.get("$id")
            if not isinstance(schema_id, str) or not schema_id:
                raise SchemaRegistryError(f"a schema has no $id: {str(schema)[:200]}")
            if schema_id in self._schemas:
                raise SchemaRegistryError(f"two schemas share the $id {schema_id}")
            if schema.get("$schema") != DIALECT:
                raise SchemaRegistryError(f"{schema_id}: $schema must be {DIALECT}")
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as error:
                where = json_pointer(error.absolute_path) or "the root"
                raise SchemaRegistryError(
                    f"{schema_id} is not a valid JSON Schema (at {where}): {error.message}"
                ) from error
            self._schemas[schema_id] = schema
        # No ``retrieve`` callable: an unknown URI raises instead of being fetched.
        self._registry: Registry[Any] = (
            Registry()
            .with_resources(
                (schema_id, DRAFT202012.create_resource(schema))
                for schema_id, schema in self._schemas.items()
            )
            .crawl()
        )
        self._check_references()
        self._format_checker = _format_checker()
        self._validators: dict[str, Any] = {}

    @classmethod
    def from_directory(cls, root: Traversable, base_uri: str = SCHEMA_BASE_URI) -> SchemaRegistry:
        """Load every ``*.schema.json`` below ``root``; each ``$id`` must be base + its path."""
        schemas = []
        for relative, entry in _schema_files(root, ""):
            try:
                schema = json.loads(entry.read_text("utf-8"))
            except ValueError as error:
                raise SchemaRegistryError(f"{relative} is not valid JSON: {error}") from error
            if not isinstance(schema, dict):
                raise SchemaRegistryError(f"{relative} is not a JSON object")
            if schema.get("$id") != base_uri + relative:
                raise SchemaRegistryError(
                    f"{relative} has $id {schema.get('$id')!r}, expected {base_uri + relative!r}"
                )
            schemas.append(schema)
        return cls(schemas)

    def _check_references(self) -> None:
        for schema_id in self._schemas:
            for ref, base_uri in _references(self._registry[schema_id], schema_id):
                try:
                    self._registry.resolver(base_uri=base_uri).lookup(ref)
                except Unresolvable as error:
                    raise SchemaRegistryError(
                        f"{schema_id}: $ref {ref!r} does not resolve to a packaged schema "
                        f"({error!r}); schemas are never fetched from the network"
                    ) from error

    @property
    def ids(self) -> frozenset[str]:
        """The ``$id`` of every registered schema."""
        return frozenset(self._schemas)

    @property
    def registry(self) -> Registry[Any]:
        """The underlying :mod:`referencing` registry (to build validators of your own)."""
        return self._registry

    def __contains__(self, schema_id: object) -> bool:
        return schema_id in self._schemas

    def schema(self, schema_id: str) -> Mapping[str, Any]:
        """The schema document with this ``$id``."""
        try:
            return self._schemas[schema_id]
        except KeyError:
            raise UnknownSchemaError(f"no schema with $id {schema_id!r}") from None

    def validator(self, schema_id: str) -> Draft202012Validator:
        """A draft 2020-12 validator for this schema, with format assertions on."""
        validator = self._validators.get(schema_id)
        if validator is None:
            validator = Draft202012Validator(
                self.schema(schema_id),
                registry=self._registry,
                format_checker=self._format_checker,
            )
            self._validators[schema_id] = validator
        return validator

    def violations(self, schema_id: str, document: object) -> list[Violation]:
        """Every way ``document`` breaks the schema, sorted by path; empty if it is valid."""
        found = {
            Violation(json_pointer(error.absolute_path), str(error.message))
            for error in self.validator(schema_id).iter_errors(document)
        }
        return sorted(found)


def _schema_files(folder: Traversable, prefix: str) -> Iterator[tuple[str, Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from _schema_files(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith(_SCHEMA_SUFFIX):
            yield f"{prefix}{entry.name}", entry


def schema_directory() -> Traversable:
    """The packaged ``json/`` folder (schemas, plus ``examples/``)."""
    return resources.files("skyalert.schemas").joinpath("json")


@cache
def load_registry() -> SchemaRegistry:
    """The registry of every packaged schema, loaded once per process."""
    return SchemaRegistry.from_directory(schema_directory())
