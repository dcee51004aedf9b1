"""A test-only listener standing in for a Kafka cluster without authentication.

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


def grant_anonymous(settings: Settings) -> None:
    """Every topic and group to the anonymous principal (only the OPEN listener has it)."""
    bindings = [
        AclBinding(
            resource,
            "*",
            ResourcePatternType.LITERAL,
            ANONYMOUS,
            "*",
            operation,
            AclPermissionType.ALLOW,
        )
        for resource, operation in GRANTS
    ]
    admin = AdminClient(admin_config(settings))
    for future in admin.create_acls(bindings).values():
        future.result(30)
