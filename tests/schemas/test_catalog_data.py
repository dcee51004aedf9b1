"""The packaged topic catalog (catalog.json): contents and conventions."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest
from pydantic import ValidationError

from skyalert.schemas.catalog import (
    TOPIC_NAME,
    Catalog,
    Role,
    Topic,
    Visibility,
    load_catalog,
)
from skyalert.schemas.formats import ContentType
from skyalert.schemas.validation import SCHEMA_BASE_URI

DAY_MS = 24 * 3600 * 1000
CATALOG = load_catalog()
MESSENGERS = {"electromagnetic", "gravitational waves", "neutrinos", "multi-messenger"}
REQUIRED_TOPICS = {
    "gcn.notices.swift.bat.guano",
    "gcn.notices.einstein_probe.wxt.alert",
    "gcn.notices.icecube.lvk_nu_track_search",
    "igwn.gwalert",
    "gcn.notices.dsa110.frb",
    "gcn.notices.superk.sn_alert",
    "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",
    "gcn.classic.voevent.SWIFT_XRT_POSITION",
    "gcn.classic.voevent.FERMI_GBM_FLT_POS",
    "gcn.classic.voevent.FERMI_GBM_GND_POS",
    "gcn.classic.voevent.ICECUBE_ASTROTRACK_GOLD",
    "gcn.classic.voevent.LVC_PRELIMINARY",
    "skyalert.heartbeat",
    "skyalert.dead_letter",
}


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


@pytest.fixture
def raw_catalog() -> dict[str, list[dict[str, object]]]:
    text = resources.files("skyalert.schemas").joinpath("catalog.json").read_text("utf-8")
    data = json.loads(text)
    assert isinstance(data, dict)
    return data


def test_catalog_and_schemas_are_package_data() -> None:
    package = resources.files("skyalert.schemas")
    assert package.joinpath("catalog.json").is_file()
    assert package.joinpath("json", "core", "Alert.schema.json").is_file()
    assert package.joinpath("json", "examples").is_dir()


def test_catalog_loads_with_enough_alert_topics() -> None:
    assert isinstance(CATALOG, Catalog)
    assert len(CATALOG.alert_topics) >= 15


def test_required_topics_are_present() -> None:
    missing = REQUIRED_TOPICS - set(CATALOG.by_name)
    assert not missing, f"missing topics: {sorted(missing)}"


def test_exactly_one_heartbeat_topic() -> None:
    heartbeats = [t for t in CATALOG.topics if t.role is Role.HEARTBEAT]
    assert len(heartbeats) == 1
    heartbeat = CATALOG.heartbeat
    assert heartbeat.name == "skyalert.heartbeat"
    assert heartbeat.content_type is ContentType.JSON
    assert heartbeat.schema_ref == SCHEMA_BASE_URI + "skyalert/heartbeat.schema.json"
    assert heartbeat.producer_group == "skyalert.operators"
    assert heartbeat.retention_ms == 3_600_000
    assert heartbeat.partitions == 1
    assert heartbeat.visibility is Visibility.PUBLIC


def test_exactly_one_dead_letter_topic() -> None:
    dead_letters = [t for t in CATALOG.topics if t.role is Role.DEAD_LETTER]
    assert len(dead_letters) == 1
    dead_letter = CATALOG.dead_letter
    assert dead_letter.name == "skyalert.dead_letter"
    assert dead_letter.content_type is ContentType.JSON
    assert dead_letter.schema_ref == SCHEMA_BASE_URI + "skyalert/dead_letter.schema.json"
    assert dead_letter.producer_group == "skyalert.operators"
    assert dead_letter.retention_ms == 30 * DAY_MS


def test_names_are_unique_lower_case_and_well_formed(
    raw_catalog: dict[str, list[dict[str, object]]],
) -> None:
    names = [str(t["name"]) for t in raw_catalog["topics"]]
    assert len(names) == len(set(names)), "duplicate topic names in catalog.json"
    for name in names:
        assert name == name.lower()
        assert TOPIC_NAME.fullmatch(name), name
        assert len(name.split(".")) >= 2


@pytest.mark.parametrize("topic", CATALOG.alert_topics, ids=lambda t: t.name)
def test_alert_topic_conventions(topic: Topic) -> None:
    assert topic.producer_group == f"producers.{topic.namespace}"
    assert 7 * DAY_MS <= topic.retention_ms <= 30 * DAY_MS
    assert topic.partitions in (1, 3)
    assert topic.messenger in MESSENGERS
    assert topic.title.strip()
    assert topic.mission.strip()
    assert 1 <= len(sentences(topic.description)) <= 3, topic.description
    assert topic.description.rstrip().endswith(".")
    if topic.content_type is ContentType.JSON:
        assert topic.schema_ref is not None
        # Ours by $id; NASA's by their path in @nasa-gcn/schema (see test_gcn_schemas.py).
        assert topic.schema_ref.startswith((SCHEMA_BASE_URI, "gcn/")), topic.schema_ref
        assert topic.schema_ref.endswith(".schema.json")
    else:
        assert topic.schema_ref is None
    if topic.visibility is Visibility.RESTRICTED:
        assert topic.consumer_group is not None
        assert topic.consumer_group.startswith("restricted.")
    else:
        assert topic.consumer_group is None


def test_every_content_type_and_some_restricted_topics() -> None:
    alerts = CATALOG.alert_topics
    for content_type in ContentType:
        assert sum(t.content_type is content_type for t in alerts) >= 6, content_type
    restricted = [t for t in alerts if t.visibility is Visibility.RESTRICTED]
    # LVK early warnings: the JSON topic and GCN Classic's three flavors.
    assert {t.name for t in restricted} == {
        "igwn.early_warning.gwalert",
        *(f"gcn.classic.{flavor}.LVC_EARLY_WARNING" for flavor in ("voevent", "text", "binary")),
    }
    assert any(t.partitions == 3 for t in alerts)


def test_gravitational_wave_topic() -> None:
    topic = CATALOG.get("igwn.gwalert")
    assert topic is not None
    assert topic.mission == "LIGO/Virgo/KAGRA"
    assert topic.messenger == "gravitational waves"
    assert topic.producer_group == "producers.igwn"
    assert topic.schema_ref == SCHEMA_BASE_URI + "igwn/gwalert.schema.json"


def _write(tmp_path: Path, topics: list[dict[str, object]]) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"topics": topics}), "utf-8")
    return path


def test_loader_rejects_duplicate_names(
    tmp_path: Path, raw_catalog: dict[str, list[dict[str, object]]]
) -> None:
    topics = raw_catalog["topics"]
    path = _write(tmp_path, [*topics, topics[0]])
    with pytest.raises(ValidationError, match="listed twice"):
        load_catalog(path)


@pytest.mark.parametrize(
    "name", ["GCN.classic.voevent.SWIFT_BAT_GRB_POS_ACK", "gcn.Classic.voevent.X", "gcn"]
)
def test_loader_rejects_upper_case_before_the_last_part(
    tmp_path: Path, raw_catalog: dict[str, list[dict[str, object]]], name: str
) -> None:
    """Only the last part keeps GCN's case (``gcn.classic.voevent.FERMI_GBM_FLT_POS``)."""
    topics = [dict(t) for t in raw_catalog["topics"]]
    topics[0]["name"] = name
    with pytest.raises(ValidationError, match="topic name"):
        load_catalog(_write(tmp_path, topics))


def test_loader_rejects_a_second_heartbeat(
    tmp_path: Path, raw_catalog: dict[str, list[dict[str, object]]]
) -> None:
    topics = [dict(t) for t in raw_catalog["topics"]]
    second = next(dict(t) for t in topics if t["role"] == "heartbeat")
    second["name"] = "skyalert.heartbeat_two"
    with pytest.raises(ValidationError, match="exactly one heartbeat"):
        load_catalog(_write(tmp_path, [*topics, second]))


def test_loader_round_trips_the_packaged_file(
    tmp_path: Path, raw_catalog: dict[str, list[dict[str, object]]]
) -> None:
    assert load_catalog(_write(tmp_path, raw_catalog["topics"])) == CATALOG
