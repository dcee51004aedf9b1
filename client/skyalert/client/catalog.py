"""The server's topic catalog (``GET /api/v1/topics``): names, formats and who may read them."""

from __future__ import annotations

__all__ = ["Catalog", "TopicInfo", "check_topics", "fetch_catalog"]

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from skyalert.client.alert import BINARY, JSON, TEXT, VOEVENT
from skyalert.client.discovery import Discovery, cached_json
from skyalert.client.errors import DiscoveryError, UnknownTopicError

#: Seconds a cached catalog is trusted; an unknown name always triggers one fresh look.
CATALOG_TTL = 300.0


@dataclass(frozen=True)
class TopicInfo:
    """One catalog entry, as the client needs it."""

    name: str
    title: str
    content_type: str
    visibility: str
    namespace: str
    consumer_group: str | None = None
    role: str = "alerts"
    mission: str = ""
    description: str = ""

    @property
    def read_scope(self) -> str:
        """The scope a credential needs to read this topic."""
        if self.visibility == "public" or not self.consumer_group:
            return "read:public"
        return f"read:{self.consumer_group}"

    @property
    def publish_scope(self) -> str:
        return f"publish:{self.namespace}"

    @property
    def format(self) -> str:
        names = {VOEVENT: "voevent", TEXT: "text", BINARY: "binary"}
        return names.get(self.content_type, "json")

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> TopicInfo:
        name = str(entry["name"])
        return cls(
            name=name,
            title=str(entry.get("title") or ""),
            content_type=str(entry.get("content_type") or JSON),
            visibility=str(entry.get("visibility") or "public"),
            namespace=str(entry.get("namespace") or name.split(".", 1)[0]),
            consumer_group=entry.get("consumer_group") or None,
            role=str(entry.get("role") or "alerts"),
            mission=str(entry.get("mission") or ""),
            description=str(entry.get("description") or ""),
        )


@dataclass(frozen=True)
class Catalog:
    topics: tuple[TopicInfo, ...]

    def get(self, name: str) -> TopicInfo | None:
        return next((t for t in self.topics if t.name == name), None)

    def closest(self, name: str, n: int = 3) -> list[str]:
        return difflib.get_close_matches(name, [t.name for t in self.topics], n=n, cutoff=0.8)

    def unknown(self, names: Iterable[str]) -> list[str]:
        known = {t.name for t in self.topics}
        return [name for name in names if name not in known]


def fetch_catalog(discovery: Discovery, *, refresh: bool = False) -> Catalog:
    document = cached_json(discovery.catalog_url, ttl=CATALOG_TTL, refresh=refresh)
    entries = document.get("topics") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise DiscoveryError(f"{discovery.catalog_url} did not answer with a topic catalog")
    try:
        return Catalog(tuple(TopicInfo.from_json(entry) for entry in entries))
    except (KeyError, TypeError, AttributeError):
        raise DiscoveryError(f"{discovery.catalog_url} lists a topic without a name") from None


def check_topics(discovery: Discovery, names: Iterable[str]) -> Catalog:
    """The catalog, after making sure every name is in it (asking the server again if not)."""
    wanted = list(names)
    catalog = fetch_catalog(discovery)
    if catalog.unknown(wanted):
        catalog = fetch_catalog(discovery, refresh=True)
    missing = catalog.unknown(wanted)
    if missing:
        name = missing[0]
        close = catalog.closest(name)
        hint = f"did you mean {' or '.join(close)}?" if close else "see `skyalert-client topics`"
        raise UnknownTopicError(
            f"{discovery.server} has no topic named {name!r}; {hint}", name, close
        )
    return catalog
