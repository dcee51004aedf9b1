"""Validate alert documents against JSON Schemas (draft 2020-12): ours and NASA's GCN releases.

Every ``*.schema.json`` under the package's ``json/`` folder, and under each cached release of
``@nasa-gcn/schema`` handed to :func:`load_registry`, is loaded once into a
:class:`referencing.Registry`. Nothing is ever fetched from the network: a ``$ref`` that points
at a schema outside them makes :func:`load_registry` fail with :class:`SchemaRegistryError`
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

from skyalert.schemas import gcn_release

#: Every packaged schema's ``$id`` is this prefix plus its path below ``json/``.
SCHEMA_BASE_URI = "https://schemas.skyalert.org/v1/"
#: The only dialect the packaged schemas may declare.
DIALECT = "https://json-schema.org/draft/2020-12/schema"

_SCHEMA_SUFFIX = ".schema.json"
_EXAMPLE_SUFFIX = ".example.json"
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

    def __init__(
        self,
        schemas: Iterable[Mapping[str, Any]],
        gcn_version: str | None = None,
        examples: Iterable[tuple[str, Mapping[str, Any]]] = (),
    ) -> None:
        #: The GCN release that relative ``schema_ref`` values of the catalog point into.
        self.gcn_version = gcn_version
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
        self._examples: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
        for name, example in examples:
            self._examples.setdefault(str(example.get("$schema")), []).append((name, example))

    @classmethod
    def from_directory(cls, root: Traversable, base_uri: str = SCHEMA_BASE_URI) -> SchemaRegistry:
        """Load every ``*.schema.json`` below ``root``; each ``$id`` must be base + its path."""
        return cls(read_schemas(root, base_uri))

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

    def resolve(self, ref: str, declared: object = None) -> str:
        """The ``$id`` to validate against for a catalog ``schema_ref``.

        An absolute URI is one of our own schemas. A path is a schema of the GCN release: the
        release a document names in its own ``$schema`` when that release is cached (so alerts
        keep validating against the version they were written for), else the configured one.
        """
        if _URI_SCHEME.match(ref):
            return ref
        if isinstance(declared, str):
            split = gcn_release.split_schema_id(declared)
            if split is not None and split[1] == ref and declared in self._schemas:
                return declared
        if self.gcn_version is None:
            raise UnknownSchemaError(
                f"{ref} is a schema of NASA's GCN schema package and no release of it is "
                "loaded; fetch it with `skyalert schemas fetch`"
            )
        return gcn_release.base_uri(self.gcn_version) + ref

    def examples(self, schema_id: str) -> list[tuple[str, Mapping[str, Any]]]:
        """``(file name, document)`` of every example shipped for this schema."""
        return list(self._examples.get(schema_id, ()))

    def violations(self, schema_id: str, document: object) -> list[Violation]:
        """Every way ``document`` breaks the schema, sorted by path; empty if it is valid."""
        found = {
            Violation(json_pointer(error.absolute_path), str(error.message))
            for error in self.validator(schema_id).iter_errors(document)
        }
        return sorted(found)


def _files(folder: Traversable, prefix: str, suffix: str) -> Iterator[tuple[str, Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir() and not entry.name.startswith("."):
            yield from _files(entry, f"{prefix}{entry.name}/", suffix)
        elif entry.name.endswith(suffix):
            yield f"{prefix}{entry.name}", entry


def _read_object(relative: str, entry: Traversable) -> dict[str, Any]:
    try:
        document = json.loads(entry.read_text("utf-8"))
    except ValueError as error:
        raise SchemaRegistryError(f"{relative} is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise SchemaRegistryError(f"{relative} is not a JSON object")
    return document


def read_schemas(root: Traversable, base_uri: str) -> list[dict[str, Any]]:
    """Every ``*.schema.json`` below ``root``, each checked to have ``$id`` base + its path."""
    schemas = []
    for relative, entry in _files(root, "", _SCHEMA_SUFFIX):
        schema = _read_object(relative, entry)
        if schema.get("$id") != base_uri + relative:
            raise SchemaRegistryError(
                f"{relative} has $id {schema.get('$id')!r}, expected {base_uri + relative!r}"
            )
        schemas.append(schema)
    return schemas


def read_examples(root: Traversable) -> list[tuple[str, dict[str, Any]]]:
    """Every ``*.example.json`` below ``root`` as ``(path, document)``."""
    return [(rel, _read_object(rel, entry)) for rel, entry in _files(root, "", _EXAMPLE_SUFFIX)]


def schema_directory() -> Traversable:
    """The packaged ``json/`` folder (schemas, plus ``examples/``)."""
    return resources.files("skyalert.schemas").joinpath("json")


@cache
def load_registry(
    gcn_releases: tuple[tuple[str, Traversable], ...] = (), gcn_version: str | None = None
) -> SchemaRegistry:
    """Our packaged schemas plus each ``(version, package folder)`` of GCN's, loaded once.

    ``gcn_version`` (one of the releases) is the one new alerts are checked against.
    """
    if gcn_version is not None and gcn_version not in dict(gcn_releases):
        raise SchemaRegistryError(f"GCN schema release {gcn_version} is not among those loaded")
    ours = schema_directory()
    schemas = read_schemas(ours, SCHEMA_BASE_URI)
    examples = read_examples(ours)
    for version, folder in gcn_releases:
        schemas += read_schemas(folder, gcn_release.base_uri(version))
        examples += read_examples(folder)
    return SchemaRegistry(schemas, gcn_version, examples)
