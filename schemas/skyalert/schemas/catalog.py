"""The topic catalog: every Kafka topic skyalert serves, kept as data in ``catalog.json`` and,
for GCN Classic's notice types, in ``classic/notice_types.json``.

GCN's JSON topics carry GCN's names: those GCN's quickstart lists (gcn.nasa.gov source,
app/components/NoticeTypeCheckboxes/NoticeTypeCheckboxes.tsx, ``JsonNoticeTypes``: circulars,
IceCube, Swift, DSA-110, Einstein Probe, Super-Kamiokande, and behind feature flags
``gcn.notices.fermi.gbm``, ``gcn.notices.svom``, ``gcn.notices.chime.alert``,
``gcn.notices.km3net``; ``gcn.notices.icecube.gold_bronze_track_alerts`` from its rates.ts);
for the other schemas of ``@nasa-gcn/schema`` the package's ``gcn/notices/<mission>/…`` layout
under GCN's naming rule ``gcn.notices.<mission>[.<instrument>].<type>``
(gcn.nasa.gov/docs/notices/producers, step 2).
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from functools import cached_property
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from skyalert.schemas.classic import types as classic
from skyalert.schemas.formats import ContentType, format_named

#: ``<namespace>.<kind>.<mission>[.<instrument>].<type>`` in lower case, as GCN names them; the
#: last part keeps GCN's case (``gcn.classic.voevent.FERMI_GBM_FLT_POS``).
TOPIC_NAME = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*\.[A-Za-z0-9_]+$")


class Visibility(StrEnum):
    PUBLIC = "public"
    RESTRICTED = "restricted"


class Role(StrEnum):
    """What a topic is for: alerts for subscribers, or plumbing of the broker itself."""

    ALERTS = "alerts"
    #: GCN Circulars: read like alerts, written only by skyalert's circulars service.
    CIRCULARS = "circulars"
    HEARTBEAT = "heartbeat"
    DEAD_LETTER = "dead_letter"


class Topic(BaseModel):
    """One catalog entry. Kafka settings (partitions, retention) are applied by ``topics sync``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    title: str
    description: str
    mission: str
    instrument: str | None = None
    messenger: str = Field(description="electromagnetic, gravitational waves, neutrinos, …")
    content_type: ContentType
    schema_ref: str | None = Field(
        default=None,
        description="`$id` of one of our JSON Schemas, or the path of a schema in NASA's GCN "
        "schema package (resolved against the configured release); None for VOEvent topics",
    )
    partitions: int = Field(default=1, ge=1, le=64)
    retention_ms: int = Field(default=7 * 24 * 3600 * 1000, ge=60_000)
    visibility: Visibility = Visibility.PUBLIC
    #: Admins grant this group to publishers; its members may produce to the topic.
    producer_group: str
    #: For restricted topics: the group whose members may read.
    consumer_group: str | None = None
    role: Role = Role.ALERTS

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not TOPIC_NAME.match(name):
            raise ValueError(f"topic name {name!r} is not <namespace>.<kind>.<…>.<type>")
        return name

    @model_validator(mode="after")
    def _check_consistency(self) -> Topic:
        if self.content_type is ContentType.JSON and self.schema_ref is None:
            raise ValueError(f"JSON topic {self.name} needs a schema_ref")
        if self.visibility is Visibility.RESTRICTED and self.consumer_group is None:
            raise ValueError(f"restricted topic {self.name} needs a consumer_group")
        return self

    @property
    def namespace(self) -> str:
        return self.name.split(".", 1)[0]

    def kafka_config(self) -> dict[str, str]:
        """The topic-level Kafka configuration that ``topics sync`` keeps in place."""
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": "delete"}


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    topics: tuple[Topic, ...]

    @model_validator(mode="after")
    def _check_unique(self) -> Catalog:
        names = [t.name for t in self.topics]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"topics listed twice: {', '.join(duplicates)}")
        for role in (Role.HEARTBEAT, Role.DEAD_LETTER):
            if sum(t.role is role for t in self.topics) != 1:
                raise ValueError(f"the catalog needs exactly one {role.value} topic")
        return self

    @cached_property
    def by_name(self) -> dict[str, Topic]:
        return {t.name: t for t in self.topics}

    def get(self, name: str) -> Topic | None:
        return self.by_name.get(name)

    @property
    def heartbeat(self) -> Topic:
        return next(t for t in self.topics if t.role is Role.HEARTBEAT)

    @property
    def dead_letter(self) -> Topic:
        return next(t for t in self.topics if t.role is Role.DEAD_LETTER)

    @property
    def alert_topics(self) -> tuple[Topic, ...]:
        """The topics subscribers read: alerts and circulars."""
        return tuple(t for t in self.topics if t.role in (Role.ALERTS, Role.CIRCULARS))


def load_catalog(path: Path | None = None) -> Catalog:
    """Read the catalog (the packaged ``catalog.json`` unless a path is given), followed by every
    GCN Classic notice type in each of its flavors."""
    if path is None:
        text = resources.files("skyalert.schemas").joinpath("catalog.json").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    data = json.loads(text)
    for flavor in classic.FLAVORS:
        content_type = format_named(flavor).content_type.value
        data["topics"].extend(classic.topic_entries(flavor, content_type))
    return Catalog.model_validate(data)
