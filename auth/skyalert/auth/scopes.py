"""Groups and the scopes they give (the names are a contract every service relies on).

- ``consumers.public`` (every account) gives ``read:public``;
- ``producers.<namespace>`` gives ``publish:<namespace>``;
- a restricted topic's ``consumer_group`` (e.g. ``restricted.lvk_early``) gives ``read:<group>``;
- ``skyalert.operators`` gives ``publish:skyalert`` and ``read:skyalert.operators``
  (the heartbeat and the dead-letter topic);
- ``circular-submitter`` gives ``circular:submit`` (GCN Circulars), ``circular-moderator``
  gives ``circular:moderate`` (corrections);
- ``admins`` gives ``admin``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from skyalert.schemas.catalog import Catalog, Topic, Visibility

PUBLIC_GROUP = "consumers.public"
ADMIN_GROUP = "admins"
OPERATORS_GROUP = "skyalert.operators"
PRODUCER_PREFIX = "producers."
CIRCULAR_SUBMITTERS = "circular-submitter"
CIRCULAR_MODERATORS = "circular-moderator"

READ_PUBLIC = "read:public"
ADMIN = "admin"
CIRCULAR_SUBMIT = "circular:submit"
CIRCULAR_MODERATE = "circular:moderate"
#: Groups that exist whatever the catalog says, and the one scope each gives.
FIXED_GROUPS = {
    ADMIN_GROUP: ADMIN,
    CIRCULAR_SUBMITTERS: CIRCULAR_SUBMIT,
    CIRCULAR_MODERATORS: CIRCULAR_MODERATE,
}
#: OpenID Connect scopes a user may grant a third-party app (authorization code flow only).
OIDC_SCOPES = frozenset({"openid", "email", "profile"})


def publish_scope(namespace: str) -> str:
    return f"publish:{namespace}"


def read_scope(group: str) -> str:
    return f"read:{group}"


def topic_read_scope(topic: Topic) -> str:
    """The scope that reads ``topic``: ``read:public``, or ``read:<group>`` if restricted."""
    if topic.visibility is Visibility.PUBLIC:
        return READ_PUBLIC
    return read_scope(topic.consumer_group or "")


def may_read(scopes: Collection[str], topic: Topic) -> bool:
    """The one read rule, for tokens, Kafka ACLs and mail: ``admin`` or the topic's read scope."""
    return ADMIN in scopes or topic_read_scope(topic) in scopes


def may_publish(scopes: Collection[str], topic: Topic) -> bool:
    return publish_scope(topic.namespace) in scopes


def scopes_of_group(group: str, catalog: Catalog) -> frozenset[str]:
    """The scopes a member of ``group`` holds; empty for a group unknown to the catalog."""
    scopes: set[str] = set()
    if group == PUBLIC_GROUP:
        scopes.add(READ_PUBLIC)
    if group in FIXED_GROUPS:
        scopes.add(FIXED_GROUPS[group])
    for topic in catalog.topics:
        if topic.producer_group == group:
            scopes.add(publish_scope(topic.namespace))
        if topic.consumer_group == group:
            scopes.add(read_scope(group))
    return frozenset(scopes)


def scopes_of_groups(groups: Iterable[str], catalog: Catalog) -> frozenset[str]:
    held: set[str] = set()
    for group in groups:
        held |= scopes_of_group(group, catalog)
    return frozenset(held)


def known_groups(catalog: Catalog) -> frozenset[str]:
    """Every group an admin can grant: the fixed ones plus those the catalog names."""
    groups = {PUBLIC_GROUP, *FIXED_GROUPS}
    for topic in catalog.topics:
        groups.add(topic.producer_group)
        if topic.consumer_group is not None:
            groups.add(topic.consumer_group)
    return frozenset(groups)


def known_scopes(catalog: Catalog) -> frozenset[str]:
    return scopes_of_groups(known_groups(catalog), catalog)
