"""Who is calling, and what they may do: the one object every service authorizes against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from skyalert.auth.scopes import ADMIN, READ_PUBLIC, publish_scope, read_scope
from skyalert.schemas.catalog import Topic, Visibility


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a credential's token, a user-delegated token or a portal login.

    ``scopes`` are the effective ones: what the token asked for, cut down to what the user
    and the credential still hold right now.
    """

    subject: str
    user_id: int
    email: str
    client_id: str | None
    scopes: frozenset[str]
    token_id: str | None
    expires_at: datetime | None

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    def may_read(self, topic: Topic) -> bool:
        return scopes_may_read(self.scopes, topic)

    def may_publish(self, topic: Topic) -> bool:
        return scopes_may_publish(self.scopes, topic)


def scopes_may_read(scopes: frozenset[str], topic: Topic) -> bool:
    """The topic access rule, for callers that hold scopes without a token (e.g. VTP ranges)."""
    if ADMIN in scopes:
        return True
    if topic.visibility is Visibility.PUBLIC:
        return READ_PUBLIC in scopes
    return topic.consumer_group is not None and read_scope(topic.consumer_group) in scopes


def scopes_may_publish(scopes: frozenset[str], topic: Topic) -> bool:
    return publish_scope(topic.namespace) in scopes
