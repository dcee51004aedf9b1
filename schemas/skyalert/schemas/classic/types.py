"""GCN Classic notice types (names, packet numbers, missions), kept in ``notice_types.json``.

GCN Classic over Kafka carries each type in three flavors, as ``gcn.classic.<flavor>.<NAME>``;
the sources of every name and number are cited in the data file itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

FLAVORS = ("voevent", "text", "binary")
NAMESPACE = "gcn.classic"
FLAVOR_LABELS = {"voevent": "VOEvent 2.0 XML", "text": "text", "binary": "160-byte binary"}
#: Truncated Julian Day 0 is MJD 40000 (1968-05-24): sock_pkt_def_doc.html, "TJD".
TJD_EPOCH = datetime(1968, 5, 24, tzinfo=UTC)


@dataclass(frozen=True)
class NoticeType:
    """One GCN Classic notice type, e.g. ``SWIFT_BAT_GRB_POS_ACK`` = packet type 61."""

    name: str
    number: int
    mission: str
    messenger: str = "electromagnetic"
    #: The group whose members may read it, for restricted types (LVK early warnings).
    consumer_group: str | None = None
    #: Words 7, 8 and 11 of its binary packet are burst_ra, burst_dec and burst_error.
    position_packet: bool = False

    @property
    def test(self) -> bool:
        """GCN's test types (``*_TEST``, ``TEST_COORDS``) carry test notices only."""
        return self.name.endswith("_TEST") or self.name.startswith("TEST_")

    def topic(self, flavor: str) -> str:
        return f"{NAMESPACE}.{flavor}.{self.name}"


@cache
def notice_types() -> tuple[NoticeType, ...]:
    """Every GCN Classic notice type that GCN offers over Kafka, by packet number."""
    text = resources.files(__package__).joinpath("notice_types.json").read_text("utf-8")
    data = json.loads(text)
    restricted: dict[str, str] = data["restricted"]
    positions = set(data["position_packets"])
    return tuple(
        NoticeType(
            name=entry["name"],
            number=entry["number"],
            mission=entry["mission"],
            messenger=entry.get("messenger", "electromagnetic"),
            consumer_group=restricted.get(entry["name"]),
            position_packet=entry["name"] in positions,
        )
        for entry in data["types"]
    )


@cache
def by_number() -> dict[int, NoticeType]:
    return {t.number: t for t in notice_types()}


@cache
def _by_name() -> dict[str, NoticeType]:
    return {t.name: t for t in notice_types()}


def of_topic(topic: str) -> NoticeType | None:
    """The notice type a ``gcn.classic.<flavor>.<NAME>`` topic carries, or None.

    Only the kind (``classic``) and flavor are checked before the name, so that a copy of the
    catalog under another namespace (as tests make) keeps its notice types.
    """
    *_, kind, flavor, name = ["", "", "", *topic.split(".")]
    if kind != "classic" or flavor not in FLAVORS:
        return None
    return _by_name().get(name)


def topic_entries(flavor: str, content_type: str) -> list[dict[str, Any]]:
    """Catalog entries (see :class:`skyalert.schemas.catalog.Topic`) of one flavor."""
    return [_entry(t, flavor, content_type) for t in notice_types()]


def _entry(notice: NoticeType, flavor: str, content_type: str) -> dict[str, Any]:
    form = FLAVOR_LABELS[flavor]
    restricted = notice.consumer_group is not None
    return {
        "name": notice.topic(flavor),
        "title": f"{notice.name} ({form})" + (" (restricted)" if restricted else ""),
        "description": (
            f"GCN Classic notice type {notice.number} ({notice.name}) from {notice.mission}, "
            f"in its GCN Classic {form} form, under GCN's own topic name."
            + (f" Restricted to the group {notice.consumer_group}." if restricted else "")
        ),
        "mission": notice.mission,
        "messenger": notice.messenger,
        "content_type": content_type,
        "retention_ms": 14 * 24 * 3600 * 1000,
        "visibility": "restricted" if restricted else "public",
        "producer_group": "producers.gcn",
        "consumer_group": notice.consumer_group,
    }


def tjd_time(tjd: int, seconds_of_day: float) -> str:
    """ISO 8601 UTC (milliseconds, ``Z``) of a Truncated Julian Day and UT seconds of day."""
    when = TJD_EPOCH + timedelta(days=tjd, seconds=seconds_of_day)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
