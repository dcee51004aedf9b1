"""NASA's @nasa-gcn/schema release as our data contract: its schemas, its examples, our topics."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from skyalert.broker.core.downloads import marker_of
from skyalert.broker.core.settings import Settings
from skyalert.broker.ingest.contract import check_alert
from skyalert.broker.ingest.reasons import Rejected
from skyalert.client.filters import error_radius
from skyalert.schemas.catalog import load_catalog
from skyalert.schemas.fields import schema_fields
from skyalert.schemas.formats import ContentType
from skyalert.schemas.gcn_release import PINNED, base_uri
from skyalert.schemas.validation import (
    SCHEMA_BASE_URI,
    SchemaRegistry,
    SchemaRegistryError,
    UnknownSchemaError,
    load_registry,
)
from support.gcn_examples import (
    Example,
    examples,
    gcn_registry,
    guano_document,
    notice_examples,
    release_folder,
)

VERSION = Settings().gcn_schema_version
BASE = base_uri(VERSION)
CATALOG = load_catalog()
#: The topics whose contract is a schema of NASA's package (a path in it, not one of our $ids).
GCN_JSON_TOPICS = [
    t
    for t in CATALOG.topics
    if t.content_type is ContentType.JSON
    and not str(t.schema_ref).startswith(SCHEMA_BASE_URI)
    and not t.name.startswith("gcn.circulars.")  # our sub-topics of GCN's circulars stream
]


def by_path(items: tuple[Example, ...]) -> dict[str, Example]:
    return {e.path: e for e in items}


def test_the_pinned_release_is_the_one_cached() -> None:
    folder = release_folder()
    assert json.loads((folder / "package.json").read_text())["version"] == VERSION == "7.2.3"
    assert json.loads((folder / "package.json").read_text())["name"] == "@nasa-gcn/schema"
    assert marker_of(folder.parent) == PINNED[VERSION]


def test_every_schema_of_the_release_is_loaded_with_its_refs_resolved() -> None:
    registry = gcn_registry()
    files = sorted(p.relative_to(release_folder()) for p in release_folder().rglob("*.schema.json"))
    assert len(files) == 41
    gcn_ids = {i for i in registry.ids if i.startswith(BASE)}
    assert gcn_ids == {BASE + str(f) for f in files}
    assert registry.gcn_version == VERSION


@pytest.mark.parametrize("item", examples(), ids=lambda e: e.path)
def test_every_shipped_example_keeps_its_own_schema(item: Example) -> None:
    schema_id = item.document["$schema"]
    assert schema_id.startswith(BASE)
    assert gcn_registry().violations(schema_id, item.document) == []


def test_the_examples_are_45_notices_and_5_core_fragments() -> None:
    assert len(examples()) == 50
    fragments = [e.path for e in examples() if e.topic is None]
    assert fragments == [
        f"gcn/notices/core/{name}.example.json"
        for name in ("Localization", "Pointing", "Reporter", "Spectral", "Statistics")
    ]
    assert len(notice_examples()) == 45


@pytest.mark.parametrize("topic", GCN_JSON_TOPICS, ids=lambda t: t.name)
def test_each_gcn_json_topic_has_a_schema_of_the_release_and_examples(topic: Any) -> None:
    registry = gcn_registry()
    schema_id = registry.resolve(topic.schema_ref)
    assert schema_id == BASE + topic.schema_ref
    assert schema_id in registry
    assert registry.examples(schema_id), f"{topic.name}: the release ships no example"
    assert schema_fields(registry, schema_id)  # its topic page can list them


def test_the_catalog_has_every_gcn_json_topic() -> None:
    assert len(GCN_JSON_TOPICS) == 19
    topics = {e.topic.name for e in notice_examples() if e.topic is not None}
    assert topics == {t.name for t in GCN_JSON_TOPICS}


def _expected_error(document: dict[str, Any]) -> float | None:
    error = document.get("ra_dec_error")
    if isinstance(error, list):
        return float(error[0])  # an ellipse: its semi-major axis
    return None if error is None else float(error)


@pytest.mark.parametrize("item", notice_examples(), ids=lambda e: e.path)
def test_every_notice_example_is_accepted_on_its_topic(item: Example) -> None:
    assert item.topic is not None
    checked = check_alert(item.topic, item.raw(), "application/json", gcn_registry())
    document = item.document
    assert checked.schema_id == document["$schema"]
    assert checked.document == document
    assert checked.test == (document.get("alert_tense") == "test")
    has_position = "ra" in document and "dec" in document
    assert checked.ra == (document["ra"] if has_position else None)
    assert checked.dec == (document["dec"] if has_position else None)
    assert checked.ra_dec_error == _expected_error(document)
    assert checked.ra_dec_error == error_radius(document.get("ra_dec_error"))
    when = document.get("trigger_time") or document.get("alert_datetime")
    if when is None:
        assert checked.event_time is None
    else:
        assert checked.event_time is not None
        assert checked.event_time.isoformat().startswith(when[:19])


def _mutated(item: Example) -> tuple[dict[str, Any], str]:
    """The example with its first string field that the schema types as a string made a number."""
    typed = {f.name for f in schema_fields(gcn_registry(), item.document["$schema"])}
    for key, value in item.document.items():
        if key != "$schema" and isinstance(value, str) and key in typed:
            mutated = {**item.document, key: 12345}
            if gcn_registry().violations(item.document["$schema"], mutated):
                return mutated, "/" + key
    raise AssertionError(f"{item.path}: no string field to break")


@pytest.mark.parametrize("item", notice_examples(), ids=lambda e: e.path)
def test_a_broken_copy_of_every_example_is_refused_with_the_violation(item: Example) -> None:
    assert item.topic is not None
    mutated, pointer = _mutated(item)
    with pytest.raises(Rejected) as refused:
        check_alert(item.topic, json.dumps(mutated).encode(), "application/json", gcn_registry())
    assert refused.value.reason == "schema_violation"
    paths = [v.path for v in refused.value.violations]
    assert pointer in paths
    message = next(v.message for v in refused.value.violations if v.path == pointer)
    assert "12345" in message
    assert item.document["$schema"] in refused.value.detail


def test_an_alert_naming_another_gcn_schema_is_refused() -> None:
    chime = CATALOG.by_name["gcn.notices.chime.alert"]
    with pytest.raises(Rejected) as refused:
        check_alert(chime, json.dumps(guano_document()).encode(), None, gcn_registry())
    by_path = {v.path: v.message for v in refused.value.violations}
    assert "gcn/notices/chime/frb.schema.json" in by_path["/$schema"]
    assert "Guano.schema.json" in by_path["/$schema"]


def test_an_alert_naming_a_release_we_lack_is_checked_against_ours() -> None:
    document = guano_document()
    document["$schema"] = document["$schema"].replace(f"/v{VERSION}/", "/v1.0.0/")
    topic = CATALOG.by_name["gcn.notices.swift.bat.guano"]
    checked = check_alert(topic, json.dumps(document).encode(), None, gcn_registry())
    assert checked.schema_id == BASE + "gcn/notices/swift/bat/Guano.schema.json"


def _older_release(tmp_path: Path, version: str) -> Path:
    """The cached release re-labelled as an older one whose GUANO schema also needs ``far``."""
    folder = tmp_path / version
    shutil.copytree(release_folder() / "gcn", folder / "gcn")
    for path in folder.rglob("*.json"):
        path.write_text(path.read_text("utf-8").replace(f"/v{VERSION}/", f"/v{version}/"))
    guano = folder / "gcn/notices/swift/bat/Guano.schema.json"
    schema = json.loads(guano.read_text())
    schema["required"] = ["far"]
    guano.write_text(json.dumps(schema))
    return folder


def test_alerts_validate_against_the_release_they_name_when_it_is_cached(tmp_path: Path) -> None:
    older = _older_release(tmp_path, "7.0.0")
    registry = load_registry((("7.0.0", older), (VERSION, release_folder())), VERSION)
    topic = CATALOG.by_name["gcn.notices.swift.bat.guano"]
    document = guano_document()
    del document["far"]
    assert check_alert(topic, json.dumps(document).encode(), None, registry).schema_id == (
        BASE + str(topic.schema_ref)
    )
    document["$schema"] = base_uri("7.0.0") + str(topic.schema_ref)
    with pytest.raises(Rejected) as refused:
        check_alert(topic, json.dumps(document).encode(), None, registry)
    assert "'far' is a required property" in [v.message for v in refused.value.violations]
    document["far"] = 0.01
    checked = check_alert(topic, json.dumps(document).encode(), None, registry)
    assert checked.schema_id == base_uri("7.0.0") + str(topic.schema_ref)


def test_the_current_release_must_be_loaded() -> None:
    with pytest.raises(SchemaRegistryError, match=r"9\.9\.9 is not among"):
        load_registry((), "9.9.9")
    ours_only = SchemaRegistry([])
    with pytest.raises(UnknownSchemaError, match="skyalert schemas fetch"):
        ours_only.resolve("gcn/notices/swift/bat/Guano.schema.json")


@pytest.mark.parametrize(
    ("ra", "dec"), [(400.0, 25.0), (-1.0, 25.0), (360.0, 0.0), (10.0, 90.5), (10.0, -91.0)]
)
def test_an_impossible_position_is_kept_but_not_indexed(ra: float, dec: float) -> None:
    topic = CATALOG.by_name["gcn.notices.swift.bat.guano"]
    raw = json.dumps(guano_document(ra=ra, dec=dec)).encode()
    checked = check_alert(topic, raw, None, gcn_registry())  # NASA's schema sets no bounds
    assert (checked.document["ra"], checked.document["dec"]) == (ra, dec)
    assert (checked.ra, checked.dec) == (None, None)
