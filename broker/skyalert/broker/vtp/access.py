"""Who may use the VTP ports: subscriber address ranges, author bindings, topics by IVORN.

VTP has no handshake that could carry a token, so access is by address range (as GCN Classic
granted it): a subscriber gets what the most specific range holding its address grants, and an
author's range names the producer credential its VOEvents are published as.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import TypeVar

from sqlalchemy.orm import Session

from skyalert.auth.credentials import effective_scopes, find_credential
from skyalert.auth.scopes import PUBLIC_GROUP, known_groups, may_read, scopes_of_groups
from skyalert.auth.users import scopes_of_user
from skyalert.broker.core.errors import ConfigError
from skyalert.broker.core.settings import VtpRange
from skyalert.broker.livefeed.protocol import StreamRequestError, resolve_topics
from skyalert.client.filters import Filter, FilterError, compile_filter
from skyalert.schemas.catalog import Catalog
from skyalert.schemas.formats import ContentType

Address = IPv4Address | IPv6Address
V = TypeVar("V")


@dataclass(frozen=True)
class Grant:
    """What one subscriber range receives."""

    network: str
    topics: frozenset[str]
    filter: Filter


def peer_address(host: str) -> Address:
    """The peer's address; an IPv4-mapped IPv6 address counts as the IPv4 one."""
    address = ip_address(host.split("%", 1)[0])
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def most_specific(address: Address, networks: dict[str, V]) -> V | None:
    """The value of the narrowest range holding ``address``; None if none does."""
    holding = [
        (ip_network(network).prefixlen, value)
        for network, value in networks.items()
        if address in ip_network(network)
    ]
    return max(holding, key=lambda pair: pair[0])[1] if holding else None


class SubscriberPolicy:
    """The subscriber ranges, checked against the catalog once at start-up."""

    def __init__(self, ranges: list[VtpRange], catalog: Catalog) -> None:
        self.grants = {
            str(entry.network): _grant(position, entry, catalog)
            for position, entry in enumerate(ranges)
        }

    def grant_for(self, address: Address) -> Grant | None:
        return most_specific(address, self.grants)


def _grant(position: int, entry: VtpRange, catalog: Catalog) -> Grant:
    where = f"SKYALERT_VTP_SUBSCRIBERS[{position}] ({entry.network})"
    unknown = sorted(set(entry.groups) - known_groups(catalog))
    if unknown:
        raise ConfigError(f"{where}: unknown group(s) {', '.join(unknown)}; see the catalog")
    scopes = scopes_of_groups([PUBLIC_GROUP, *entry.groups], catalog)
    try:
        topics = resolve_topics(list(entry.topics), catalog, functools.partial(may_read, scopes))
        compiled = compile_filter(entry.filter)
    except (StreamRequestError, FilterError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    voevent = frozenset(
        name for name in topics if catalog.by_name[name].content_type is ContentType.VOEVENT
    )
    if not voevent:
        raise ConfigError(f"{where}: none of {list(entry.topics)} is a VOEvent topic")
    return Grant(str(entry.network), voevent, compiled)


def topic_for(ivorn: str, topics: dict[str, str]) -> str | None:
    """The topic of the longest IVORN prefix that ``ivorn`` starts with."""
    prefixes = [prefix for prefix in topics if ivorn.startswith(prefix)]
    return topics[max(prefixes, key=len)] if prefixes else None


def author_scopes(session: Session, client_id: str, catalog: Catalog) -> frozenset[str]:
    """What the bound credential may do now: nothing once deleted or its owner disabled."""
    credential = find_credential(session, client_id)
    if credential is None or credential.user.disabled:
        return frozenset()
    return effective_scopes(credential, scopes_of_user(session, credential.user.id, catalog))
