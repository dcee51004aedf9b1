"""Consumer groups: a warning before joining one that others already read with.

Kafka splits a topic's partitions among a group's members, so two programs sharing a group
each miss the alerts the other gets. Saying so before joining is cheap (one DescribeGroups
request, allowed by the READ permission a credential holds on its own groups).
"""

from __future__ import annotations

__all__ = ["members_of", "warn_if_shared"]

import logging
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

log = logging.getLogger(__name__)

#: confluent-kafka's Python-side callbacks an admin client refuses or must not share.
_CONSUMER_ONLY = ("on_commit", "error_cb")
DESCRIBE_TIMEOUT = 10.0


def members_of(config: Mapping[str, Any], group_id: str) -> int | None:
    """How many members ``group_id`` has now (None: Kafka did not say)."""
    admin_config = {k: v for k, v in config.items() if k not in _CONSUMER_ONLY}
    try:
        admin = AdminClient(admin_config)
        future = admin.describe_consumer_groups([group_id], request_timeout=DESCRIBE_TIMEOUT)
        description = future[group_id].result(timeout=DESCRIBE_TIMEOUT)
    except (KafkaException, TimeoutError, ValueError) as exc:
        log.debug("could not describe consumer group %s: %s", group_id, exc)
        return None
    return len(description.members)


def warn_if_shared(config: Mapping[str, Any], group_id: str) -> None:
    others = members_of(config, group_id)
    if others:
        log.warning(
            "consumer group %s already has %d other member%s: Kafka splits the alerts between "
            "you, so each misses some. To get every alert here, use a group id of your own "
            "(starting with your client id), e.g. --group-id / group_id=%r",
            group_id,
            others,
            "" if others == 1 else "s",
            f"{group_id}.2",
        )
