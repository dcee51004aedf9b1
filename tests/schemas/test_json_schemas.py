"""Our own packaged JSON Schemas, their examples, and skyalert.schemas.validation.

NASA's GCN schemas and examples are tested in test_gcn_schemas.py.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import urllib.request
from collections.abc import Iterator
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing.exceptions import Unresolvable

from skyalert.schemas.catalog import load_catalog
from skyalert.schemas.formats import ContentType
from skyalert.schemas.validation import (
    DIALECT,
    SCHEMA_BASE_URI,
    SchemaRegistry,
    SchemaRegistryError,
    UnknownSchemaError,
    Violation,
    json_pointer,
    load_registry,
    schema_directory,
)

CATALOG = load_catalog()
JSON_TOPICS = [
    t
    for t in CATALOG.topics
    if t.content_type is ContentType.JSON and str(t.schema_ref).startswith(SCHEMA_BASE_URI)
]
TOPIC_SCHEMA_IDS = sorted({t.schema_ref for t in JSON_TOPICS if t.schema_ref})
CORE = ["Alert", "DateTime", "Localization", "Event", "Reporter"]
GWALERT = SCHEMA_BASE_URI + "igwn/gwalert.schema.json"
HEARTBEAT = SCHEMA_BASE_URI + "skyalert/heartbeat.schema.json"
DEAD_LETTER = SCHEMA_BASE_URI + "skyalert/dead_letter.schema.json"


def walk(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from walk(entry, f"{prefix}{entry.name}/")
        else:
            yield f"{prefix}{entry.name}", entry


FILES = dict(sorted(walk(schema_directory())))
SCHEMA_FILES = {rel: f for rel, f in FILES.items() if rel.endswith(".schema.json")}
EXAMPLE_FILES = {
    rel.removeprefix("examples/").removesuffix(".example.json"): f
    for rel, f in FILES.items()
    if rel.startswith("examples/")
}


def read(entry: Traversable) -> Any:
    return json.loads(entry.read_text("utf-8"))


def example(topic: str) -> dict[str, Any]:
    doc = read(EXAMPLE_FILES[topic])
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return load_registry()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


# ---------------------------------------------------------------- the schema files


def test_every_file_is_a_schema_or_an_example() -> None:
    assert FILES, "no packaged json/ folder found"
    for rel in FILES:
        assert rel.endswith(".schema.json") or (
            rel.startswith("examples/") and rel.endswith(".example.json")
        ), rel


@pytest.mark.parametrize("rel", SCHEMA_FILES)
def test_schema_is_valid_draft_2020_12(rel: str) -> None:
    schema = read(SCHEMA_FILES[rel])
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == DIALECT
    assert schema["$id"] == SCHEMA_BASE_URI + rel
    assert schema["title"].strip()
    assert schema["description"].strip()
    assert schema["type"] == "object"


def test_registry_holds_every_schema_file(registry: SchemaRegistry) -> None:
    assert registry.ids == {SCHEMA_BASE_URI + rel for rel in SCHEMA_FILES}
    assert load_registry() is registry


# ---------------------------------------------------------------- catalog ↔ schemas ↔ examples


@pytest.mark.parametrize("topic", JSON_TOPICS, ids=lambda t: t.name)
def test_json_topic_schema_resolves_and_has_an_example_file(
    registry: SchemaRegistry, topic: Any
) -> None:
    assert topic.schema_ref in registry
    resolved = registry.registry.resolver().lookup(topic.schema_ref)
    assert resolved.contents["$id"] == topic.schema_ref
    assert topic.name in EXAMPLE_FILES


@pytest.mark.parametrize("schema_id", TOPIC_SCHEMA_IDS)
def test_inline_examples_validate(registry: SchemaRegistry, schema_id: str) -> None:
    examples = registry.schema(schema_id).get("examples")
    assert isinstance(examples, list)
    assert examples
    for document in examples:
        assert registry.violations(schema_id, document) == []


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_file_validates_against_its_topic(registry: SchemaRegistry, name: str) -> None:
    topic = CATALOG.get(name)
    assert topic is not None, f"examples/{name}.example.json names no catalog topic"
    assert topic.schema_ref is not None
    document = example(name)
    assert document.get("$schema", topic.schema_ref) == topic.schema_ref
    assert registry.violations(topic.schema_ref, document) == []
    assert registry.validator(topic.schema_ref).is_valid(document)


def test_every_topic_schema_has_an_example_file() -> None:
    covered = {CATALOG.by_name[name].schema_ref for name in EXAMPLE_FILES}
    assert covered == set(TOPIC_SCHEMA_IDS)


# ---------------------------------------------------------------- violations


def test_gwalert_event_may_be_null_only_in_a_retraction(registry: SchemaRegistry) -> None:
    document = example("igwn.gwalert")
    document["event"] = None
    assert [v.path for v in registry.violations(GWALERT, document)] == ["/event"]
    document["alert_type"] = "retraction"
    assert registry.violations(GWALERT, document) == []


def test_mission_is_fixed_per_topic(registry: SchemaRegistry) -> None:
    document = example("igwn.gwalert")
    document["mission"] = "Swift"
    assert [v.path for v in registry.violations(GWALERT, document)] == ["/mission"]


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2024-06-15T12:00:00Z", True),
        ("2024-06-15T12:00:00.123456789Z", True),
        ("2024-06-15T12:00:00+00:00", True),
        ("2024-06-15T14:00:00+02:00", False),  # not UTC
        ("2024-02-30T12:00:00Z", False),  # no such day: only the format check sees it
        ("2024-06-15 12:00:00Z", False),
        ("yesterday", False),
        (1718452800, False),
    ],
)
def test_datetimes_are_utc_and_format_checked(
    registry: SchemaRegistry, value: object, valid: bool
) -> None:
    violations = registry.violations(HEARTBEAT, {"alert_datetime": value})
    assert (violations == []) is valid
    assert all(v.path == "/alert_datetime" for v in violations)


def test_format_checking_is_on(registry: SchemaRegistry) -> None:
    validator = registry.validator(HEARTBEAT)
    assert isinstance(validator, Draft202012Validator)
    assert validator.format_checker is not None
    assert registry.violations(
        HEARTBEAT, {"alert_datetime": "2024-06-15T12:00:00Z", "$schema": "no uri"}
    )


def test_violation_is_a_frozen_value() -> None:
    violation = Violation(path="/ra", message="too big")
    with pytest.raises(dataclasses.FrozenInstanceError):
        violation.path = "/dec"  # type: ignore[misc]  # assigning is the mistake under test
    assert violation == Violation("/ra", "too big")
    assert sorted([Violation("/b", "x"), Violation("", "y")])[0].path == ""


def test_json_pointer_escaping() -> None:
    assert json_pointer([]) == ""
    assert json_pointer(["a/b", "m~n", 0, ""]) == "/a~1b/m~0n/0/"


def test_dead_letter_envelope_carries_violations(registry: SchemaRegistry) -> None:
    original = json.dumps({"alert_type": "initial", "ra": 400}).encode()
    violations = registry.violations(GWALERT, json.loads(original))
    assert violations
    envelope = {
        "topic": "igwn.gwalert",
        "reason": "schema_violation",
        "violations": [dataclasses.asdict(v) for v in violations],
        "producer": "swift-pipeline",
        "received_at": "2024-06-15T12:00:00.5Z",
        "original_base64": base64.b64encode(original).decode(),
    }
    assert registry.violations(DEAD_LETTER, envelope) == []
    assert envelope["original_base64"] == base64.b64encode(original).decode()
    envelope["violations"] = [{"path": "ra", "message": "bad"}]
    envelope["original_base64"] = "not base64!"
    assert [v.path for v in registry.violations(DEAD_LETTER, envelope)] == [
        "/original_base64",
        "/violations/0/path",
    ]


# ---------------------------------------------------------------- the registry itself


def test_unknown_schema_id_is_a_clear_error(registry: SchemaRegistry) -> None:
    with pytest.raises(UnknownSchemaError, match="no-such"):
        registry.violations("https://schemas.skyalert.org/v1/no-such.schema.json", {})
    with pytest.raises(LookupError):
        registry.validator("no-such")


def _schema(schema_id: str, **body: Any) -> dict[str, Any]:
    return {"$schema": DIALECT, "$id": schema_id, "type": "object", **body}


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize(
    "ref",
    [
        "https://elsewhere.example/other.schema.json",
        "../core/Missing.schema.json",
        "#/$defs/missing",
        "https://json-schema.org/draft/2020-12/nothing-here",
    ],
)
def test_unknown_reference_fails_clearly_without_network(ref: str) -> None:
    schema = _schema(
        SCHEMA_BASE_URI + "test/a.schema.json", properties={"x": {"items": {"$ref": ref}}}
    )
    with pytest.raises(SchemaRegistryError, match="does not resolve") as raised:
        SchemaRegistry([schema])
    assert ref in str(raised.value)
    assert "test/a.schema.json" in str(raised.value)


@pytest.mark.usefixtures("no_network")
def test_validators_never_fetch_unknown_references(registry: SchemaRegistry) -> None:
    validator = Draft202012Validator(
        {"$ref": "https://elsewhere.example/x.schema.json"}, registry=registry.registry
    )
    with pytest.raises(Unresolvable):
        validator.validate({})


def test_references_between_registered_schemas_resolve() -> None:
    base = SCHEMA_BASE_URI + "test/"
    registry = SchemaRegistry(
        [
            _schema(base + "a.schema.json", properties={"b": {"$ref": "sub/b.schema.json"}}),
            _schema(base + "sub/b.schema.json", properties={"n": {"type": "integer"}}),
        ]
    )
    assert registry.violations(base + "a.schema.json", {"b": {"n": "one"}}) == [
        Violation("/b/n", "'one' is not of type 'integer'")
    ]


def test_invalid_schemas_are_refused() -> None:
    sid = SCHEMA_BASE_URI + "test/a.schema.json"
    with pytest.raises(SchemaRegistryError, match="not a valid JSON Schema"):
        SchemaRegistry([_schema(sid, properties={"x": {"type": "nope"}})])
    with pytest.raises(SchemaRegistryError, match=r"\$schema must be"):
        SchemaRegistry([{**_schema(sid), "$schema": "http://json-schema.org/draft-07/schema#"}])
    with pytest.raises(SchemaRegistryError, match="share the"):
        SchemaRegistry([_schema(sid), _schema(sid)])
    with pytest.raises(SchemaRegistryError, match=r"no \$id"):
        SchemaRegistry([{"$schema": DIALECT}])


def test_from_directory_checks_ids_against_paths(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.schema.json").write_text(
        json.dumps(_schema(SCHEMA_BASE_URI + "x/a.schema.json")),
        "utf-8",
    )
    (tmp_path / "x" / "a.example.json").write_text("not even json", "utf-8")
    assert SchemaRegistry.from_directory(tmp_path).ids == {SCHEMA_BASE_URI + "x/a.schema.json"}
    (tmp_path / "b.schema.json").write_text(json.dumps(_schema(SCHEMA_BASE_URI + "c.json")))
    with pytest.raises(SchemaRegistryError, match=r"b\.schema\.json has \$id"):
        SchemaRegistry.from_directory(tmp_path)
    (tmp_path / "b.schema.json").write_text("{", "utf-8")
    with pytest.raises(SchemaRegistryError, match="not valid JSON"):
        SchemaRegistry.from_directory(tmp_path)


def test_registry_does_not_share_state_with_callers(registry: SchemaRegistry) -> None:
    document = example("igwn.gwalert")
    before = copy.deepcopy(document)
    registry.violations(GWALERT, document)
    assert document == before
