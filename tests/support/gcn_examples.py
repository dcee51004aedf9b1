"""NASA's own example notices from the cached @nasa-gcn/schema release, and the registry with it."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from skyalert.broker.core.settings import Settings
from skyalert.broker.ingest.schema_release import contract_registry, fetch_release, schema_cache
from skyalert.schemas.catalog import Topic, load_catalog
from skyalert.schemas.gcn_release import split_schema_id
from skyalert.schemas.validation import SchemaRegistry

ROOT = Path(__file__).resolve().parents[2]
# Tests and benchmarks read schema releases from the checkout's var folder, fetched by
# `make system` like Kafka's jars; every Settings they build and process they start inherits it.
os.environ.setdefault("SKYALERT_SCHEMA_CACHE", str(ROOT / "var" / "schemas"))

#: The Swift BAT-GUANO example with a position (the plain Guano example has none).
GUANO_EXAMPLE = "gcn/notices/swift/bat/guano.loc_arc_min.example.json"


@dataclass(frozen=True)
class Example:
    #: Its path in the package, e.g. ``gcn/notices/maxi/gsc.unknown.circle.example.json``.
    path: str
    document: dict[str, Any]

    @property
    def schema_path(self) -> str:
        split = split_schema_id(self.document["$schema"])
        assert split is not None, self.document["$schema"]
        return split[1]

    @property
    def topic(self) -> Topic | None:
        """The catalog topic whose schema it follows (None for core fragments)."""
        found = [t for t in load_catalog().topics if t.schema_ref == self.schema_path]
        # GCN's name, not one of our sub-topics of it (gcn.circulars, not gcn.circulars.grb).
        return min(found, key=lambda t: t.name.count(".")) if found else None

    def raw(self, **changes: object) -> bytes:
        return json.dumps({**self.document, **changes}).encode()


def release_folder() -> Path:
    """The unpacked package of the configured release, fetched by ``make system``."""
    settings = Settings()
    return fetch_release(schema_cache(settings), settings.gcn_schema_version)


@cache
def gcn_registry() -> SchemaRegistry:
    return contract_registry(Settings())


@cache
def examples() -> tuple[Example, ...]:
    """Every ``*.example.json`` of the release, in path order."""
    root = release_folder()
    return tuple(
        Example(str(path.relative_to(root)), json.loads(path.read_text("utf-8")))
        for path in sorted(root.rglob("*.example.json"))
    )


def notice_examples() -> tuple[Example, ...]:
    """The examples that are whole notices of a topic (not fragments of the core schemas)."""
    return tuple(e for e in examples() if e.topic is not None)


def example(path: str) -> Example:
    return next(e for e in examples() if e.path == path)


def guano(**changes: object) -> bytes:
    """NASA's Swift BAT-GUANO example with a unique ``id`` (one alert per call), as bytes."""
    document = dict(example(GUANO_EXAMPLE).document)
    document["id"] = [uuid.uuid4().hex]
    document.update(changes)
    return json.dumps(document).encode()


def guano_document(**changes: object) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(guano(**changes))
    return document
