"""Who is calling, and what they may do: the one object every service authorizes against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from skyalert.auth import scopes as rules
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
        return rules.may_read(self.scopes, topic)

    def may_publish(self, topic: Topic) -> bool:
        return rules.may_publish(self.scopes, topic)


def may_view(viewer: Principal | None, topic: Topic) -> bool:
    """The archive's and the portal's rule: public topics are open data, for anyone, signed in
    or not; restricted ones for whoever may read them."""
    return topic.visibility is Visibility.PUBLIC or (viewer is not None and viewer.may_read(topic))
