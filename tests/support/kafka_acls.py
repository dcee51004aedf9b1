"""ACLs the tests grant beyond skyalert's own: the OPEN listener's, an operator's principal.

A test-only listener stands in for a Kafka cluster without authentication.

The client supports clusters whose discovery says PLAINTEXT (no login, no ACLs on the client's
side); its tests need one. The test broker therefore has an ``OPEN`` PLAINTEXT listener where
the anonymous principal may read and write topics and use any group, and nothing else: no
cluster or ACL operations, unlike the super user the local stack's services' listener used to
hand out. ``skyalert up`` never opens such a listener.
"""

from __future__ import annotations

from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.config import admin_config

OPEN = "OPEN"
ANONYMOUS = "User:ANONYMOUS"

GRANTS = [
    (ResourceType.TOPIC, AclOperation.READ),
    (ResourceType.TOPIC, AclOperation.WRITE),
    (ResourceType.TOPIC, AclOperation.DESCRIBE),
    (ResourceType.GROUP, AclOperation.READ),
]


#: Everything, as a super user has it (``super.users`` is our services' alone).
EVERYTHING = [
    (ResourceType.TOPIC, AclOperation.ALL),
    (ResourceType.GROUP, AclOperation.ALL),
    (ResourceType.TRANSACTIONAL_ID, AclOperation.ALL),
    (ResourceType.BROKER, AclOperation.ALL),
]


def grant_anonymous(settings: Settings) -> None:
    """Every topic and group to the anonymous principal (only the OPEN listener has it)."""
    grant(settings, ANONYMOUS, GRANTS)


def grant(
    settings: Settings, principal: str, grants: list[tuple[ResourceType, AclOperation]]
) -> None:
    """``grants`` on every resource of each type (``kafka-cluster`` for the cluster itself)."""
    bindings = [
        AclBinding(
            resource,
            "kafka-cluster" if resource is ResourceType.BROKER else "*",
            ResourcePatternType.LITERAL,
            principal,
            "*",
            operation,
            AclPermissionType.ALLOW,
        )
        for resource, operation in grants
    ]
    admin = AdminClient(admin_config(settings))
    for future in admin.create_acls(bindings).values():
        future.result(30)
